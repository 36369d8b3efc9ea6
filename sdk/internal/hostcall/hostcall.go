// Package hostcall is the seam between the SDK and the host. Every call the
// SDK makes to strata goes through the Host interface: on wasip1 the
// implementation is the strata_v1 imports (wasm.go); in a native test binary
// sdktest installs a fake. Methods mirror the ABI one to one and keep its
// buffer protocol: they return the full length and write min(len, cap(buf))
// bytes into buf[:cap].
package hostcall

import "github.com/strata-proxy/strata/abi"

// Host is the set of host functions, in Go types. A negative abi.Status in a
// result is an error; a non-negative one is a length, count or code.
type Host interface {
	Layers(h uint32) abi.Status
	ArgCount(h uint32) abi.Status
	ArgGet(h uint32, index int, typ *abi.Type, buf []byte) abi.Status
	InputGet(h uint32, typ *abi.Type, buf []byte) abi.Status
	ResultInt(h uint32, t abi.Type, v int64) abi.Status
	ResultBytes(h uint32, t abi.Type, b []byte) abi.Status
	SampleEval(h uint32, expr string, typ *abi.Type, buf []byte) abi.Status
	ConfigGet(buf []byte) abi.Status

	RegisterFetch(id uint32, name string, needs abi.Layers, out abi.Type, args []abi.Type, minArgs int) abi.Status
	RegisterConverter(id uint32, name string, in, out abi.Type, args []abi.Type, minArgs int) abi.Status
	RegisterAction(id uint32, name string, points abi.Point, minArgs, maxArgs int) abi.Status
	RegisterTarget(id uint32, name string, minArgs, maxArgs int) abi.Status
	RegisterService(id uint32, name string, modes abi.ServiceMode, minArgs, maxArgs int) abi.Status

	// HeaderGet, HeaderSet, HeaderAdd and HeaderDel act on the request when
	// resp is false, on the response when it is true.
	HeaderGet(h uint32, resp bool, name string, index int, buf []byte) abi.Status
	HeaderSet(h uint32, resp bool, name, value string) abi.Status
	HeaderAdd(h uint32, resp bool, name, value string) abi.Status
	HeaderDel(h uint32, resp bool, name string) abi.Status
	// FieldGet and FieldSet read and replace the request method, path or
	// query.
	FieldGet(h uint32, f Field, buf []byte) abi.Status
	FieldSet(h uint32, f Field, v string) abi.Status
	RespStatusGet(h uint32) abi.Status
	RespStatusSet(h uint32, code int) abi.Status
	ReqBodyRead(h uint32, offset int, buf []byte) abi.Status

	VarGet(h uint32, scope abi.Scope, name string, typ *abi.Type, buf []byte) abi.Status
	VarSetInt(h uint32, scope abi.Scope, name string, t abi.Type, v int64) abi.Status
	VarSetBytes(h uint32, scope abi.Scope, name string, t abi.Type, b []byte) abi.Status
	VarUnset(h uint32, scope abi.Scope, name string) abi.Status

	SCGet(h uint32, slot int, name string, out *int64) abi.Status
	SCGPCAdd(h uint32, slot, index int, delta int64, out *int64) abi.Status
	SCGPTSet(h uint32, slot, index int, v int64) abi.Status

	RouteSet(h uint32, kind abi.RouteKind, name string) abi.Status

	ReplyStatus(h uint32, code int) abi.Status
	ReplyHeaderAdd(h uint32, name, value string) abi.Status
	ReplyBodyWrite(h uint32, b []byte) abi.Status

	Log(h uint32, level abi.LogLevel, msg string) abi.Status
	SpanAttrStr(h uint32, key, value string) abi.Status
	SpanAttrInt(h uint32, key string, v int64) abi.Status
	SpanEvent(h uint32, name string) abi.Status

	ClockMonotonic() int64
	ClockWall() int64
	RandomFill(b []byte) abi.Status
}

// Field names a part of the request line.
type Field uint8

const (
	Method Field = iota
	Path
	Query
)

// Impl is the host in use. On wasip1 it is set at start-up to the import
// implementation; sdktest replaces it in native tests.
var Impl Host
