package abi

import (
	"sort"
	"strconv"
	"strings"
)

// ValType is a WebAssembly value type, with the binary encoding of the
// WebAssembly specification (so it compares equal to wazero's api.ValueType).
type ValType byte

const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
)

func (v ValType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	}
	return "?"
}

// Param is a named parameter of a host function or guest export.
type Param struct {
	Name string
	Type ValType
}

// Grant names a capability that a plugin's configuration gives it.
type Grant string

// Grants. GrantCore is implied: it covers the layer set, sample evaluation,
// arguments, results, configuration and registration.
const (
	GrantCore          Grant = "core"
	GrantHeaders       Grant = "headers"        // request/response head: headers, method, path, query, status
	GrantBody          Grant = "body"           // the buffered request body
	GrantVars          Grant = "vars"           // variables of every scope
	GrantStickCounters Grant = "stick_counters" // stick-counter reads and gpc/gpt updates
	GrantRoute         Grant = "route"          // choose a backend, server or service
	GrantRespond       Grant = "respond"        // build a reply (actions and services)
	GrantLog           Grant = "log"            // write to the proxy's log
	GrantTrace         Grant = "trace"          // span attributes and events
	GrantClock         Grant = "clock"          // monotonic and wall clocks (also WASI clocks)
	GrantRandom        Grant = "random"         // random bytes
	// WASI grants: without them the guest gets no environment and no files.
	GrantEnv Grant = "env" // the environment variables listed in the plugin's config
	GrantFS  Grant = "fs"  // the read-only directories listed in the plugin's config
)

// AllGrants lists every grant a configuration may name, core excepted.
var AllGrants = []Grant{GrantHeaders, GrantBody, GrantVars, GrantStickCounters, GrantRoute, GrantRespond, GrantLog, GrantTrace, GrantClock, GrantRandom, GrantEnv, GrantFS}

// DefaultGrants is what a plugin gets when its configuration names none:
// reading and editing the transaction, variables, logging, tracing, clocks
// and randomness. Body, stick-counter updates, routing, replies and WASI
// environment or files must be asked for.
var DefaultGrants = []Grant{GrantHeaders, GrantVars, GrantLog, GrantTrace, GrantClock, GrantRandom}

// ValidGrant reports whether g names a grant.
func ValidGrant(g Grant) bool {
	for _, a := range AllGrants {
		if a == g {
			return true
		}
	}
	return false
}

// Func describes a host function (an import of the guest) or a guest export.
type Func struct {
	Name    string
	Params  []Param
	Results []ValType
	Grant   Grant  // host functions: the grant that allows importing it
	Needs   Layers // host functions: layers the call must carry (0: none checked)
	Doc     string // one line; SPEC.md has the details
}

// Signature renders f as "name(a i32, b i64) -> i32".
func (f Func) Signature() string {
	var b strings.Builder
	b.WriteString(f.Name)
	b.WriteByte('(')
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		b.WriteByte(' ')
		b.WriteString(p.Type.String())
	}
	b.WriteString(") -> ")
	switch len(f.Results) {
	case 0:
		b.WriteString("()")
	case 1:
		b.WriteString(f.Results[0].String())
	default:
		b.WriteByte('(')
		for i, r := range f.Results {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.String())
		}
		b.WriteByte(')')
	}
	return b.String()
}

// ParamTypes returns the types of f's parameters.
func (f Func) ParamTypes() []ValType {
	t := make([]ValType, len(f.Params))
	for i, p := range f.Params {
		t[i] = p.Type
	}
	return t
}

func p32(names ...string) []Param {
	ps := make([]Param, len(names))
	for i, n := range names {
		ps[i] = Param{n, I32}
		if strings.HasSuffix(n, ":i64") {
			ps[i] = Param{strings.TrimSuffix(n, ":i64"), I64}
		}
	}
	return ps
}

var (
	r32 = []ValType{I32}
	r64 = []ValType{I64}
)

