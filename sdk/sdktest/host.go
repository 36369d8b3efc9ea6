package sdktest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
	"github.com/strata-proxy/strata/sdk/internal/bridge"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// The hostcall.Host implementation. Each method checks the handle and the
// layers the way the proxy does.

var _ hostcall.Host = (*fake)(nil)

// fake is Host seen as the SDK's host: a distinct type keeps these methods
// off Host's documented API.
type fake struct{ *Host }

func (h *fake) ok(handle uint32, need abi.Layers) abi.Status {
	if !h.live || handle != h.handle {
		return abi.ErrHandle
	}
	if !h.cur.layers.Has(need) {
		return abi.ErrLayer
	}
	return abi.OK
}

const txn = abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn

// out writes b into buf following the buffer protocol.
func out(b, buf []byte) abi.Status {
	copy(buf[:cap(buf)], b)
	return abi.Status(len(b))
}

func encode(v sdk.Value) []byte {
	if v.Type.Scalar() {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v.Int))
		return b[:]
	}
	return v.Bytes
}

func outValue(v sdk.Value, typ *abi.Type, buf []byte) abi.Status {
	*typ = v.Type
	return out(encode(v), buf)
}

func (h *fake) Layers(handle uint32) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	return abi.Status(h.cur.layers)
}

func (h *fake) ArgCount(handle uint32) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	return abi.Status(len(h.cur.args))
}

func (h *fake) ArgGet(handle uint32, index int, typ *abi.Type, buf []byte) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	if index < 0 || index >= len(h.cur.args) {
		return abi.ErrNotFound
	}
	return outValue(h.cur.args[index], typ, buf)
}

func (h *fake) InputGet(handle uint32, typ *abi.Type, buf []byte) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	if h.cur.kind != abi.KindConverter {
		return abi.ErrState
	}
	return outValue(h.cur.input, typ, buf)
}

func (h *fake) ResultInt(handle uint32, t abi.Type, v int64) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	if !t.Scalar() {
		return abi.ErrArg
	}
	h.cur.result = sdk.Value{Type: t, Int: v}
	return abi.OK
}

func (h *fake) ResultBytes(handle uint32, t abi.Type, b []byte) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	if t.Scalar() || t == abi.TypeNone || !t.Valid() || (t == abi.TypeIP && len(b) != 4 && len(b) != 16) {
		return abi.ErrArg
	}
	h.cur.result = sdk.Value{Type: t, Bytes: append([]byte(nil), b...)}
	return abi.OK
}

func (h *fake) SampleEval(handle uint32, expr string, typ *abi.Type, buf []byte) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	if v, found := h.Samples[expr]; found {
		if !v.Valid() {
			return abi.ErrNotFound
		}
		return outValue(v, typ, buf)
	}
	switch {
	case expr == "src":
		if !h.Src.IsValid() {
			return abi.ErrNotFound
		}
		return outValue(sdk.IP(h.Src), typ, buf)
	case strings.HasPrefix(expr, "req.hdr(") && strings.HasSuffix(expr, ")"):
		if !h.cur.layers.Has(txn) {
			return abi.ErrLayer
		}
		v, found := get(h.ReqHeaders, expr[len("req.hdr("):len(expr)-1], 0)
		if !found {
			return abi.ErrNotFound
		}
		return outValue(sdk.Str(v), typ, buf)
	case strings.HasPrefix(expr, "sc") && strings.Contains(expr, "_"):
		i := strings.IndexByte(expr, '_')
		slot, err := strconv.Atoi(expr[2:i])
		if err != nil {
			return abi.ErrArg
		}
		v, found := h.Counters[slot][expr[i+1:]]
		if !found {
			return abi.ErrNotFound
		}
		return outValue(sdk.Int(v), typ, buf)
	}
	return abi.ErrNotFound
}

func (h *fake) ConfigGet(buf []byte) abi.Status {
	b, err := json.Marshal(h.Config)
	if err != nil {
		return abi.ErrInternal
	}
	return out(b, buf)
}

func (h *fake) register(r bridge.Reg) abi.Status {
	if !abi.ValidName(r.Name) {
		return abi.ErrArg
	}
	for _, o := range h.regs {
		if o.Kind == r.Kind && o.Name == r.Name {
			return abi.ErrArg
		}
	}
	h.regs = append(h.regs, r)
	return abi.OK
}

func (h *fake) RegisterFetch(id uint32, name string, needs abi.Layers, outT abi.Type, args []abi.Type, minArgs int) abi.Status {
	return h.register(bridge.Reg{Kind: abi.KindFetch, ID: id, Name: name, Needs: needs, Out: outT, Args: args, MinArgs: minArgs, MaxArgs: len(args)})
}

func (h *fake) RegisterConverter(id uint32, name string, in, outT abi.Type, args []abi.Type, minArgs int) abi.Status {
	return h.register(bridge.Reg{Kind: abi.KindConverter, ID: id, Name: name, In: in, Out: outT, Args: args, MinArgs: minArgs, MaxArgs: len(args)})
}

