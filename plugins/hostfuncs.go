package plugins

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Host functions of ABI v1. Each is an api.GoModuleFunc: it reads its
// parameters from the stack and writes its status to stack[0]. None trusts
// a guest pointer or length: every access goes through api.Memory's
// bounds-checked Read and Write, and out of range is abi.ErrMemory. None
// allocates on its normal path.

// hostImpls maps each host function name to its implementation.
var hostImpls = map[string]api.GoModuleFunc{
	abi.FnLayers:            hLayers,
	abi.FnArgCount:          hArgCount,
	abi.FnArgGet:            hArgGet,
	abi.FnInputGet:          hInputGet,
	abi.FnResultInt:         hResultInt,
	abi.FnResultBytes:       hResultBytes,
	abi.FnSampleEval:        hSampleEval,
	abi.FnConfigGet:         hConfigGet,
	abi.FnRegisterFetch:     hRegisterFetch,
	abi.FnRegisterConverter: hRegisterConverter,
	abi.FnRegisterAction:    hRegisterAction,
	abi.FnRegisterTarget:    hRegisterTarget,
	abi.FnRegisterService:   hRegisterService,
	abi.FnReqHeaderGet:      func(c context.Context, m api.Module, s []uint64) { hHeaderGet(c, s, false) },
	abi.FnReqHeaderSet:      func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, false, editSet) },
	abi.FnReqHeaderAdd:      func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, false, editAdd) },
	abi.FnReqHeaderDel:      func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, false, editDel) },
	abi.FnRespHeaderGet:     func(c context.Context, m api.Module, s []uint64) { hHeaderGet(c, s, true) },
	abi.FnRespHeaderSet:     func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, true, editSet) },
	abi.FnRespHeaderAdd:     func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, true, editAdd) },
	abi.FnRespHeaderDel:     func(c context.Context, m api.Module, s []uint64) { hHeaderEdit(c, s, true, editDel) },
	abi.FnReqMethodGet:      func(c context.Context, m api.Module, s []uint64) { hFieldGet(c, s, fMethod) },
	abi.FnReqMethodSet:      func(c context.Context, m api.Module, s []uint64) { hFieldSet(c, s, fMethod) },
	abi.FnReqPathGet:        func(c context.Context, m api.Module, s []uint64) { hFieldGet(c, s, fPath) },
	abi.FnReqPathSet:        func(c context.Context, m api.Module, s []uint64) { hFieldSet(c, s, fPath) },
	abi.FnReqQueryGet:       func(c context.Context, m api.Module, s []uint64) { hFieldGet(c, s, fQuery) },
	abi.FnReqQuerySet:       func(c context.Context, m api.Module, s []uint64) { hFieldSet(c, s, fQuery) },
	abi.FnRespStatusGet:     hRespStatusGet,
	abi.FnRespStatusSet:     hRespStatusSet,
	abi.FnReqBodyRead:       hReqBodyRead,
	abi.FnVarGet:            hVarGet,
	abi.FnVarSetInt:         hVarSetInt,
	abi.FnVarSetBytes:       hVarSetBytes,
	abi.FnVarUnset:          hVarUnset,
	abi.FnSCGet:             hSCGet,
	abi.FnSCGPCAdd:          hSCGPCAdd,
	abi.FnSCGPTSet:          hSCGPTSet,
	abi.FnRouteSet:          hRouteSet,
	abi.FnReplyStatus:       hReplyStatus,
	abi.FnReplyHeaderAdd:    hReplyHeaderAdd,
	abi.FnReplyBodyWrite:    hReplyBodyWrite,
	abi.FnLog:               hLog,
	abi.FnSpanAttrStr:       hSpanAttrStr,
	abi.FnSpanAttrInt:       hSpanAttrInt,
	abi.FnSpanEvent:         hSpanEvent,
	abi.FnClockMonotonic:    hClockMonotonic,
	abi.FnClockWall:         hClockWall,
	abi.FnRandomFill:        hRandomFill,
}

