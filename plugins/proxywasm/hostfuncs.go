package proxywasm

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/plugins"
)

// Host functions. Each finds its vm through the instance wazero passes
// (the vm's mu is held by the goroutine that made the call), checks every
// guest pointer (out of range is INVALID_MEMORY_ACCESS, never a panic)
// and writes a proxy_status_t. i32 arguments are read as uint32, so the
// upper bits wazero may leave in a stack slot never matter.

func vmOf(ctx context.Context) *vm {
	in := plugins.InstanceOf(ctx)
	if in == nil {
		return nil
	}
	v, _ := in.Ext().(*vm)
	return v
}

func ret(s []uint64, st status) { s[0] = api.EncodeI32(int32(st)) }

// enter returns the calling vm, or nil after answering INTERNAL_FAILURE
// (a call from an instance that is not a filter's: cannot happen).
func enter(ctx context.Context, s []uint64) *vm {
	v := vmOf(ctx)
	if v == nil {
		ret(s, stInternalFailure)
	}
	return v
}

// --- logging, clock, timers, lifecycle ---

var logLevels = [...]slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 4}

func hLog(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	lv := uint32(s[0])
	if lv >= uint32(len(logLevels)) {
		ret(s, stBadArgument)
		return
	}
	msg, ok := v.read(s[1], s[2])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	level := logLevels[lv]
	log := v.f.log
	if log.Enabled(context.Background(), level) && v.f.p.AllowLog() {
		attrs := []slog.Attr{slog.String("source", "proxy_log")}
		if v.cur != nil {
			if c := v.cur.s.Sample(); c != nil && c.Strm != nil {
				attrs = append(attrs, slog.Uint64("stream", c.Strm.ID))
			}
		}
		log.LogAttrs(context.Background(), level, string(msg), attrs...)
	}
	ret(s, stOK)
}

func hGetLogLevel(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	lv := uint32(len(logLevels) - 1)
	for i, l := range logLevels {
		if v.f.log.Enabled(context.Background(), l) {
			lv = uint32(i)
			break
		}
	}
	ret(s, v.putU32(s[0], lv))
}

func hCurrentTime(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	ret(s, v.putU64(s[0], uint64(time.Now().UnixNano())))
}

func hSetTickPeriod(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	v.setTick(time.Duration(uint32(s[0])) * time.Millisecond)
	ret(s, stOK)
}

func hDone(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	if !v.inDone {
		ret(s, stNotFound)
		return
	}
	ret(s, stOK)
}

func hSetEffectiveContext(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	id := uint32(s[0])
	if id == rootID {
		v.cur = nil
		ret(s, stOK)
		return
	}
	sf, ok := v.streams[id]
	if !ok {
		ret(s, stBadArgument)
		return
	}
	v.cur = sf
	ret(s, stOK)
}

// --- buffers ---

// enterBuffer is enter, then the buffer of type s[0] (buffer); v is nil
// after the status was answered.
func enterBuffer(ctx context.Context, s []uint64) (v *vm, b []byte, body filter.Body) {
	if v = enter(ctx, s); v == nil {
		return nil, nil, nil
	}
	b, body, st := v.buffer(uint32(s[0]))
	if st != stOK {
		ret(s, st)
		return nil, nil, nil
	}
	return v, b, body
}

// buffer returns the bytes of buffer type t, and the body when t is the
// body being called back (the only writable buffers).
func (v *vm) buffer(t uint32) ([]byte, filter.Body, status) {
	switch t {
	case bufRequestBody, bufResponseBody:
		if v.body == nil || uint32(v.bodySide) != t {
			return nil, nil, stNotFound
		}
		return v.body.Bytes(), v.body, stOK
	case bufCallResponseBody:
		if v.callResp == nil {
			return nil, nil, stNotFound
		}
		return v.callResp.Body, nil, stOK
	case bufVMConfiguration:
		return v.f.cfg.VMConfig, nil, stOK
	case bufPluginConfig:
		return v.f.cfg.PluginConfig, nil, stOK
	case bufForeignArgs, 2, 3, 5:
		return nil, nil, stNotFound
	}
	return nil, nil, stBadArgument
}