func (h *fake) RegisterAction(id uint32, name string, points abi.Point, minArgs, maxArgs int) abi.Status {
	if points == 0 || points&^abi.AllPoints != 0 {
		return abi.ErrArg
	}
	return h.register(bridge.Reg{Kind: abi.KindAction, ID: id, Name: name, Points: points, MinArgs: minArgs, MaxArgs: maxArgs})
}

func (h *fake) RegisterTarget(id uint32, name string, minArgs, maxArgs int) abi.Status {
	return h.register(bridge.Reg{Kind: abi.KindTarget, ID: id, Name: name, MinArgs: minArgs, MaxArgs: maxArgs})
}

func (h *fake) RegisterService(id uint32, name string, modes abi.ServiceMode, minArgs, maxArgs int) abi.Status {
	return h.register(bridge.Reg{Kind: abi.KindService, ID: id, Name: name, Modes: modes, MinArgs: minArgs, MaxArgs: maxArgs})
}

func (h *fake) headers(resp bool) *[]Header {
	if resp {
		return &h.RespHeaders
	}
	return &h.ReqHeaders
}

func (h *fake) HeaderGet(handle uint32, resp bool, name string, index int, buf []byte) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	v, found := get(*h.headers(resp), name, index)
	if !found {
		return abi.ErrNotFound
	}
	return out([]byte(v), buf)
}

func (h *fake) HeaderSet(handle uint32, resp bool, name, value string) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	h.HeaderDel(handle, resp, name)
	hs := h.headers(resp)
	// Cloned: like the host, keep nothing of the caller's memory, which
	// SetReqHeaderBytes lends only for the call.
	*hs = append(*hs, Header{strings.Clone(name), strings.Clone(value)})
	return abi.OK
}

func (h *fake) HeaderAdd(handle uint32, resp bool, name, value string) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	hs := h.headers(resp)
	*hs = append(*hs, Header{name, value})
	return abi.OK
}

func (h *fake) HeaderDel(handle uint32, resp bool, name string) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	hs := h.headers(resp)
	kept := (*hs)[:0]
	n := 0
	for _, f := range *hs {
		if strings.EqualFold(f.Name, name) {
			n++
			continue
		}
		kept = append(kept, f)
	}
	*hs = kept
	return abi.Status(n)
}

func (h *fake) FieldGet(handle uint32, f hostcall.Field, buf []byte) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	switch f {
	case hostcall.Method:
		return out([]byte(h.Method), buf)
	case hostcall.Path:
		return out([]byte(h.Path), buf)
	}
	if !h.HasQuery && h.Query == "" {
		return abi.ErrNotFound
	}
	return out([]byte(h.Query), buf)
}

func (h *fake) FieldSet(handle uint32, f hostcall.Field, v string) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	switch f {
	case hostcall.Method:
		if v == "" {
			return abi.ErrArg
		}
		h.Method = v
	case hostcall.Path:
		if v == "" {
			return abi.ErrArg
		}
		h.Path = v
	default:
		h.Query, h.HasQuery = v, v != ""
	}
	return abi.OK
}

func (h *fake) RespStatusGet(handle uint32) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	if h.Status == 0 {
		return abi.ErrNotFound
	}
	return abi.Status(h.Status)
}

func (h *fake) RespStatusSet(handle uint32, code int) abi.Status {
	if st := h.ok(handle, txn); st < 0 {
		return st
	}
	if code < 100 || code > 999 {
		return abi.ErrArg
	}
	h.Status = code
	return abi.OK
}

func (h *fake) ReqBodyRead(handle uint32, offset int, buf []byte) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess|abi.LayerStrm); st < 0 {
		return st
	}
	if offset > len(h.Body) {
		return abi.ErrArg
	}
	return out(h.Body[offset:], buf)
}

func (h *fake) scope(handle uint32, s abi.Scope) (map[string]sdk.Value, abi.Status) {
	if st := h.ok(handle, 0); st < 0 {
		return nil, st
	}
	switch s {
	case abi.ScopeSess:
		if !h.cur.layers.Has(abi.LayerSess) {
			return nil, abi.ErrLayer
		}
	case abi.ScopeTxn:
		if !h.cur.layers.Has(abi.LayerStrm) {
			return nil, abi.ErrLayer
		}
	case abi.ScopeProc:
	default:
		return nil, abi.ErrArg
	}
	if h.Vars == nil {
		h.Vars = map[abi.Scope]map[string]sdk.Value{}
	}
	if h.Vars[s] == nil {
		h.Vars[s] = map[string]sdk.Value{}
	}
	return h.Vars[s], abi.OK
}

func (h *fake) VarGet(handle uint32, s abi.Scope, name string, typ *abi.Type, buf []byte) abi.Status {
	m, st := h.scope(handle, s)
	if st < 0 {
		return st
	}
	v, found := m[name]
	if !found {
		return abi.ErrNotFound
	}
	return outValue(v, typ, buf)
}