// buildHostModule instantiates the strata_v1 host module in rt.
func buildHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range abi.HostFuncs {
		impl := hostImpls[f.Name]
		params := make([]api.ValueType, len(f.Params))
		names := make([]string, len(f.Params))
		for i, p := range f.Params {
			params[i], names[i] = api.ValueType(p.Type), p.Name
		}
		results := make([]api.ValueType, len(f.Results))
		for i, r := range f.Results {
			results[i] = api.ValueType(r)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(impl, params, results).WithParameterNames(names...).Export(f.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func inst(ctx context.Context) *instance {
	in, _ := ctx.Value(instKey{}).(*instance)
	return in
}

func ret(s []uint64, st abi.Status) { s[0] = api.EncodeI32(int32(st)) }

// enter checks the handle in s[0] and the layers need; on failure it has
// already written the status.
func enter(ctx context.Context, s []uint64, need abi.Layers) (*instance, *fetch.Ctx) {
	in := inst(ctx)
	if in == nil || !in.inCall || uint32(s[0]) != in.handle {
		ret(s, abi.ErrHandle)
		return nil, nil
	}
	if !effectiveLayers(in.call.ctx).Has(need) {
		in.call.layerErr = true
		ret(s, abi.ErrLayer)
		return nil, nil
	}
	return in, in.call.ctx
}

// bytes returns guest memory [ptr, ptr+n) without copying; it is valid
// until the guest runs again.
func (in *instance) bytes(ptr, n uint64) ([]byte, bool) {
	return in.mem.Read(uint32(ptr), uint32(n))
}

// out writes data into the guest buffer [buf, buf+cap) by the buffer
// protocol: min(len, cap) bytes, and returns len.
func (in *instance) out(s []uint64, buf, capacity uint64, data []byte) {
	dst, ok := in.mem.Read(uint32(buf), uint32(capacity))
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	copy(dst, data)
	ret(s, abi.Status(len(data)))
}

// encode returns the ABI byte form of v in in.scratch (or v.Bytes).
func (in *instance) encode(v sample.Value) []byte {
	switch v.Type {
	case sample.TypeBool, sample.TypeInt:
		in.scratch = binary.LittleEndian.AppendUint64(in.scratch[:0], uint64(v.Int))
		return in.scratch
	case sample.TypeIP:
		if v.IP.Is4() {
			a := v.IP.As4()
			in.scratch = append(in.scratch[:0], a[:]...)
		} else {
			a := v.IP.As16()
			in.scratch = append(in.scratch[:0], a[:]...)
		}
		return in.scratch
	}
	return v.Bytes
}

// outValue writes v's type at typePtr and its bytes into [buf, buf+cap).
func (in *instance) outValue(s []uint64, typePtr, buf, capacity uint64, v sample.Value) {
	if !in.mem.WriteUint32Le(uint32(typePtr), uint32(v.Type)) {
		ret(s, abi.ErrMemory)
		return
	}
	in.out(s, buf, capacity, in.encode(v))
}

// decode builds a value of type t from guest bytes (aliased, not copied).
func decode(t uint32, b []byte, i int64) (sample.Value, bool) {
	switch abi.Type(t) {
	case abi.TypeBool:
		return sample.Bool(i != 0), true
	case abi.TypeInt:
		return sample.Int(i), true
	case abi.TypeIP:
		a, ok := netip.AddrFromSlice(b)
		return sample.IP(a), ok
	case abi.TypeStr:
		return sample.Str(b), true
	case abi.TypeBin:
		return sample.Bin(b), true
	}
	return sample.Value{}, false
}

// unsafeString views b as a string for lookups that do not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// --- core ---

func hLayers(ctx context.Context, _ api.Module, s []uint64) {
	if in, c := enter(ctx, s, 0); in != nil {
		ret(s, abi.Status(effectiveLayers(c)))
	}
}

func hArgCount(ctx context.Context, _ api.Module, s []uint64) {
	if in, _ := enter(ctx, s, 0); in != nil {
		ret(s, abi.Status(len(in.call.fargs)+len(in.call.sargs)))
	}
}

func hArgGet(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	i, typePtr, buf, capacity := int(uint32(s[1])), s[2], s[3], s[4]
	var v sample.Value
	switch {
	case i < len(in.call.fargs):
		a := &in.call.fargs[i]
		if a.Kind == fetch.ArgInt {
			v = sample.Int(a.Int)
		} else {
			v = sample.Str(a.Bytes)
			if a.Bytes == nil {
				v.Bytes = unsafeBytes(a.Str)
			}
		}
	case i < len(in.call.sargs):
		v = sample.Str(unsafeBytes(in.call.sargs[i]))
	default:
		ret(s, abi.ErrNotFound)
		return
	}
	in.outValue(s, typePtr, buf, capacity, v)
}

// unsafeBytes views s as bytes that are only read.
func unsafeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func hInputGet(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	if in.call.kind != kConvert {
		ret(s, abi.ErrState)
		return
	}
	in.outValue(s, s[1], s[2], s[3], in.call.input)
}

func hResultInt(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	if in.call.kind != kFetch && in.call.kind != kConvert {
		ret(s, abi.ErrState)
		return
	}
	t := abi.Type(uint32(s[1]))
	if !t.Scalar() || !in.call.resultFits(t) {
		ret(s, abi.ErrArg)
		return
	}
	in.call.result, _ = decode(uint32(t), nil, int64(s[2]))
	ret(s, abi.OK)
}

func hResultBytes(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	if in.call.kind != kFetch && in.call.kind != kConvert {
		ret(s, abi.ErrState)
		return
	}
	t := abi.Type(uint32(s[1]))
	b, ok := in.bytes(s[2], s[3])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if t.Scalar() || t == abi.TypeNone || !in.call.resultFits(t) {
		ret(s, abi.ErrArg)
		return
	}
	in.call.resBuf = append(in.call.resBuf[:0], b...)
	v, ok := decode(uint32(t), in.call.resBuf, 0)
	if !ok {
		ret(s, abi.ErrArg)
		return
	}
	in.call.result = v
	ret(s, abi.OK)
}

// resultFits reports whether a result of type t matches what the fetch or
// converter registered: the host does not convert, so a mismatch is the
// guest's error, reported at the call (ERR_ARG) rather than as a failed
// call afterwards.
func (c *callState) resultFits(t abi.Type) bool {
	return c.out == abi.TypeNone || c.out == t
}

// maxExprCache bounds the per-instance cache of parsed expressions.
const maxExprCache = 256

// expr returns the parsed form of src, from the instance's cache. The
// cache belongs to one registry: UseSamples empties it.
func (in *instance) expr(src []byte) (*fetch.Expr, abi.Status) {
	reg := in.p.samples.Load()
	if reg != in.exprReg {
		clear(in.exprs)
		in.exprReg = reg
	}
	if e, ok := in.exprs[unsafeString(src)]; ok {
		if e == nil {
			return nil, abi.ErrArg
		}
		return e, abi.OK
	}
	key := string(src)
	e, err := reg.ParseExpr(key, fetch.ParseOptions{})
	if len(in.exprs) < maxExprCache {
		in.exprs[key] = e // nil remembers a bad expression
	}
	if err != nil {
		return nil, abi.ErrArg
	}
	return e, abi.OK
}

func hSampleEval(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, 0)
	if in == nil {
		return
	}
	src, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	in.evalOut(s, c, src, s[3], s[4], s[5])
}

func (in *instance) evalOut(s []uint64, c *fetch.Ctx, src []byte, typePtr, buf, capacity uint64) {
	e, st := in.expr(src)
	if st < 0 {
		ret(s, st)
		return
	}
	if !effectiveLayers(c).Has(e.Needs()) {
		in.call.layerErr = true
		ret(s, abi.ErrLayer)
		return
	}
	v, ok := e.Eval(c)
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	in.outValue(s, typePtr, buf, capacity, v)
}

func hConfigGet(ctx context.Context, _ api.Module, s []uint64) {
	in := inst(ctx)
	if in == nil {
		ret(s, abi.ErrState)
		return
	}
	in.out(s, s[0], s[1], in.p.cfg.settings)
}

// --- registration (strata_init only) ---

func (in *instance) register(s []uint64, r Registration, typesPtr, typesLen uint64) {
	if !in.initing {
		ret(s, abi.ErrState)
		return
	}
	name, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	r.ID, r.Name = uint32(s[0]), string(name)
	if typesLen > 0 {
		ts, ok := in.bytes(typesPtr, typesLen)
		if !ok {
			ret(s, abi.ErrMemory)
			return
		}
		for _, t := range ts {
			r.Args = append(r.Args, abi.Type(t))
		}
	}
	if err := r.validate(); err != nil {
		in.regErr = err
		ret(s, abi.ErrArg)
		return
	}
	for _, o := range in.regs {
		if o.Name == r.Name && o.Kind == r.Kind {
			in.regErr = errorf("%s %s registered twice", r.Kind, r.Name)
			ret(s, abi.ErrArg)
			return
		}
	}
	if len(in.regs) >= abi.MaxRegistrations {
		ret(s, abi.ErrLimit)
		return
	}
	in.regs = append(in.regs, r)
	ret(s, abi.OK)
}

func hRegisterFetch(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		n := int(uint32(s[6]))
		in.register(s, Registration{Kind: abi.KindFetch, Needs: abi.Layers(uint32(s[3])), Out: abi.Type(uint32(s[4])),
			MinArgs: int(int32(s[7])), MaxArgs: n}, s[5], s[6])
	}
}

func hRegisterConverter(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		n := int(uint32(s[6]))
		in.register(s, Registration{Kind: abi.KindConverter, In: abi.Type(uint32(s[3])), Out: abi.Type(uint32(s[4])),
			MinArgs: int(int32(s[7])), MaxArgs: n}, s[5], s[6])
	}
}