// Host function names of ABI v1.
const (
	FnLayers            = "layers"
	FnArgCount          = "arg_count"
	FnArgGet            = "arg_get"
	FnInputGet          = "input_get"
	FnResultInt         = "result_int"
	FnResultBytes       = "result_bytes"
	FnSampleEval        = "sample_eval"
	FnConfigGet         = "config_get"
	FnRegisterFetch     = "register_fetch"
	FnRegisterConverter = "register_converter"
	FnRegisterAction    = "register_action"
	FnRegisterTarget    = "register_target"
	FnRegisterService   = "register_service"
	FnReqHeaderGet      = "req_header_get"
	FnReqHeaderSet      = "req_header_set"
	FnReqHeaderAdd      = "req_header_add"
	FnReqHeaderDel      = "req_header_del"
	FnRespHeaderGet     = "resp_header_get"
	FnRespHeaderSet     = "resp_header_set"
	FnRespHeaderAdd     = "resp_header_add"
	FnRespHeaderDel     = "resp_header_del"
	FnReqMethodGet      = "req_method_get"
	FnReqMethodSet      = "req_method_set"
	FnReqPathGet        = "req_path_get"
	FnReqPathSet        = "req_path_set"
	FnReqQueryGet       = "req_query_get"
	FnReqQuerySet       = "req_query_set"
	FnRespStatusGet     = "resp_status_get"
	FnRespStatusSet     = "resp_status_set"
	FnReqBodyRead       = "req_body_read"
	FnVarGet            = "var_get"
	FnVarSetInt         = "var_set_int"
	FnVarSetBytes       = "var_set_bytes"
	FnVarUnset          = "var_unset"
	FnSCGet             = "sc_get"
	FnSCGPCAdd          = "sc_gpc_add"
	FnSCGPTSet          = "sc_gpt_set"
	FnRouteSet          = "route_set"
	FnReplyStatus       = "reply_status"
	FnReplyHeaderAdd    = "reply_header_add"
	FnReplyBodyWrite    = "reply_body_write"
	FnLog               = "log"
	FnSpanAttrStr       = "span_attr_str"
	FnSpanAttrInt       = "span_attr_int"
	FnSpanEvent         = "span_event"
	FnClockMonotonic    = "clock_monotonic"
	FnClockWall         = "clock_wall"
	FnRandomFill        = "random_fill"
)

const txn = LayerConn | LayerSess | LayerStrm | LayerTxn