func hGetBufferBytes(ctx context.Context, _ api.Module, s []uint64) {
	v, b, _ := enterBuffer(ctx, s)
	if v == nil {
		return
	}
	start, size := uint64(uint32(s[1])), uint64(uint32(s[2]))
	if start > uint64(len(b)) {
		ret(s, stBadArgument)
		return
	}
	end := min(start+size, uint64(len(b)))
	ret(s, v.out(s[3], s[4], b[start:end]))
}

func hSetBufferBytes(ctx context.Context, _ api.Module, s []uint64) {
	v, b, body := enterBuffer(ctx, s)
	if v == nil {
		return
	}
	if body == nil {
		ret(s, stBadArgument) // configurations and call answers are read-only
		return
	}
	data, ok := v.read(s[3], s[4])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	start, size := int(min(uint64(uint32(s[1])), uint64(len(b)))), int(uint32(s[2]))
	// The engine keeps the bytes: guest memory is reused once the call ends.
	if err := body.Replace(start, size, append([]byte(nil), data...)); err != nil {
		ret(s, stBadArgument)
		return
	}
	ret(s, stOK)
}

func hGetBufferStatus(ctx context.Context, _ api.Module, s []uint64) {
	v, b, _ := enterBuffer(ctx, s)
	if v == nil {
		return
	}
	mem := v.in.Memory()
	if !mem.WriteUint32Le(uint32(s[1]), uint32(len(b))) || !mem.WriteUint32Le(uint32(s[2]), 0) {
		ret(s, stInvalidMemoryAccess)
		return
	}
	ret(s, stOK)
}

// --- header maps ---

// enterFields is enter, then the map of type s[0] (fields); v is nil after
// the status was answered.
func enterFields(ctx context.Context, s []uint64) (*vm, filter.Fields) {
	v := enter(ctx, s)
	if v == nil {
		return nil, nil
	}
	f, st := v.fields(uint32(s[0]))
	if st != stOK {
		ret(s, st)
		return nil, nil
	}
	return v, f
}

// fields returns the map of type t for the effective context.
func (v *vm) fields(t uint32) (filter.Fields, status) {
	var f filter.Fields
	switch t {
	case mapRequestHeaders, mapRequestTrailers, mapResponseHeaders, mapResponseTrailers:
		if v.cur == nil {
			return nil, stNotFound
		}
		s := v.cur.s
		switch t {
		case mapRequestHeaders:
			f = s.RequestHeaders()
		case mapRequestTrailers:
			f = s.RequestTrailers()
		case mapResponseHeaders:
			f = s.ResponseHeaders()
		default:
			f = s.ResponseTrailers()
		}
	case mapCallResponseHeaders, mapCallResponseTrailer:
		if v.callResp == nil {
			return nil, stNotFound
		}
		if t == mapCallResponseHeaders {
			f = pairs(v.callResp.Fields)
		} else {
			f = pairs(v.callResp.Trailers)
		}
	case 4, 5: // gRPC metadata: no gRPC calls
		return nil, stNotFound
	default:
		return nil, stBadArgument
	}
	if f == nil {
		return nil, stNotFound
	}
	return f, stOK
}

func hGetHeaderMapSize(ctx context.Context, _ api.Module, s []uint64) {
	v, f := enterFields(ctx, s)
	if v == nil {
		return
	}
	v.scratch = encodeFields(v.scratch[:0], f)
	ret(s, v.putU32(s[1], uint32(len(v.scratch))))
}

func hGetHeaderMapPairs(ctx context.Context, _ api.Module, s []uint64) {
	v, f := enterFields(ctx, s)
	if v == nil {
		return
	}
	v.scratch = encodeFields(v.scratch[:0], f)
	ret(s, v.out(s[1], s[2], v.scratch))
}

func hSetHeaderMapPairs(ctx context.Context, _ api.Module, s []uint64) {
	v, f := enterFields(ctx, s)
	if v == nil {
		return
	}
	b, ok := v.read(s[1], s[2])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	kv, ok := decodeMap(b)
	if !ok {
		ret(s, stBadArgument)
		return
	}
	ret(s, replaceAll(f, kv))
}