func hRegisterAction(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		in.register(s, Registration{Kind: abi.KindAction, Points: abi.Point(uint32(s[3])),
			MinArgs: int(int32(s[4])), MaxArgs: int(int32(s[5]))}, 0, 0)
	}
}

func hRegisterTarget(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		in.register(s, Registration{Kind: abi.KindTarget, MinArgs: int(int32(s[3])), MaxArgs: int(int32(s[4]))}, 0, 0)
	}
}

func hRegisterService(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		in.register(s, Registration{Kind: abi.KindService, Modes: abi.ServiceMode(uint32(s[3])),
			MinArgs: int(int32(s[4])), MaxArgs: int(int32(s[5]))}, 0, 0)
	}
}

// --- the HTTP transaction ---

const txnLayers = abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn

func fields(c *fetch.Ctx, resp bool) []h1.Field {
	if resp {
		return c.Txn.Resp.Fields
	}
	return c.Txn.Req.Fields
}

func hHeaderGet(ctx context.Context, s []uint64, resp bool) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	name, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	index := uint32(s[3])
	for _, f := range fields(c, resp) {
		if session.EqualFold(f.Name, name) {
			if index == 0 {
				in.out(s, s[4], s[5], f.Value)
				return
			}
			index--
		}
	}
	ret(s, abi.ErrNotFound)
}