func (h *fake) VarSetInt(handle uint32, s abi.Scope, name string, t abi.Type, v int64) abi.Status {
	m, st := h.scope(handle, s)
	if st < 0 {
		return st
	}
	if !t.Scalar() || name == "" {
		return abi.ErrArg
	}
	m[name] = sdk.Value{Type: t, Int: v}
	return abi.OK
}

func (h *fake) VarSetBytes(handle uint32, s abi.Scope, name string, t abi.Type, b []byte) abi.Status {
	m, st := h.scope(handle, s)
	if st < 0 {
		return st
	}
	if t.Scalar() || t == abi.TypeNone || !t.Valid() || name == "" {
		return abi.ErrArg
	}
	m[name] = sdk.Value{Type: t, Bytes: append([]byte(nil), b...)}
	return abi.OK
}

func (h *fake) VarUnset(handle uint32, s abi.Scope, name string) abi.Status {
	m, st := h.scope(handle, s)
	if st < 0 {
		return st
	}
	delete(m, name)
	return abi.OK
}

func (h *fake) SCGet(handle uint32, slot int, name string, outV *int64) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess); st < 0 {
		return st
	}
	v, found := h.Counters[slot][name]
	if !found {
		return abi.ErrNotFound
	}
	*outV = v
	return abi.OK
}

func (h *fake) counter(slot int, name string, f func(int64) int64) (int64, abi.Status) {
	m, found := h.Counters[slot]
	if !found {
		return 0, abi.ErrNotFound
	}
	m[name] = f(m[name])
	return m[name], abi.OK
}

func (h *fake) SCGPCAdd(handle uint32, slot, index int, delta int64, outV *int64) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess); st < 0 {
		return st
	}
	v, st := h.counter(slot, "gpc"+strconv.Itoa(index), func(o int64) int64 { return o + delta })
	*outV = v
	return st
}

func (h *fake) SCGPTSet(handle uint32, slot, index int, v int64) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess); st < 0 {
		return st
	}
	_, st := h.counter(slot, "gpt"+strconv.Itoa(index), func(int64) int64 { return v })
	return st
}

func (h *fake) RouteSet(handle uint32, kind abi.RouteKind, name string) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess|abi.LayerStrm); st < 0 {
		return st
	}
	if name == "" {
		return abi.ErrArg
	}
	switch kind {
	case abi.RouteBackend:
		h.Route.Backend = name
	case abi.RouteServer:
		h.Route.Server = name
	case abi.RouteService:
		h.Route.Service = name
	default:
		return abi.ErrArg
	}
	return abi.OK
}

func (h *fake) replyOK(handle uint32) abi.Status {
	if st := h.ok(handle, abi.LayerConn|abi.LayerSess|abi.LayerStrm); st < 0 {
		return st
	}
	if h.cur.kind != abi.KindAction && h.cur.kind != abi.KindService {
		return abi.ErrState
	}
	return abi.OK
}

func (h *fake) ReplyStatus(handle uint32, code int) abi.Status {
	if st := h.replyOK(handle); st < 0 {
		return st
	}
	if code < 100 || code > 999 {
		return abi.ErrArg
	}
	h.Reply.Status = code
	return abi.OK
}

func (h *fake) ReplyHeaderAdd(handle uint32, name, value string) abi.Status {
	if st := h.replyOK(handle); st < 0 {
		return st
	}
	if len(h.Reply.Headers) >= abi.MaxReplyHeaders {
		return abi.ErrLimit
	}
	h.Reply.Headers = append(h.Reply.Headers, Header{name, value})
	return abi.OK
}

func (h *fake) ReplyBodyWrite(handle uint32, b []byte) abi.Status {
	if st := h.replyOK(handle); st < 0 {
		return st
	}
	if len(h.Reply.Body)+len(b) > abi.MaxReplyBytes {
		return abi.ErrLimit
	}
	h.Reply.Body = append(h.Reply.Body, b...)
	return abi.OK
}

func (h *fake) Log(handle uint32, level abi.LogLevel, msg string) abi.Status {
	if handle != 0 {
		if st := h.ok(handle, 0); st < 0 {
			return st
		}
	}
	h.Logs = append(h.Logs, msg)
	return abi.OK
}

func (h *fake) SpanAttrStr(handle uint32, key, value string) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	h.Spans = append(h.Spans, key+"="+value)
	return abi.OK
}

func (h *fake) SpanAttrInt(handle uint32, key string, v int64) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	h.Spans = append(h.Spans, key+"="+strconv.FormatInt(v, 10))
	return abi.OK
}

func (h *fake) SpanEvent(handle uint32, name string) abi.Status {
	if st := h.ok(handle, 0); st < 0 {
		return st
	}
	h.Spans = append(h.Spans, "event:"+name)
	return abi.OK
}

var start = time.Now()

func (h *fake) ClockMonotonic() int64 { return int64(time.Since(start)) }
func (h *fake) ClockWall() int64      { return time.Now().UnixNano() }
func (h *fake) RandomFill(b []byte) abi.Status {
	_, _ = rand.Read(b)
	return abi.OK
}
