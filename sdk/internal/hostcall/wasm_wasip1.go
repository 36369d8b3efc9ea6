//go:build wasip1

package hostcall

import (
	"unsafe"

	"github.com/strata-proxy/strata/abi"
)

func init() { Impl = wasmHost{} }

// wasmHost calls the strata_v1 imports. Pointers passed to the host point
// into Go memory, which the Go collector does not move.
type wasmHost struct{}

func bp(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

func bcap(b []byte) (unsafe.Pointer, uint32) {
	b = b[:cap(b)]
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

func sp(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func st(r int32) abi.Status { return abi.Status(r) }

func (wasmHost) Layers(h uint32) abi.Status   { return st(hLayers(h)) }
func (wasmHost) ArgCount(h uint32) abi.Status { return st(hArgCount(h)) }
func (wasmHost) ArgGet(h uint32, index int, typ *abi.Type, buf []byte) abi.Status {
	p, n := bcap(buf)
	return st(hArgGet(h, uint32(index), unsafe.Pointer(typ), p, n))
}
func (wasmHost) InputGet(h uint32, typ *abi.Type, buf []byte) abi.Status {
	p, n := bcap(buf)
	return st(hInputGet(h, unsafe.Pointer(typ), p, n))
}
func (wasmHost) ResultInt(h uint32, t abi.Type, v int64) abi.Status {
	return st(hResultInt(h, uint32(t), v))
}
func (wasmHost) ResultBytes(h uint32, t abi.Type, b []byte) abi.Status {
	p, n := bp(b)
	return st(hResultBytes(h, uint32(t), p, n))
}
func (wasmHost) SampleEval(h uint32, expr string, typ *abi.Type, buf []byte) abi.Status {
	ep, en := sp(expr)
	p, n := bcap(buf)
	return st(hSampleEval(h, ep, en, unsafe.Pointer(typ), p, n))
}
func (wasmHost) ConfigGet(buf []byte) abi.Status {
	p, n := bcap(buf)
	return st(hConfigGet(p, n))
}

func typesPtr(ts []abi.Type) (unsafe.Pointer, uint32) {
	b := make([]byte, len(ts))
	for i, t := range ts {
		b[i] = byte(t)
	}
	return bp(b)
}

func (wasmHost) RegisterFetch(id uint32, name string, needs abi.Layers, out abi.Type, args []abi.Type, minArgs int) abi.Status {
	np, nn := sp(name)
	ap, an := typesPtr(args)
	return st(hRegisterFetch(id, np, nn, uint32(needs), uint32(out), ap, an, uint32(minArgs)))
}
func (wasmHost) RegisterConverter(id uint32, name string, in, out abi.Type, args []abi.Type, minArgs int) abi.Status {
	np, nn := sp(name)
	ap, an := typesPtr(args)
	return st(hRegisterConverter(id, np, nn, uint32(in), uint32(out), ap, an, uint32(minArgs)))
}
func (wasmHost) RegisterAction(id uint32, name string, points abi.Point, minArgs, maxArgs int) abi.Status {
	np, nn := sp(name)
	return st(hRegisterAction(id, np, nn, uint32(points), uint32(minArgs), uint32(maxArgs)))
}
func (wasmHost) RegisterTarget(id uint32, name string, minArgs, maxArgs int) abi.Status {
	np, nn := sp(name)
	return st(hRegisterTarget(id, np, nn, uint32(minArgs), uint32(maxArgs)))
}
func (wasmHost) RegisterService(id uint32, name string, modes abi.ServiceMode, minArgs, maxArgs int) abi.Status {
	np, nn := sp(name)
	return st(hRegisterService(id, np, nn, uint32(modes), uint32(minArgs), uint32(maxArgs)))
}

func (wasmHost) HeaderGet(h uint32, resp bool, name string, index int, buf []byte) abi.Status {
	np, nn := sp(name)
	p, n := bcap(buf)
	if resp {
		return st(hRespHeaderGet(h, np, nn, uint32(index), p, n))
	}
	return st(hReqHeaderGet(h, np, nn, uint32(index), p, n))
}
func (wasmHost) HeaderSet(h uint32, resp bool, name, value string) abi.Status {
	np, nn := sp(name)
	vp, vn := sp(value)
	if resp {
		return st(hRespHeaderSet(h, np, nn, vp, vn))
	}
	return st(hReqHeaderSet(h, np, nn, vp, vn))
}
func (wasmHost) HeaderAdd(h uint32, resp bool, name, value string) abi.Status {
	np, nn := sp(name)
	vp, vn := sp(value)
	if resp {
		return st(hRespHeaderAdd(h, np, nn, vp, vn))
	}
	return st(hReqHeaderAdd(h, np, nn, vp, vn))
}
func (wasmHost) HeaderDel(h uint32, resp bool, name string) abi.Status {
	np, nn := sp(name)
	if resp {
		return st(hRespHeaderDel(h, np, nn))
	}
	return st(hReqHeaderDel(h, np, nn))
}
func (wasmHost) FieldGet(h uint32, f Field, buf []byte) abi.Status {
	p, n := bcap(buf)
	switch f {
	case Method:
		return st(hReqMethodGet(h, p, n))
	case Path:
		return st(hReqPathGet(h, p, n))
	default:
		return st(hReqQueryGet(h, p, n))
	}
}
func (wasmHost) FieldSet(h uint32, f Field, v string) abi.Status {
	p, n := sp(v)
	switch f {
	case Method:
		return st(hReqMethodSet(h, p, n))
	case Path:
		return st(hReqPathSet(h, p, n))
	default:
		return st(hReqQuerySet(h, p, n))
	}
}
func (wasmHost) RespStatusGet(h uint32) abi.Status { return st(hRespStatusGet(h)) }
func (wasmHost) RespStatusSet(h uint32, code int) abi.Status {
	return st(hRespStatusSet(h, uint32(code)))
}
func (wasmHost) ReqBodyRead(h uint32, offset int, buf []byte) abi.Status {
	p, n := bcap(buf)
	return st(hReqBodyRead(h, uint32(offset), p, n))
}

func (wasmHost) VarGet(h uint32, scope abi.Scope, name string, typ *abi.Type, buf []byte) abi.Status {
	np, nn := sp(name)
	p, n := bcap(buf)
	return st(hVarGet(h, uint32(scope), np, nn, unsafe.Pointer(typ), p, n))
}
func (wasmHost) VarSetInt(h uint32, scope abi.Scope, name string, t abi.Type, v int64) abi.Status {
	np, nn := sp(name)
	return st(hVarSetInt(h, uint32(scope), np, nn, uint32(t), v))
}
func (wasmHost) VarSetBytes(h uint32, scope abi.Scope, name string, t abi.Type, b []byte) abi.Status {
	np, nn := sp(name)
	p, n := bp(b)
	return st(hVarSetBytes(h, uint32(scope), np, nn, uint32(t), p, n))
}
func (wasmHost) VarUnset(h uint32, scope abi.Scope, name string) abi.Status {
	np, nn := sp(name)
	return st(hVarUnset(h, uint32(scope), np, nn))
}

func (wasmHost) SCGet(h uint32, slot int, name string, out *int64) abi.Status {
	np, nn := sp(name)
	return st(hScGet(h, uint32(slot), np, nn, unsafe.Pointer(out)))
}
func (wasmHost) SCGPCAdd(h uint32, slot, index int, delta int64, out *int64) abi.Status {
	return st(hScGpcAdd(h, uint32(slot), uint32(index), delta, unsafe.Pointer(out)))
}
func (wasmHost) SCGPTSet(h uint32, slot, index int, v int64) abi.Status {
	return st(hScGptSet(h, uint32(slot), uint32(index), v))
}

func (wasmHost) RouteSet(h uint32, kind abi.RouteKind, name string) abi.Status {
	np, nn := sp(name)
	return st(hRouteSet(h, uint32(kind), np, nn))
}

func (wasmHost) ReplyStatus(h uint32, code int) abi.Status { return st(hReplyStatus(h, uint32(code))) }
func (wasmHost) ReplyHeaderAdd(h uint32, name, value string) abi.Status {
	np, nn := sp(name)
	vp, vn := sp(value)
	return st(hReplyHeaderAdd(h, np, nn, vp, vn))
}
func (wasmHost) ReplyBodyWrite(h uint32, b []byte) abi.Status {
	p, n := bp(b)
	return st(hReplyBodyWrite(h, p, n))
}

func (wasmHost) Log(h uint32, level abi.LogLevel, msg string) abi.Status {
	p, n := sp(msg)
	return st(hLog(h, uint32(level), p, n))
}
func (wasmHost) SpanAttrStr(h uint32, key, value string) abi.Status {
	kp, kn := sp(key)
	vp, vn := sp(value)
	return st(hSpanAttrStr(h, kp, kn, vp, vn))
}
func (wasmHost) SpanAttrInt(h uint32, key string, v int64) abi.Status {
	kp, kn := sp(key)
	return st(hSpanAttrInt(h, kp, kn, v))
}
func (wasmHost) SpanEvent(h uint32, name string) abi.Status {
	np, nn := sp(name)
	return st(hSpanEvent(h, np, nn))
}

func (wasmHost) ClockMonotonic() int64 { return hClockMonotonic() }
func (wasmHost) ClockWall() int64      { return hClockWall() }
func (wasmHost) RandomFill(b []byte) abi.Status {
	p, n := bp(b)
	return st(hRandomFill(p, n))
}