type edit uint8

const (
	editSet edit = iota
	editAdd
	editDel
)

// validToken and validValue are the HTTP/1.1 writer's own checks, so a
// value the host accepts is one the wire accepts (one validator: a second
// copy that differs a little is where a 500 after an OK comes from).
var (
	validToken = h1.ValidFieldName
	validValue = h1.ValidFieldValue
)

func hHeaderEdit(ctx context.Context, s []uint64, resp bool, e edit) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	name, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if !validToken(name) {
		ret(s, abi.ErrArg)
		return
	}
	if e == editDel {
		if resp {
			ret(s, abi.Status(c.Txn.DelRespHeader(name)))
		} else {
			ret(s, abi.Status(c.Txn.DelReqHeader(name)))
		}
		return
	}
	value, ok := in.bytes(s[3], s[4])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if !validValue(value) {
		ret(s, abi.ErrArg)
		return
	}
	var done bool
	switch {
	case e == editSet && resp:
		done = c.Txn.SetRespHeader(name, value)
	case e == editSet:
		done = c.Txn.SetReqHeader(name, value)
	case resp:
		done = c.Txn.AddRespHeader(name, value)
	default:
		done = c.Txn.AddReqHeader(name, value)
	}
	retEdit(s, done)
}

// retEdit answers an edit the transaction made (OK) or refused (ErrArg):
// the guest learns that its edit did not happen.
func retEdit(s []uint64, done bool) {
	if done {
		ret(s, abi.OK)
		return
	}
	ret(s, abi.ErrArg)
}