// replaceAll makes f hold the pairs kv: regular fields not in kv go, the
// pseudo-header fields in kv are set, the others added.
func replaceAll(f filter.Fields, kv [][2][]byte) status {
	var names [][]byte
	for i := 0; i < f.Len(); i++ {
		n, _ := f.At(i)
		if len(n) > 0 && n[0] != ':' {
			names = append(names, append([]byte(nil), n...))
		}
	}
	for _, n := range names {
		if f.Del(n) != nil {
			return stBadArgument
		}
	}
	for _, p := range kv {
		var err error
		if len(p[0]) > 0 && p[0][0] == ':' {
			err = f.Set(p[0], p[1])
		} else {
			err = f.Add(p[0], p[1])
		}
		if err != nil {
			return stBadArgument
		}
	}
	return stOK
}

func hGetHeaderMapValue(ctx context.Context, _ api.Module, s []uint64) {
	v, f := enterFields(ctx, s)
	if v == nil {
		return
	}
	name, ok := v.read(s[1], s[2])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	val, found := f.Get(name)
	if !found {
		ret(s, stNotFound)
		return
	}
	ret(s, v.out(s[3], s[4], val))
}

const (
	editAdd = iota
	editReplace
	editRemove
)

func hAddHeaderMapValue(ctx context.Context, _ api.Module, s []uint64) { headerEdit(ctx, s, editAdd) }
func hReplaceHeaderMapValue(ctx context.Context, _ api.Module, s []uint64) {
	headerEdit(ctx, s, editReplace)
}
func hRemoveHeaderMapValue(ctx context.Context, _ api.Module, s []uint64) {
	headerEdit(ctx, s, editRemove)
}

func headerEdit(ctx context.Context, s []uint64, op int) {
	v, f := enterFields(ctx, s)
	if v == nil {
		return
	}
	name, ok := v.read(s[1], s[2])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	var val []byte
	if op != editRemove {
		if val, ok = v.read(s[3], s[4]); !ok {
			ret(s, stInvalidMemoryAccess)
			return
		}
	}
	var err error
	switch op {
	case editAdd:
		err = f.Add(name, val)
	case editReplace:
		err = f.Set(name, val)
	default:
		err = f.Del(name)
	}
	if err != nil {
		ret(s, stBadArgument)
		return
	}
	ret(s, stOK)
}

// --- stream control ---

func hContinueStream(ctx context.Context, _ api.Module, s []uint64) {
	streamControl(ctx, s, filter.Stream.Resume)
}

func hCloseStream(ctx context.Context, _ api.Module, s []uint64) {
	streamControl(ctx, s, filter.Stream.Close)
}

// streamControl ends the effective stream's pause with do (Resume, Close).
func streamControl(ctx context.Context, s []uint64, do func(filter.Stream)) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	switch {
	case uint32(s[0]) > streamResponse:
		ret(s, stBadArgument)
	case v.cur == nil:
		ret(s, stNotFound)
	default:
		v.cur.paused = false
		do(v.cur.s)
		ret(s, stOK)
	}
}

// hGetStatus answers the status of a gRPC call, which strata does not
// make: code 0 and no message.
func hGetStatus(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	if st := v.putU32(s[0], 0); st != stOK {
		ret(s, st)
		return
	}
	ret(s, v.out(s[1], s[2], nil))
}

func hSendLocalResponse(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	code := int(uint32(s[0]))
	details, ok1 := v.read(s[1], s[2])
	body, ok2 := v.read(s[3], s[4])
	hdrs, ok3 := v.read(s[5], s[6])
	if !ok1 || !ok2 || !ok3 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	if v.cur == nil {
		ret(s, stNotFound)
		return
	}
	kv, ok := decodeMap(hdrs)
	if !ok || code < 100 || code > 999 {
		ret(s, stBadArgument)
		return
	}
	r := filter.Reply{Status: code, Fields: strPairs(kv), Body: append([]byte(nil), body...), Details: string(details)}
	if err := v.cur.s.Reply(r); err != nil {
		ret(s, stBadArgument)
		return
	}
	v.cur.replied, v.cur.paused = true, false
	ret(s, stOK)
}