// HostFuncs lists the host functions of ABI v1, in the module ImportModule.
// The order is the order of SPEC.md and of the golden listing; entries are
// only ever appended within v1.
var HostFuncs = []Func{
	{FnLayers, p32("ctx"), r32, GrantCore, 0, "the layer set of the call"},
	{FnArgCount, p32("ctx"), r32, GrantCore, 0, "number of arguments the configuration gave"},
	{FnArgGet, p32("ctx", "index", "type_ptr", "buf", "cap"), r32, GrantCore, 0, "argument value (buffer protocol)"},
	{FnInputGet, p32("ctx", "type_ptr", "buf", "cap"), r32, GrantCore, 0, "converter input (buffer protocol)"},
	{FnResultInt, p32("ctx", "type", "value:i64"), r32, GrantCore, 0, "set a bool or int result"},
	{FnResultBytes, p32("ctx", "type", "ptr", "len"), r32, GrantCore, 0, "set an ip, str or bin result"},
	{FnSampleEval, p32("ctx", "expr", "expr_len", "type_ptr", "buf", "cap"), r32, GrantCore, 0, "evaluate a sample expression (buffer protocol)"},
	{FnConfigGet, p32("buf", "cap"), r32, GrantCore, 0, "the plugin's configuration as JSON (buffer protocol)"},
	{FnRegisterFetch, p32("id", "name", "name_len", "needs", "out_type", "arg_types", "arg_count", "min_args"), r32, GrantCore, 0, "register a sample fetch"},
	{FnRegisterConverter, p32("id", "name", "name_len", "in_type", "out_type", "arg_types", "arg_count", "min_args"), r32, GrantCore, 0, "register a converter"},
	{FnRegisterAction, p32("id", "name", "name_len", "points", "min_args", "max_args"), r32, GrantCore, 0, "register an action"},
	{FnRegisterTarget, p32("id", "name", "name_len", "min_args", "max_args"), r32, GrantCore, 0, "register a routing target"},
	{FnRegisterService, p32("id", "name", "name_len", "modes", "min_args", "max_args"), r32, GrantCore, 0, "register an internal service"},

	{FnReqHeaderGet, p32("ctx", "name", "name_len", "index", "buf", "cap"), r32, GrantHeaders, txn, "value of the index-th request header called name"},
	{FnReqHeaderSet, p32("ctx", "name", "name_len", "value", "value_len"), r32, GrantHeaders, txn, "replace every request header called name"},
	{FnReqHeaderAdd, p32("ctx", "name", "name_len", "value", "value_len"), r32, GrantHeaders, txn, "append a request header"},
	{FnReqHeaderDel, p32("ctx", "name", "name_len"), r32, GrantHeaders, txn, "delete request headers called name; returns how many"},
	{FnRespHeaderGet, p32("ctx", "name", "name_len", "index", "buf", "cap"), r32, GrantHeaders, txn, "value of the index-th response header called name"},
	{FnRespHeaderSet, p32("ctx", "name", "name_len", "value", "value_len"), r32, GrantHeaders, txn, "replace every response header called name"},
	{FnRespHeaderAdd, p32("ctx", "name", "name_len", "value", "value_len"), r32, GrantHeaders, txn, "append a response header"},
	{FnRespHeaderDel, p32("ctx", "name", "name_len"), r32, GrantHeaders, txn, "delete response headers called name; returns how many"},
	{FnReqMethodGet, p32("ctx", "buf", "cap"), r32, GrantHeaders, txn, "request method (buffer protocol)"},
	{FnReqMethodSet, p32("ctx", "ptr", "len"), r32, GrantHeaders, txn, "replace the request method"},
	{FnReqPathGet, p32("ctx", "buf", "cap"), r32, GrantHeaders, txn, "request path (buffer protocol)"},
	{FnReqPathSet, p32("ctx", "ptr", "len"), r32, GrantHeaders, txn, "replace the request path, keeping the query"},
	{FnReqQueryGet, p32("ctx", "buf", "cap"), r32, GrantHeaders, txn, "request query without '?' (buffer protocol); not found when absent"},
	{FnReqQuerySet, p32("ctx", "ptr", "len"), r32, GrantHeaders, txn, "replace the query; empty removes it"},
	{FnRespStatusGet, p32("ctx"), r32, GrantHeaders, txn, "response status; not found before the response"},
	{FnRespStatusSet, p32("ctx", "code"), r32, GrantHeaders, txn, "replace the response status"},

	{FnReqBodyRead, p32("ctx", "offset", "buf", "cap"), r32, GrantBody, LayerConn | LayerSess | LayerStrm, "buffered request bytes from offset (buffer protocol)"},

	{FnVarGet, p32("ctx", "scope", "name", "name_len", "type_ptr", "buf", "cap"), r32, GrantVars, 0, "variable value (buffer protocol)"},
	{FnVarSetInt, p32("ctx", "scope", "name", "name_len", "type", "value:i64"), r32, GrantVars, 0, "set a bool or int variable"},
	{FnVarSetBytes, p32("ctx", "scope", "name", "name_len", "type", "ptr", "len"), r32, GrantVars, 0, "set an ip, str or bin variable"},
	{FnVarUnset, p32("ctx", "scope", "name", "name_len"), r32, GrantVars, 0, "remove a variable"},

	{FnSCGet, p32("ctx", "slot", "name", "name_len", "out_ptr"), r32, GrantStickCounters, LayerConn | LayerSess, "read datum name of stick counter slot as int64"},
	{FnSCGPCAdd, p32("ctx", "slot", "index", "delta:i64", "out_ptr"), r32, GrantStickCounters, LayerConn | LayerSess, "add delta to gpc(index) of the entry tracked by slot"},
	{FnSCGPTSet, p32("ctx", "slot", "index", "value:i64"), r32, GrantStickCounters, LayerConn | LayerSess, "set gpt(index) of the entry tracked by slot"},

	{FnRouteSet, p32("ctx", "kind", "name", "name_len"), r32, GrantRoute, LayerConn | LayerSess | LayerStrm, "choose a backend, server or service for the stream"},

	{FnReplyStatus, p32("ctx", "code"), r32, GrantRespond, LayerConn | LayerSess | LayerStrm, "status of the reply being built"},
	{FnReplyHeaderAdd, p32("ctx", "name", "name_len", "value", "value_len"), r32, GrantRespond, LayerConn | LayerSess | LayerStrm, "append a header to the reply"},
	{FnReplyBodyWrite, p32("ctx", "ptr", "len"), r32, GrantRespond, LayerConn | LayerSess | LayerStrm, "append bytes to the reply body"},

	{FnLog, p32("ctx", "level", "msg", "msg_len"), r32, GrantLog, 0, "write a line to the proxy's log (rate limited)"},

	{FnSpanAttrStr, p32("ctx", "key", "key_len", "value", "value_len"), r32, GrantTrace, 0, "string attribute on the stream's span"},
	{FnSpanAttrInt, p32("ctx", "key", "key_len", "value:i64"), r32, GrantTrace, 0, "integer attribute on the stream's span"},
	{FnSpanEvent, p32("ctx", "name", "name_len"), r32, GrantTrace, 0, "event on the stream's span"},

	{FnClockMonotonic, nil, r64, GrantClock, 0, "monotonic clock in nanoseconds"},
	{FnClockWall, nil, r64, GrantClock, 0, "wall clock in nanoseconds since the Unix epoch"},

	{FnRandomFill, p32("buf", "len"), r32, GrantRandom, 0, "fill buf with random bytes"},
}