type field uint8

const (
	fMethod field = iota
	fPath
	fQuery
)

func hFieldGet(ctx context.Context, s []uint64, f field) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	var v []byte
	switch f {
	case fMethod:
		v = c.Txn.Req.Method
	case fPath:
		v = c.Txn.Req.Path
	default:
		if c.Txn.Req.Query == nil {
			ret(s, abi.ErrNotFound)
			return
		}
		v = c.Txn.Req.Query
	}
	in.out(s, s[1], s[2], v)
}

func hFieldSet(ctx context.Context, s []uint64, f field) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	v, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	switch f {
	case fMethod:
		if !validToken(v) {
			ret(s, abi.ErrArg)
			return
		}
		retEdit(s, c.Txn.SetMethod(v))
		return
	case fPath:
		if len(v) == 0 || v[0] != '/' || !validURIPart(v, false) {
			ret(s, abi.ErrArg)
			return
		}
		retEdit(s, c.Txn.SetPath(v))
		return
	default:
		if !validURIPart(v, true) {
			ret(s, abi.ErrArg)
			return
		}
		retEdit(s, c.Txn.SetQuery(v))
	}
}

// validURIPart refuses bytes that would break the request line.
func validURIPart(b []byte, query bool) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || (!query && c == '?') || c == '#' {
			return false
		}
	}
	return true
}

func hRespStatusGet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	if c.Txn.Resp.Status == 0 {
		ret(s, abi.ErrNotFound)
		return
	}
	ret(s, abi.Status(c.Txn.Resp.Status))
}

func hRespStatusSet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, txnLayers)
	if in == nil {
		return
	}
	code := int(int32(s[1]))
	if code < 100 || code > 599 {
		ret(s, abi.ErrArg)
		return
	}
	if c.Txn.Resp.Status == 0 {
		ret(s, abi.ErrState) // no response yet
		return
	}
	c.Txn.SetStatus(code, nil)
	ret(s, abi.OK)
}

func hReqBodyRead(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, abi.LayerConn|abi.LayerSess|abi.LayerStrm)
	if in == nil {
		return
	}
	body, ok := in.p.host.body(c)
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	off := uint64(uint32(s[1]))
	if off > uint64(len(body)) {
		ret(s, abi.ErrArg)
		return
	}
	in.out(s, s[2], s[3], body[off:])
}

// --- variables ---

// vars returns the scope's store: one of the two is set.
func vars(c *fetch.Ctx, scope abi.Scope) (*sample.Vars, *sample.SharedVars, abi.Status) {
	l := effectiveLayers(c)
	switch scope {
	case abi.ScopeProc:
		if c.Proc == nil {
			return nil, nil, abi.ErrUnsupported
		}
		return nil, c.Proc, abi.OK
	case abi.ScopeSess:
		if !l.Has(abi.LayerSess) {
			return nil, nil, abi.ErrLayer
		}
		return nil, &c.Sess.Vars, abi.OK
	case abi.ScopeTxn:
		if !l.Has(abi.LayerStrm) {
			return nil, nil, abi.ErrLayer
		}
		return &c.Strm.Vars, nil, abi.OK
	}
	return nil, nil, abi.ErrArg
}

