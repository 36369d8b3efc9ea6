package proxywasm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/plugins"
)

// The ABI's markers: a module exports one of them (and nothing else of
// the kind) to say which version it targets.
const (
	MarkerV020 = "proxy_abi_version_0_2_0"
	MarkerV021 = "proxy_abi_version_0_2_1"
	// ImportModule is the module Proxy-Wasm host functions are imported
	// from.
	ImportModule = "env"
)

// status is proxy_status_t.
type status int32

const (
	stOK                   status = 0
	stNotFound             status = 1
	stBadArgument          status = 2
	stSerializationFailure status = 3
	stInvalidMemoryAccess  status = 6
	stEmpty                status = 7
	stCASMismatch          status = 8
	stInternalFailure      status = 10
	stUnimplemented        status = 12
)

// Actions (proxy_action_t) a stream callback returns.
const (
	actionContinue = 0
	actionPause    = 1
)

// proxy_map_type_t.
const (
	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7
)

// proxy_buffer_type_t.
const (
	bufRequestBody      = 0
	bufResponseBody     = 1
	bufCallResponseBody = 4
	bufVMConfiguration  = 6
	bufPluginConfig     = 7
	bufForeignArgs      = 8
)

// proxy_stream_type_t.
const (
	streamRequest  = 0
	streamResponse = 1
)

// proxy_metric_type_t.
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// Exports the host calls (callbacks), by name.
const (
	fnMemoryAllocate   = "proxy_on_memory_allocate"
	fnMalloc           = "malloc"
	fnContextCreate    = "proxy_on_context_create"
	fnVMStart          = "proxy_on_vm_start"
	fnConfigure        = "proxy_on_configure"
	fnRequestHeaders   = "proxy_on_request_headers"
	fnRequestBody      = "proxy_on_request_body"
	fnRequestTrailers  = "proxy_on_request_trailers"
	fnResponseHeaders  = "proxy_on_response_headers"
	fnResponseBody     = "proxy_on_response_body"
	fnResponseTrailers = "proxy_on_response_trailers"
	fnDone             = "proxy_on_done"
	fnLog              = "proxy_on_log"
	fnDelete           = "proxy_on_delete"
	fnTick             = "proxy_on_tick"
	fnQueueReady       = "proxy_on_queue_ready"
	fnHTTPCallResponse = "proxy_on_http_call_response"
)

// callbackSigs are the signatures of the callbacks strata calls: an export
// of one of these names with another signature is refused at load, so a
// call never fails for want of an argument.
var callbackSigs = map[string]string{
	fnMemoryAllocate: "i>i", fnMalloc: "i>i",
	fnContextCreate: "ii>", fnVMStart: "ii>i", fnConfigure: "ii>i",
	fnRequestHeaders: "iii>i", fnRequestBody: "iii>i", fnRequestTrailers: "ii>i",
	fnResponseHeaders: "iii>i", fnResponseBody: "iii>i", fnResponseTrailers: "ii>i",
	fnDone: "i>i", fnLog: "i>", fnDelete: "i>", fnTick: "i>", fnQueueReady: "ii>",
	fnHTTPCallResponse: "iiiii>",
}

// hostFunc is one host function of the ABI: its signature ("iii>i": i32
// parameters, then results; I is i64) and its implementation.
type hostFunc struct {
	sig string
	fn  api.GoModuleFunc
}

// hostFuncs is every host function of Proxy-Wasm 0.2.1 (hostfuncs.go).
var hostFuncs = map[string]hostFunc{
	"proxy_log":                          {"iii>i", hLog},
	"proxy_get_log_level":                {"i>i", hGetLogLevel},
	"proxy_get_current_time_nanoseconds": {"i>i", hCurrentTime},
	"proxy_set_tick_period_milliseconds": {"i>i", hSetTickPeriod},
	"proxy_done":                         {">i", hDone},
	"proxy_set_effective_context":        {"i>i", hSetEffectiveContext},
	"proxy_get_buffer_bytes":             {"iiiii>i", hGetBufferBytes},
	"proxy_set_buffer_bytes":             {"iiiii>i", hSetBufferBytes},
	"proxy_get_buffer_status":            {"iii>i", hGetBufferStatus},
	"proxy_get_header_map_size":          {"ii>i", hGetHeaderMapSize},
	"proxy_get_header_map_pairs":         {"iii>i", hGetHeaderMapPairs},
	"proxy_set_header_map_pairs":         {"iii>i", hSetHeaderMapPairs},
	"proxy_get_header_map_value":         {"iiiii>i", hGetHeaderMapValue},
	"proxy_add_header_map_value":         {"iiiii>i", hAddHeaderMapValue},
	"proxy_replace_header_map_value":     {"iiiii>i", hReplaceHeaderMapValue},
	"proxy_remove_header_map_value":      {"iii>i", hRemoveHeaderMapValue},
	"proxy_continue_stream":              {"i>i", hContinueStream},
	"proxy_close_stream":                 {"i>i", hCloseStream},
	"proxy_get_status":                   {"iii>i", hGetStatus},
	"proxy_send_local_response":          {"iiiiiiii>i", hSendLocalResponse},
	"proxy_http_call":                    {"iiiiiiiiii>i", hHTTPCall},
	"proxy_grpc_call":                    {"iiiiiiiiiiii>i", hUnimplemented},
	"proxy_grpc_stream":                  {"iiiiiiiii>i", hUnimplemented},
	"proxy_grpc_send":                    {"iiii>i", hUnimplemented},
	"proxy_grpc_cancel":                  {"i>i", hUnimplemented},
	"proxy_grpc_close":                   {"i>i", hUnimplemented},
	"proxy_set_shared_data":              {"iiiii>i", hSetSharedData},
	"proxy_get_shared_data":              {"iiiii>i", hGetSharedData},
	"proxy_register_shared_queue":        {"iii>i", hRegisterSharedQueue},
	"proxy_resolve_shared_queue":         {"iiiii>i", hResolveSharedQueue},
	"proxy_enqueue_shared_queue":         {"iii>i", hEnqueueSharedQueue},
	"proxy_dequeue_shared_queue":         {"iii>i", hDequeueSharedQueue},
	"proxy_define_metric":                {"iiii>i", hDefineMetric},
	"proxy_record_metric":                {"iI>i", hRecordMetric},
	"proxy_increment_metric":             {"iI>i", hIncrementMetric},
	"proxy_get_metric":                   {"ii>i", hGetMetric},
	"proxy_get_property":                 {"iiii>i", hGetProperty},
	"proxy_set_property":                 {"iiii>i", hSetProperty},
	"proxy_call_foreign_function":        {"iiiiii>i", hCallForeignFunction},
}