// Guest export names of ABI v1.
const (
	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportInit       = "strata_init"
	ExportFetch      = "strata_fetch"
	ExportConvert    = "strata_convert"
	ExportAction     = "strata_action"
	ExportTarget     = "strata_target"
	ExportService    = "strata_service"
)

// Export describes a guest export and when it is required.
type Export struct {
	Func
	// Required: "always", or the registration kind that makes it required.
	Required string
}

// Exports lists the guest exports of ABI v1 (the memory excepted: every
// guest exports its linear memory as "memory").
var Exports = []Export{
	{Func{Name: Marker, Doc: "declares ABI v1; never called"}, "always"},
	{Func{Name: ExportInitialize, Doc: "language runtime initialisation (reactor modules); called first when present"}, "optional"},
	{Func{Name: ExportInit, Results: r32, Doc: "read the configuration and register; called once per instance"}, "always"},
	{Func{Name: ExportFetch, Params: p32("ctx", "layers", "id"), Results: r32, Doc: "run fetch id: 1 = sample set, 0 = no sample, <0 = error"}, string(KindFetch)},
	{Func{Name: ExportConvert, Params: p32("ctx", "layers", "id"), Results: r32, Doc: "run converter id: 1 = sample set, 0 = no sample, <0 = error"}, string(KindConverter)},
	{Func{Name: ExportAction, Params: p32("ctx", "layers", "id", "point"), Results: r32, Doc: "run action id at point: a verdict, <0 = error"}, string(KindAction)},
	{Func{Name: ExportTarget, Params: p32("ctx", "layers", "id"), Results: r32, Doc: "run target id: 1 = route chosen, 0 = none, <0 = error"}, string(KindTarget)},
	{Func{Name: ExportService, Params: p32("ctx", "layers", "id", "event"), Results: r32, Doc: "run service id for event: 0 = more, 1 = done, <0 = error"}, string(KindService)},
}

// Kind is a kind of registration.
type Kind string

const (
	KindFetch     Kind = "fetch"
	KindConverter Kind = "converter"
	KindAction    Kind = "action"
	KindTarget    Kind = "target"
	KindService   Kind = "service"
)

