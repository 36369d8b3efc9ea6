// Package sdktest runs a plugin's Go code natively, under go test, against a
// fake strata host: the test scripts the layers, the request and response,
// variables, stick counters and sample results, calls the plugin's fetches,
// converters, actions, targets and services by name, and inspects what the
// plugin did (header edits, route, reply, log lines). The fake applies the
// same rules as the real host: layer checks, handles valid only during a
// call, the buffer protocol.
//
// A Host replaces the SDK's host for the whole test binary: tests that use
// sdktest must not run in parallel with each other.
package sdktest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
	"github.com/strata-proxy/strata/sdk/internal/bridge"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// Header is one header field.
type Header struct{ Name, Value string }

// Reply is what an action or service built with Ctx.Reply*.
type Reply struct {
	Status  int
	Headers []Header
	Body    []byte
}

// Header returns the first reply header called name.
func (r Reply) Header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// Route is the routing decision a plugin made (empty fields: not chosen).
type Route struct{ Backend, Server, Service string }

// Host is a fake strata host. Set its fields, then call Init and the
// plugin's entry points.
type Host struct {
	// Layers is the layer set of each call (default: all four layers).
	// Actions use the layers of their point instead.
	Layers abi.Layers
	// Config is the plugin configuration; it is marshalled to JSON.
	Config any

	// The request and response heads.
	Method, Path, Query string
	HasQuery            bool
	ReqHeaders          []Header
	Status              int // response status; 0: no response yet
	RespHeaders         []Header
	Body                []byte // buffered request bytes

	// Samples answers sample expressions by their exact text. Src and the
	// stick counters also answer "src" and "sc<N>_<name>".
	Samples map[string]sdk.Value
	Src     netip.Addr
	// Counters holds stick-counter data per slot: Counters[0]["http_req_rate"].
	Counters map[int]map[string]int64

	// Vars per scope.
	Vars map[abi.Scope]map[string]sdk.Value

	// Filled by the plugin.
	Route Route
	Reply Reply
	Logs  []string
	Spans []string

	regs   []bridge.Reg
	handle uint32
	live   bool
	cur    call
}

type call struct {
	layers abi.Layers
	args   []sdk.Value
	input  sdk.Value
	result sdk.Value
	kind   abi.Kind
}

// New returns a fake host with every layer present, installed as the SDK's
// host.
func New() *Host {
	h := &Host{Layers: abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn, Method: "GET", Path: "/"}
	hostcall.Impl = &fake{h}
	return h
}

// Init runs the plugin's initialisation (OnInit hooks and registrations)
// against h, as the host does at load.
func (h *Host) Init() error {
	hostcall.Impl = &fake{h}
	h.regs = nil
	if st := bridge.Init(&fake{h}); st < 0 {
		return fmt.Errorf("sdktest: init: %v", st)
	}
	return nil
}

// Registrations returns what the plugin registered at Init.
func (h *Host) Registrations() []bridge.Reg { return h.regs }

func (h *Host) find(kind abi.Kind, name string) (bridge.Reg, error) {
	for _, r := range h.regs {
		if r.Kind == kind && r.Name == name {
			return r, nil
		}
	}
	return bridge.Reg{}, fmt.Errorf("sdktest: no %s %q registered (did you call Init?)", kind, name)
}

func toValues(args []any) []sdk.Value {
	vs := make([]sdk.Value, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case int:
			vs[i] = sdk.Int(int64(x))
		case int64:
			vs[i] = sdk.Int(x)
		case string:
			vs[i] = sdk.Str(x)
		case sdk.Value:
			vs[i] = x
		default:
			vs[i] = sdk.Str(fmt.Sprint(x))
		}
	}
	return vs
}

