// Command bad is a Proxy-Wasm test filter that misbehaves as its plugin
// configuration says:
//
//	trap:CALLBACK  panics in configure, request_headers, request_body,
//	               response_headers, response_body, log or tick
//	loop           spins forever in request_headers
//	never          pauses the request and never resumes it
//	badptr         calls one host function of each group with pointers
//	               outside its memory and reports the statuses it got in
//	               the request header x-statuses
package main

import (
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

var mode string

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &pluginContext{} })
}

type pluginContext struct{ types.DefaultPluginContext }

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	mode = string(cfg)
	trapIf("configure")
	if mode == "trap:tick" {
		if err := proxywasm.SetTickPeriodMilliSeconds(10); err != nil {
			panic(err)
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() { trapIf("tick") }

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func trapIf(where string) {
	if mode == "trap:"+where {
		panic("trap in " + where)
	}
}

var sink int

func (*httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	trapIf("request_headers")
	switch mode {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "never":
		return types.ActionPause
	case "badptr":
		var st []string
		for _, c := range badCalls {
			st = append(st, c.name+"="+strconv.Itoa(int(c.call())))
		}
		if err := proxywasm.AddHttpRequestHeader("x-statuses", strings.Join(st, ",")); err != nil {
			panic(err)
		}
	}
	return types.ActionContinue
}

func (*httpContext) OnHttpRequestBody(int, bool) types.Action {
	trapIf("request_body")
	return types.ActionContinue
}

func (*httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	trapIf("response_headers")
	return types.ActionContinue
}

func (*httpContext) OnHttpResponseBody(int, bool) types.Action {
	trapIf("response_body")
	return types.ActionContinue
}

func (*httpContext) OnHttpStreamDone() { trapIf("log") }

// bad is an address past the end of any memory this module has.
const bad = 0xfffffff0

var badCalls = []struct {
	name string
	call func() uint32
}{
	{"log", func() uint32 { return rawLog(2, bad, 100) }},
	{"headers", func() uint32 { return rawGetHeaderMapValue(0, bad, 10, bad, bad) }},
	{"header_pairs", func() uint32 { return rawGetHeaderMapPairs(0, bad, bad) }},
	{"buffers", func() uint32 { return rawGetBufferBytes(7, 0, 10, bad, bad) }},
	{"properties", func() uint32 { return rawGetProperty(bad, 10, bad, bad) }},
	{"shared_data", func() uint32 { return rawGetSharedData(bad, 10, bad, bad, bad) }},
	{"queues", func() uint32 { return rawRegisterSharedQueue(bad, 10, bad) }},
	{"metrics", func() uint32 { return rawDefineMetric(0, bad, 10, bad) }},
	{"http_call", func() uint32 { return rawHTTPCall(bad, 10, bad, 10, 0, 0, 0, 0, 1000, bad) }},
	{"local_response", func() uint32 { return rawSendLocalResponse(200, 0, 0, bad, 10, 0, 0, -1) }},
	{"clock", func() uint32 { return rawCurrentTime(bad) }},
}

//go:wasmimport env proxy_log
func rawLog(level, msg, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func rawGetHeaderMapValue(mapType, key, keySize, retData, retSize uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func rawGetHeaderMapPairs(mapType, retData, retSize uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func rawGetBufferBytes(bufType, start, max, retData, retSize uint32) uint32

//go:wasmimport env proxy_get_property
func rawGetProperty(path, pathSize, retData, retSize uint32) uint32

//go:wasmimport env proxy_get_shared_data
func rawGetSharedData(key, keySize, retData, retSize, retCas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func rawRegisterSharedQueue(name, nameSize, retID uint32) uint32

//go:wasmimport env proxy_define_metric
func rawDefineMetric(kind, name, nameSize, retID uint32) uint32

//go:wasmimport env proxy_http_call
func rawHTTPCall(up, upSize, hdrs, hdrsSize, body, bodySize, trls, trlsSize, timeout, retToken uint32) uint32

//go:wasmimport env proxy_send_local_response
func rawSendLocalResponse(status, details, detailsSize, body, bodySize, hdrs, hdrsSize uint32, grpc int32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func rawCurrentTime(ret uint32) uint32