// ExportFor returns the entry point export of a registration kind.
func ExportFor(k Kind) string {
	switch k {
	case KindFetch:
		return ExportFetch
	case KindConverter:
		return ExportConvert
	case KindAction:
		return ExportAction
	case KindTarget:
		return ExportTarget
	case KindService:
		return ExportService
	}
	return ""
}

// HostFunc returns the host function called name.
func HostFunc(name string) (Func, bool) {
	for _, f := range HostFuncs {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// Listing renders the golden listing of ABI v1: every import and export with
// its signature and grant, one per line. abi/testdata/v1.api holds it; a
// change to it is a version decision.
func Listing() string {
	var b strings.Builder
	b.WriteString("# strata plugin ABI v1: generated from package abi; see SPEC.md.\n")
	b.WriteString("# A line may be added within v1; any other change is a new major version.\n\n")
	for _, f := range HostFuncs {
		b.WriteString("import " + ImportModule + "." + f.Signature() + "  grant=" + string(f.Grant))
		if f.Needs != 0 {
			b.WriteString(" needs=" + f.Needs.String())
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString("export memory  required=always\n")
	for _, e := range Exports {
		b.WriteString("export " + e.Signature() + "  required=" + e.Required + "\n")
	}
	b.WriteByte('\n')
	kv := func(name string, pairs ...any) string {
		var b strings.Builder
		b.WriteString(name)
		for i := 0; i < len(pairs); i += 2 {
			b.WriteString(" " + pairs[i].(string) + "=")
			b.WriteString(strconv.FormatInt(toInt(pairs[i+1]), 10))
		}
		return b.String()
	}
	consts := []string{
		kv("layer", "CONN", LayerConn, "SESS", LayerSess, "STRM", LayerStrm, "TXN", LayerTxn),
		kv("type", "none", TypeNone, "bool", TypeBool, "int", TypeInt, "ip", TypeIP, "str", TypeStr, "bin", TypeBin),
		kv("status", "ok", OK, "not_found", ErrNotFound, "layer", ErrLayer, "handle", ErrHandle, "memory", ErrMemory, "arg", ErrArg,
			"state", ErrState, "denied", ErrDenied, "limit", ErrLimit, "unsupported", ErrUnsupported, "internal", ErrInternal, "guest", ErrGuest),
		kv("point", "tcp_connection", PointTCPConnection, "tcp_session", PointTCPSession, "tcp_content", PointTCPContent,
			"http_request", PointHTTPRequest, "http_response", PointHTTPResponse, "http_after_response", PointHTTPAfterResponse),
		kv("verdict", "continue", VerdictContinue, "allow", VerdictAllow, "deny", VerdictDeny, "return", VerdictReturn, "redirect", VerdictRedirect),
		kv("route", "backend", RouteBackend, "server", RouteServer, "service", RouteService),
		kv("scope", "proc", ScopeProc, "sess", ScopeSess, "txn", ScopeTxn),
		kv("service_mode", "http", ServiceHTTP, "tcp", ServiceTCP),
		kv("service_event", "request", EventRequest, "data", EventData, "end", EventEnd),
		kv("service_result", "more", ServiceMore, "done", ServiceDone),
		kv("sample_result", "none", NoSample, "set", HasSample),
		kv("log_level", "debug", LogDebug, "info", LogInfo, "warn", LogWarn, "error", LogError),
		kv("limit", "name_len", MaxNameLen, "args", MaxArgs, "registrations", MaxRegistrations, "reply_bytes", MaxReplyBytes, "reply_headers", MaxReplyHeaders),
	}
	sort.Strings(consts)
	for _, c := range consts {
		b.WriteString("const " + c + "\n")
	}
	return b.String()
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case Layers:
		return int64(x)
	case Type:
		return int64(x)
	case Status:
		return int64(x)
	case Point:
		return int64(x)
	case Verdict:
		return int64(x)
	case RouteKind:
		return int64(x)
	case Scope:
		return int64(x)
	case ServiceMode:
		return int64(x)
	case ServiceEvent:
		return int64(x)
	case LogLevel:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	}
	panic("abi: listing: unexpected constant type")
}