func hHTTPCall(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	up, ok1 := v.read(s[0], s[1])
	hdrs, ok2 := v.read(s[2], s[3])
	body, ok3 := v.read(s[4], s[5])
	trls, ok4 := v.read(s[6], s[7])
	_, ok5 := v.read(s[9], 4)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	// An unknown backend is refused before anything is dialled.
	if !v.f.backends[string(up)] || v.f.cfg.Caller == nil {
		ret(s, stBadArgument)
		return
	}
	hk, ok := decodeMap(hdrs)
	tk, ok2 := decodeMap(trls)
	if !ok || !ok2 {
		ret(s, stBadArgument)
		return
	}
	req := &filter.CallRequest{Backend: string(up), Fields: strPairs(hk), Trailers: strPairs(tk),
		Body: append([]byte(nil), body...), Timeout: time.Duration(uint32(s[8])) * time.Millisecond}
	if !hasPseudo(req.Fields, ":method") || !hasPseudo(req.Fields, ":path") || !hasPseudo(req.Fields, ":authority") {
		ret(s, stBadArgument) // as Envoy: the head needs :method, :path and :authority
		return
	}
	if req.Timeout <= 0 {
		req.Timeout = defaultCallTimeout
	}
	token := v.dispatch(req)
	v.in.Memory().WriteUint32Le(uint32(s[9]), token)
	ret(s, stOK)
}

func hasPseudo(f [][2]string, name string) bool {
	for _, p := range f {
		if p[0] == name && p[1] != "" {
			return true
		}
	}
	return false
}

func hUnimplemented(ctx context.Context, _ api.Module, s []uint64) { ret(s, stUnimplemented) }

func hCallForeignFunction(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	if _, ok := v.read(s[0], s[1]); !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	ret(s, stNotFound) // strata registers no foreign function
}

// --- serialisation of maps ---

// encodeFields appends f in the ABI's map encoding: the count, the sizes,
// then each name and value NUL-terminated.
func encodeFields(b []byte, f filter.Fields) []byte {
	n := f.Len()
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		k, val := f.At(i)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	}
	for i := 0; i < n; i++ {
		k, val := f.At(i)
		b = append(append(b, k...), 0)
		b = append(append(b, val...), 0)
	}
	return b
}

// decodeMap parses the ABI's map encoding; the pairs alias b. An empty
// map may be empty bytes or a lone 0.
func decodeMap(b []byte) ([][2][]byte, bool) {
	if len(b) <= 1 {
		return nil, len(b) == 0 || b[0] == 0
	}
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-4)/8 {
		return nil, false
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	out := make([][2][]byte, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 2; j++ {
			l := int(binary.LittleEndian.Uint32(sizes[8*i+4*j:]))
			if l < 0 || l+1 > len(data) || data[l] != 0 {
				return nil, false
			}
			out[i][j] = data[:l]
			data = data[l+1:]
		}
	}
	return out, true
}

func strPairs(kv [][2][]byte) [][2]string {
	out := make([][2]string, len(kv))
	for i, p := range kv {
		out[i] = [2]string{string(p[0]), string(p[1])}
	}
	return out
}

// pairs is a read-only Fields over an HTTP call's answer.
type pairs [][2]string

var errReadOnly = errors.New("an HTTP call's answer is read-only")

func (p pairs) Len() int                     { return len(p) }
func (p pairs) At(i int) ([]byte, []byte)    { return []byte(p[i][0]), []byte(p[i][1]) }
func (p pairs) Set(name, value []byte) error { return errReadOnly }
func (p pairs) Add(name, value []byte) error { return errReadOnly }
func (p pairs) Del(name []byte) error        { return errReadOnly }
func (p pairs) Get(name []byte) ([]byte, bool) {
	for _, kv := range p {
		if session.EqualFold([]byte(kv[0]), name) {
			return []byte(kv[1]), true
		}
	}
	return nil, false
}