func (h *Host) run(kind abi.Kind, name string, layers abi.Layers, args []any, extra int32) (int32, error) {
	r, err := h.find(kind, name)
	if err != nil {
		return 0, err
	}
	if len(args) < r.MinArgs || len(args) > r.MaxArgs {
		return 0, fmt.Errorf("sdktest: %s %s takes %d to %d arguments, got %d", kind, name, r.MinArgs, r.MaxArgs, len(args))
	}
	h.handle++
	h.live = true
	h.cur = call{layers: layers, args: toValues(args), kind: kind}
	rc := bridge.Call(&fake{h}, kind, h.handle, layers, r.ID, extra)
	h.live = false
	if rc < 0 {
		return rc, fmt.Errorf("sdktest: %s %s failed: %w", kind, name, abi.Status(rc))
	}
	return rc, nil
}

// Fetch calls fetch name with args (int, string or sdk.Value) and returns
// its sample (sdk.None for no sample). A layer the fetch needs but the host
// lacks yields no sample, as in the proxy.
func (h *Host) Fetch(name string, args ...any) (sdk.Value, error) {
	r, err := h.find(abi.KindFetch, name)
	if err != nil {
		return sdk.None, err
	}
	if !h.Layers.Has(r.Needs) {
		return sdk.None, nil
	}
	rc, err := h.run(abi.KindFetch, name, h.Layers, args, 0)
	if err != nil || rc == abi.NoSample {
		return sdk.None, err
	}
	return h.cur.result, nil
}

// Convert calls converter name on in.
func (h *Host) Convert(name string, in sdk.Value, args ...any) (sdk.Value, error) {
	r, err := h.find(abi.KindConverter, name)
	if err != nil {
		return sdk.None, err
	}
	if len(args) < r.MinArgs || len(args) > r.MaxArgs {
		return sdk.None, fmt.Errorf("sdktest: converter %s takes %d to %d arguments, got %d", name, r.MinArgs, r.MaxArgs, len(args))
	}
	h.handle++
	h.live = true
	h.cur = call{layers: h.Layers, args: toValues(args), input: in, kind: abi.KindConverter}
	rc := bridge.Call(&fake{h}, abi.KindConverter, h.handle, h.Layers, r.ID, 0)
	h.live = false
	if rc < 0 {
		return sdk.None, fmt.Errorf("sdktest: converter %s failed: %w", name, abi.Status(rc))
	}
	if rc == abi.NoSample {
		return sdk.None, nil
	}
	return h.cur.result, nil
}

// Action runs action name at point with args; the reply it built is in
// h.Reply.
func (h *Host) Action(name string, point abi.Point, args ...string) (abi.Verdict, error) {
	r, err := h.find(abi.KindAction, name)
	if err != nil {
		return 0, err
	}
	if r.Points&point == 0 {
		return 0, fmt.Errorf("sdktest: action %s is not allowed at %v (registered for %v)", name, point, r.Points)
	}
	h.Reply = Reply{}
	rc, err := h.run(abi.KindAction, name, point.Layers(), strArgs(args), int32(point))
	return abi.Verdict(rc), err
}

// Target runs routing target name; the decision is in h.Route.
func (h *Host) Target(name string, args ...string) (bool, error) {
	h.Route = Route{}
	rc, err := h.run(abi.KindTarget, name, h.Layers, strArgs(args), 0)
	return rc == 1, err
}

// Service sends event ev to service name; the reply is in h.Reply (reset
// on each EventRequest).
func (h *Host) Service(name string, ev abi.ServiceEvent, args ...string) (done bool, err error) {
	if ev == abi.EventRequest {
		h.Reply = Reply{}
	}
	rc, err := h.run(abi.KindService, name, h.Layers, strArgs(args), int32(ev))
	return rc == abi.ServiceDone, err
}

func strArgs(args []string) []any {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	return a
}

// ReqHeader returns the first request header called name, as edited.
func (h *Host) ReqHeader(name string) (string, bool) { return get(h.ReqHeaders, name, 0) }

// RespHeader returns the first response header called name, as edited.
func (h *Host) RespHeader(name string) (string, bool) { return get(h.RespHeaders, name, 0) }

func get(hs []Header, name string, index int) (string, bool) {
	for _, f := range hs {
		if strings.EqualFold(f.Name, name) {
			if index == 0 {
				return f.Value, true
			}
			index--
		}
	}
	return "", false
}

// JSON decodes the reply body into v.
func (r Reply) JSON(v any) error { return json.Unmarshal(r.Body, v) }