// validVarName reports whether b names a variable: [A-Za-z0-9_.]+.
func validVarName(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (in *instance) varTarget(s []uint64, c *fetch.Ctx) (*sample.Vars, *sample.SharedVars, []byte, bool) {
	v, sv, st := vars(c, abi.Scope(int32(s[1])))
	if st < 0 {
		ret(s, st)
		return nil, nil, nil, false
	}
	name, ok := in.bytes(s[2], s[3])
	if !ok {
		ret(s, abi.ErrMemory)
		return nil, nil, nil, false
	}
	if !validVarName(name) {
		ret(s, abi.ErrArg)
		return nil, nil, nil, false
	}
	return v, sv, name, true
}

func hVarGet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, 0)
	if in == nil {
		return
	}
	v, sv, name, ok := in.varTarget(s, c)
	if !ok {
		return
	}
	var val sample.Value
	if sv != nil {
		val, ok = sv.Get(unsafeString(name))
	} else {
		val, ok = v.Get(unsafeString(name))
	}
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	in.outValue(s, s[4], s[5], s[6], val)
}

func (in *instance) varSet(s []uint64, c *fetch.Ctx, t uint32, b []byte, i int64) {
	v, sv, name, ok := in.varTarget(s, c)
	if !ok {
		return
	}
	val, ok := decode(t, b, i)
	if !ok {
		ret(s, abi.ErrArg)
		return
	}
	// Vars.Set copies the value; the name becomes a map key, so it must be
	// a real string: intern allocates it once per distinct name.
	if sv != nil {
		sv.Set(in.intern(name), val)
	} else {
		v.Set(in.intern(name), val)
	}
	ret(s, abi.OK)
}

func hVarSetInt(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, 0)
	if in == nil {
		return
	}
	if !abi.Type(uint32(s[4])).Scalar() {
		ret(s, abi.ErrArg)
		return
	}
	in.varSet(s, c, uint32(s[4]), nil, int64(s[5]))
}

func hVarSetBytes(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, 0)
	if in == nil {
		return
	}
	t := abi.Type(uint32(s[4]))
	if t.Scalar() || t == abi.TypeNone {
		ret(s, abi.ErrArg)
		return
	}
	b, ok := in.bytes(s[5], s[6])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	in.varSet(s, c, uint32(t), b, 0)
}

func hVarUnset(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, 0)
	if in == nil {
		return
	}
	v, sv, name, ok := in.varTarget(s, c)
	if !ok {
		return
	}
	if sv != nil {
		sv.Unset(unsafeString(name))
	} else {
		v.Unset(unsafeString(name))
	}
	ret(s, abi.OK)
}

// --- stick counters ---

const scLayers = abi.LayerConn | abi.LayerSess

func hSCGet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, scLayers)
	if in == nil {
		return
	}
	slot := uint32(s[1])
	name, ok := in.bytes(s[2], s[3])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if slot > 99 || !validDatum(name) {
		ret(s, abi.ErrArg)
		return
	}
	// sc<slot>_<name>, evaluated by the sample engine like a rule would.
	expr := append(in.scratch[:0], "sc"...)
	expr = strconv.AppendUint(expr, uint64(slot), 10)
	expr = append(expr, '_')
	expr = append(expr, name...)
	in.scratch = expr
	e, st := in.expr(expr)
	if st < 0 {
		ret(s, st)
		return
	}
	if !effectiveLayers(c).Has(e.Needs()) {
		in.call.layerErr = true
		ret(s, abi.ErrLayer)
		return
	}
	v, ok := e.Eval(c)
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	if !in.mem.WriteUint64Le(uint32(s[4]), uint64(v.Int)) {
		ret(s, abi.ErrMemory)
		return
	}
	ret(s, abi.OK)
}

// validDatum reports whether b may name a stick-table datum: [a-z0-9_]+.
func validDatum(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func hSCGPCAdd(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, scLayers)
	if in == nil {
		return
	}
	sc := in.p.host.opts.Counters
	if sc == nil {
		ret(s, abi.ErrUnsupported)
		return
	}
	v, ok := sc.AddGPC(c, int(uint32(s[1])), int(uint32(s[2])), int64(s[3]))
	if !ok {
		ret(s, abi.ErrNotFound)
		return
	}
	if !in.mem.WriteUint64Le(uint32(s[4]), uint64(v)) {
		ret(s, abi.ErrMemory)
		return
	}
	ret(s, abi.OK)
}

