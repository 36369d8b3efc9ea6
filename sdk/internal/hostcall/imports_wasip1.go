//go:build wasip1

// Code generated from the ABI v1 host function list; keep in step with
// abi.HostFuncs (a test loads every import into the host).

package hostcall

import "unsafe"

//go:wasmimport strata_v1 layers
//go:noescape
func hLayers(ctx uint32) int32

//go:wasmimport strata_v1 arg_count
//go:noescape
func hArgCount(ctx uint32) int32

//go:wasmimport strata_v1 arg_get
//go:noescape
func hArgGet(ctx uint32, index uint32, typePtr unsafe.Pointer, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 input_get
//go:noescape
func hInputGet(ctx uint32, typePtr unsafe.Pointer, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 result_int
//go:noescape
func hResultInt(ctx uint32, typ uint32, value int64) int32

//go:wasmimport strata_v1 result_bytes
//go:noescape
func hResultBytes(ctx uint32, typ uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 sample_eval
//go:noescape
func hSampleEval(ctx uint32, expr unsafe.Pointer, exprLen uint32, typePtr unsafe.Pointer, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 config_get
//go:noescape
func hConfigGet(buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 register_fetch
//go:noescape
func hRegisterFetch(id uint32, name unsafe.Pointer, nameLen uint32, needs uint32, out uint32, argTypes unsafe.Pointer, argCount uint32, minArgs uint32) int32

//go:wasmimport strata_v1 register_converter
//go:noescape
func hRegisterConverter(id uint32, name unsafe.Pointer, nameLen uint32, in uint32, out uint32, argTypes unsafe.Pointer, argCount uint32, minArgs uint32) int32

//go:wasmimport strata_v1 register_action
//go:noescape
func hRegisterAction(id uint32, name unsafe.Pointer, nameLen uint32, points uint32, minArgs uint32, maxArgs uint32) int32

//go:wasmimport strata_v1 register_target
//go:noescape
func hRegisterTarget(id uint32, name unsafe.Pointer, nameLen uint32, minArgs uint32, maxArgs uint32) int32

//go:wasmimport strata_v1 register_service
//go:noescape
func hRegisterService(id uint32, name unsafe.Pointer, nameLen uint32, modes uint32, minArgs uint32, maxArgs uint32) int32

//go:wasmimport strata_v1 req_header_get
//go:noescape
func hReqHeaderGet(ctx uint32, name unsafe.Pointer, nameLen uint32, index uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 req_header_set
//go:noescape
func hReqHeaderSet(ctx uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 req_header_add
//go:noescape
func hReqHeaderAdd(ctx uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 req_header_del
//go:noescape
func hReqHeaderDel(ctx uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport strata_v1 resp_header_get
//go:noescape
func hRespHeaderGet(ctx uint32, name unsafe.Pointer, nameLen uint32, index uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 resp_header_set
//go:noescape
func hRespHeaderSet(ctx uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 resp_header_add
//go:noescape
func hRespHeaderAdd(ctx uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 resp_header_del
//go:noescape
func hRespHeaderDel(ctx uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport strata_v1 req_method_get
//go:noescape
func hReqMethodGet(ctx uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 req_method_set
//go:noescape
func hReqMethodSet(ctx uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 req_path_get
//go:noescape
func hReqPathGet(ctx uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 req_path_set
//go:noescape
func hReqPathSet(ctx uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 req_query_get
//go:noescape
func hReqQueryGet(ctx uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 req_query_set
//go:noescape
func hReqQuerySet(ctx uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 resp_status_get
//go:noescape
func hRespStatusGet(ctx uint32) int32

//go:wasmimport strata_v1 resp_status_set
//go:noescape
func hRespStatusSet(ctx uint32, code uint32) int32

//go:wasmimport strata_v1 req_body_read
//go:noescape
func hReqBodyRead(ctx uint32, offset uint32, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 var_get
//go:noescape
func hVarGet(ctx uint32, scope uint32, name unsafe.Pointer, nameLen uint32, typePtr unsafe.Pointer, buf unsafe.Pointer, cap uint32) int32

//go:wasmimport strata_v1 var_set_int
//go:noescape
func hVarSetInt(ctx uint32, scope uint32, name unsafe.Pointer, nameLen uint32, typ uint32, value int64) int32

//go:wasmimport strata_v1 var_set_bytes
//go:noescape
func hVarSetBytes(ctx uint32, scope uint32, name unsafe.Pointer, nameLen uint32, typ uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 var_unset
//go:noescape
func hVarUnset(ctx uint32, scope uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport strata_v1 sc_get
//go:noescape
func hScGet(ctx uint32, slot uint32, name unsafe.Pointer, nameLen uint32, out unsafe.Pointer) int32

//go:wasmimport strata_v1 sc_gpc_add
//go:noescape
func hScGpcAdd(ctx uint32, slot uint32, index uint32, delta int64, out unsafe.Pointer) int32

//go:wasmimport strata_v1 sc_gpt_set
//go:noescape
func hScGptSet(ctx uint32, slot uint32, index uint32, value int64) int32

//go:wasmimport strata_v1 route_set
//go:noescape
func hRouteSet(ctx uint32, kind uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport strata_v1 reply_status
//go:noescape
func hReplyStatus(ctx uint32, code uint32) int32

//go:wasmimport strata_v1 reply_header_add
//go:noescape
func hReplyHeaderAdd(ctx uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 reply_body_write
//go:noescape
func hReplyBodyWrite(ctx uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport strata_v1 log
//go:noescape
func hLog(ctx uint32, level uint32, msg unsafe.Pointer, msgLen uint32) int32

//go:wasmimport strata_v1 span_attr_str
//go:noescape
func hSpanAttrStr(ctx uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport strata_v1 span_attr_int
//go:noescape
func hSpanAttrInt(ctx uint32, key unsafe.Pointer, keyLen uint32, value int64) int32

//go:wasmimport strata_v1 span_event
//go:noescape
func hSpanEvent(ctx uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport strata_v1 clock_monotonic
//go:noescape
func hClockMonotonic() int64

//go:wasmimport strata_v1 clock_wall
//go:noescape
func hClockWall() int64

//go:wasmimport strata_v1 random_fill
//go:noescape
func hRandomFill(buf unsafe.Pointer, n uint32) int32