// types parses a signature into wazero value types.
func types(sig string) (params, results []api.ValueType) {
	in, out, _ := strings.Cut(sig, ">")
	conv := func(s string) []api.ValueType {
		ts := make([]api.ValueType, len(s))
		for i, c := range s {
			ts[i] = api.ValueTypeI32
			if c == 'I' {
				ts[i] = api.ValueTypeI64
			}
		}
		return ts
	}
	return conv(in), conv(out)
}

// sigOf writes a function definition's signature in the form of hostFunc.
func sigOf(d api.FunctionDefinition) string {
	var b strings.Builder
	w := func(ts []api.ValueType) {
		for _, t := range ts {
			switch t {
			case api.ValueTypeI32:
				b.WriteByte('i')
			case api.ValueTypeI64:
				b.WriteByte('I')
			default:
				b.WriteString(api.ValueTypeName(t))
			}
		}
	}
	w(d.ParamTypes())
	b.WriteByte('>')
	w(d.ResultTypes())
	return b.String()
}

// flavour is the plugins.Flavour of Proxy-Wasm: it claims modules by their
// marker, checks their imports against hostFuncs, and instantiates the
// "env" host module.
type flavour struct{}

var _ plugins.Flavour = flavour{}

// Flavour is what plugins.HostOptions.Flavours needs to load Proxy-Wasm
// modules.
var Flavour plugins.Flavour = flavour{}

func (flavour) Claim(exports map[string]api.FunctionDefinition) string {
	if _, ok := exports[MarkerV021]; ok {
		return "proxy-wasm 0.2.1"
	}
	if _, ok := exports[MarkerV020]; ok {
		return "proxy-wasm 0.2.0"
	}
	return ""
}

func (flavour) Markers() []string {
	return []string{MarkerV020 + " or " + MarkerV021 + " (Proxy-Wasm)"}
}

// Check refuses a module importing what the host lacks or exporting a
// callback with another signature, listing every problem at once.
func (flavour) Check(cm wazero.CompiledModule) error {
	var problems, unknown, badSig []string
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch mod {
		case "wasi_snapshot_preview1", "strata_instrument":
		case ImportModule:
			hf, ok := hostFuncs[name]
			if !ok {
				unknown = append(unknown, mod+"."+name)
				continue
			}
			if got := sigOf(d); got != hf.sig {
				badSig = append(badSig, fmt.Sprintf("%s is %s, the host has %s", name, got, hf.sig))
			}
		default:
			unknown = append(unknown, mod+"."+name+" (unknown module)")
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		problems = append(problems, "imports functions the host does not have: "+strings.Join(unknown, ", "))
	}
	if len(badSig) > 0 {
		sort.Strings(badSig)
		problems = append(problems, "imports with wrong signatures: "+strings.Join(badSig, "; "))
	}
	exports := cm.ExportedFunctions()
	for name, want := range callbackSigs {
		if d, ok := exports[name]; ok && sigOf(d) != want {
			problems = append(problems, fmt.Sprintf("export %s is %s, want %s", name, sigOf(d), want))
		}
	}
	if _, ok := exports[fnMemoryAllocate]; !ok {
		if _, ok := exports[fnMalloc]; !ok {
			problems = append(problems, "exports neither "+fnMemoryAllocate+" nor "+fnMalloc)
		}
	}
	if _, ok := exports[fnContextCreate]; !ok {
		problems = append(problems, "does not export "+fnContextCreate)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		problems = append(problems, "exports no memory called \"memory\"")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%w: Proxy-Wasm module: %s", plugins.ErrRefused, strings.Join(problems, "; "))
	}
	return nil
}

// Instantiate builds the "env" module with every host function.
func (flavour) Instantiate(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(ImportModule)
	names := make([]string, 0, len(hostFuncs))
	for n := range hostFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hf := hostFuncs[n]
		ps, rs := types(hf.sig)
		b.NewFunctionBuilder().WithGoModuleFunction(hf.fn, ps, rs).Export(n)
	}
	_, err := b.Instantiate(ctx)
	return err
}