func hSCGPTSet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, scLayers)
	if in == nil {
		return
	}
	sc := in.p.host.opts.Counters
	if sc == nil {
		ret(s, abi.ErrUnsupported)
		return
	}
	if !sc.SetGPT(c, int(uint32(s[1])), int(uint32(s[2])), int64(s[3])) {
		ret(s, abi.ErrNotFound)
		return
	}
	ret(s, abi.OK)
}

// --- routing ---

// Route is a routing decision a plugin made for a stream. It is the core's
// session.Route, kept in Stream.Ext.Route, which the engine reads when it
// chooses the backend, the server or the service. Empty fields were not
// chosen.
type Route = session.Route

// RouteOf returns the plugin routing decision of a stream (a pointer into
// the stream: read it, do not keep it), or nil when nothing was chosen.
func RouteOf(strm *session.Stream) *Route {
	if strm == nil || strm.Ext.Route.Empty() {
		return nil
	}
	return &strm.Ext.Route
}

// maxInterned bounds the per-instance table of interned names.
const maxInterned = 1024

// intern returns a string equal to b, allocating only the first time.
func (in *instance) intern(b []byte) string {
	if s, ok := in.names[unsafeString(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.names) < maxInterned {
		in.names[s] = s
	}
	return s
}

func hRouteSet(ctx context.Context, _ api.Module, s []uint64) {
	in, c := enter(ctx, s, abi.LayerConn|abi.LayerSess|abi.LayerStrm)
	if in == nil {
		return
	}
	name, ok := in.bytes(s[2], s[3])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if len(name) == 0 || len(name) > 128 || !validValue(name) {
		ret(s, abi.ErrArg)
		return
	}
	ret(s, in.setRoute(c, abi.RouteKind(int32(s[1])), name))
}

// setRoute records a routing decision after checking, when the engine
// gave the plugin its generation's names (UseRoutes), that what it names
// exists: a backend of the stream's mode, a server (SERVER, in the backend
// this route or the stream already chose, else the frontend's default
// backend; or BACKEND/SERVER, which chooses both) or a service of the
// stream's mode.
func (in *instance) setRoute(c *fetch.Ctx, kind abi.RouteKind, name []byte) abi.Status {
	r := &c.Strm.Ext.Route
	names := in.p.routeNames()
	http := c.Txn != nil
	// The names are looked up as views of guest memory and interned only
	// once known to exist: interning first would let a plugin fill the
	// bounded intern table with names that do not exist, after which every
	// valid name would allocate.
	switch kind {
	case abi.RouteBackend:
		if names != nil && !names.HasBackend(unsafeString(name), http) {
			return abi.ErrNotFound
		}
		r.Backend = in.intern(name)
	case abi.RouteServer:
		be, srv := r.Backend, name
		var explicit []byte
		if i := bytes.IndexByte(name, '/'); i >= 0 {
			if i == 0 || i == len(name)-1 || bytes.IndexByte(name[i+1:], '/') >= 0 {
				return abi.ErrArg
			}
			explicit, srv = name[:i], name[i+1:]
			be = unsafeString(explicit)
		} else if be == "" {
			be = c.Strm.Backend
		}
		if names != nil {
			if explicit != nil && !names.HasBackend(be, http) {
				return abi.ErrNotFound
			}
			if !names.HasServer(c.Sess.Frontend, be, unsafeString(srv)) {
				return abi.ErrNotFound
			}
		}
		if explicit != nil {
			r.Backend = in.intern(explicit)
		}
		r.Server = in.intern(srv)
	case abi.RouteService:
		if names != nil && !names.HasService(unsafeString(name), http) {
			return abi.ErrNotFound
		}
		r.Service = in.intern(name)
	default:
		return abi.ErrArg
	}
	return abi.OK
}

// --- replies ---

func replyOf(ctx context.Context, s []uint64) (*instance, *Reply) {
	in, _ := enter(ctx, s, abi.LayerConn|abi.LayerSess|abi.LayerStrm)
	if in == nil {
		return nil, nil
	}
	if in.call.reply == nil {
		ret(s, abi.ErrState)
		return nil, nil
	}
	return in, in.call.reply
}

func hReplyStatus(ctx context.Context, _ api.Module, s []uint64) {
	_, r := replyOf(ctx, s)
	if r == nil {
		return
	}
	code := int(int32(s[1]))
	if code < 100 || code > 599 {
		ret(s, abi.ErrArg)
		return
	}
	r.Status = code
	ret(s, abi.OK)
}

func hReplyHeaderAdd(ctx context.Context, _ api.Module, s []uint64) {
	in, r := replyOf(ctx, s)
	if r == nil {
		return
	}
	name, ok1 := in.bytes(s[1], s[2])
	value, ok2 := in.bytes(s[3], s[4])
	if !ok1 || !ok2 {
		ret(s, abi.ErrMemory)
		return
	}
	if !validToken(name) || !validValue(value) {
		ret(s, abi.ErrArg)
		return
	}
	if len(r.Header) >= abi.MaxReplyHeaders {
		ret(s, abi.ErrLimit)
		return
	}
	r.Header = append(r.Header, h1.Field{Name: r.keep(name), Value: r.keep(value)})
	ret(s, abi.OK)
}

func hReplyBodyWrite(ctx context.Context, _ api.Module, s []uint64) {
	in, r := replyOf(ctx, s)
	if r == nil {
		return
	}
	b, ok := in.bytes(s[1], s[2])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if len(r.Body)+len(b) > abi.MaxReplyBytes {
		ret(s, abi.ErrLimit)
		return
	}
	r.Body = append(r.Body, b...)
	ret(s, abi.OK)
}

// --- log, trace, clocks, random ---

var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func hLog(ctx context.Context, _ api.Module, s []uint64) {
	in := inst(ctx)
	if in == nil {
		ret(s, abi.ErrState)
		return
	}
	var c *fetch.Ctx
	if h := uint32(s[0]); h != 0 {
		if !in.inCall || h != in.handle {
			ret(s, abi.ErrHandle)
			return
		}
		c = in.call.ctx
	}
	lv := uint32(s[1])
	if lv >= uint32(len(logLevels)) {
		ret(s, abi.ErrArg)
		return
	}
	msg, ok := in.bytes(s[2], s[3])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	p := in.p
	level := logLevels[lv]
	if !p.log.Enabled(context.Background(), level) {
		ret(s, abi.OK)
		return
	}
	if !p.limiter.allow(time.Now()) {
		ret(s, abi.ErrLimit)
		return
	}
	if sp := in.call.span; sp != nil {
		attrs := append([]slog.Attr{slog.String("source", "guest"), slog.Uint64("stream", streamID(c))}, telemetry.LogAttrs(sp)...)
		p.log.LogAttrs(context.Background(), level, string(msg), attrs...)
	} else {
		p.log.LogAttrs(context.Background(), level, string(msg), slog.String("source", "guest"), slog.Uint64("stream", streamID(c)))
	}
	ret(s, abi.OK)
}

func hClockMonotonic(ctx context.Context, _ api.Module, s []uint64) {
	if in := inst(ctx); in != nil {
		s[0] = uint64(in.p.host.monotonic())
		return
	}
	s[0] = 0
}

func hClockWall(_ context.Context, _ api.Module, s []uint64) {
	s[0] = uint64(time.Now().UnixNano())
}

func hRandomFill(ctx context.Context, _ api.Module, s []uint64) {
	in := inst(ctx)
	if in == nil {
		ret(s, abi.ErrState)
		return
	}
	b, ok := in.bytes(s[0], s[1])
	if !ok {
		ret(s, abi.ErrMemory)
		return
	}
	if _, err := rand.Read(b); err != nil {
		ret(s, abi.ErrInternal)
		return
	}
	ret(s, abi.OK)
}
