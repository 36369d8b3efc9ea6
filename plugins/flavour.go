package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"go.opentelemetry.io/otel/trace"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/telemetry"
)

// ABIStrata is the ABI name of a module written for strata's own ABI.
const ABIStrata = "strata_v1"

// Flavour is an ABI other than strata_v1 that the host runs modules of
// (Proxy-Wasm, package plugins/proxywasm). The flavour supplies what is
// its own: which modules are its, the check of their imports, its host
// functions, and what it calls in an instance. The host supplies the rest,
// shared with strata_v1: the compilation cache, the deadline
// instrumentation, memory limits, grants for WASI, instance accounting,
// quarantine, metrics and spans.
//
// A flavoured Plugin registers nothing and has no pool: the flavour takes
// instances with NewInstance and gives them back with Drop or Discard.
type Flavour interface {
	// Claim returns the ABI name of a module the flavour serves ("proxy-wasm
	// 0.2.1"), judged by its exported functions, or "".
	Claim(exports map[string]api.FunctionDefinition) string
	// Markers names the exports Claim looks for, for the message that
	// refuses a module nobody claims.
	Markers() []string
	// Check refuses a claimed module whose imports or exports the flavour
	// cannot serve, listing every problem.
	Check(cm wazero.CompiledModule) error
	// Instantiate adds the flavour's host modules to a plugin's runtime.
	Instantiate(ctx context.Context, rt wazero.Runtime) error
}

// Instance is an instance of a plugin's module as a flavour drives it.
// It runs one call at a time; the flavour serialises its calls.
type Instance = instance

// InstanceOf returns the instance a host function was called from (the
// context wazero passes to it), or nil.
func InstanceOf(ctx context.Context) *Instance { return inst(ctx) }

// ABI returns the ABI the plugin's module targets: ABIStrata or the name a
// flavour claimed it with.
func (p *Plugin) ABI() string {
	if p.abiName == "" {
		return ABIStrata
	}
	return p.abiName
}

// Flavoured reports whether the module was claimed by a flavour.
func (p *Plugin) Flavoured() bool { return p.flavour != nil }

// Logger returns the plugin's logger (attribute plugin=NAME).
func (p *Plugin) Logger() *slog.Logger { return p.log }

// OnClose registers fn to run when Close starts, before it waits for the
// instances: a flavour gives back the instances it holds idle there.
func (p *Plugin) OnClose(fn func()) {
	p.host.mu.Lock()
	p.onClose = append(p.onClose, fn)
	p.host.mu.Unlock()
}

// Admit says whether a call on behalf of src may be made: ErrClosed after
// Close, ErrQuarantined while the plugin or src is held (counted as
// skipped).
func (p *Plugin) Admit(src netip.Addr) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if p.quar.engaged() {
		if !p.quar.admit(time.Now(), src) {
			p.stats.skipped.Add(1)
			return ErrQuarantined
		}
	}
	return nil
}

// NewInstance creates an instance of a flavoured plugin (instantiation and
// _initialize under init_timeout), counted among the plugin's live
// instances until Drop or Discard.
func (p *Plugin) NewInstance(ctx context.Context) (*Instance, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	p.pool.live.Add(1)
	in, err := p.newInstance(ctx)
	if err != nil {
		p.pool.live.Add(-1)
		p.stats.errors.Add(1)
		return nil, err
	}
	p.stats.created.Add(1)
	return in, nil
}

// Drop closes an instance that is no longer needed.
func (p *Plugin) Drop(in *Instance) { p.pool.drop(in) }

// Discard closes an instance that failed with err (a trap, a timeout, a
// memory fault: an error from Call) while serving src, counts the failure
// and applies the quarantine.
func (p *Plugin) Discard(in *Instance, err error, src netip.Addr) {
	ended := p.stats.ended.Add(1)
	p.pool.drop(in)
	p.failed(err, src, ended)
}

// Succeeded records a call made for src that ended well: the quarantine's
// ratio, and its end when the call was a probe.
func (p *Plugin) Succeeded(src netip.Addr) {
	p.stats.ended.Add(1)
	if p.quar.engaged() && p.quar.success(src) {
		p.log.Info("plugin recovered from quarantine")
	}
}

// Plugin returns the plugin the instance belongs to.
func (in *instance) Plugin() *Plugin { return in.p }

// Memory returns the instance's linear memory.
func (in *instance) Memory() api.Memory { return in.mem }

// Function returns the instance's exported function name, or nil.
func (in *instance) Function(name string) api.Function { return in.mod.ExportedFunction(name) }

// Ext returns what the flavour attached to the instance with SetExt.
func (in *instance) Ext() any { return in.ext }

// SetExt attaches the flavour's state to the instance; the flavour's host
// functions find it through InstanceOf.
func (in *instance) SetExt(v any) { in.ext = v }

// Call calls fn with stack (parameters in, results out) under the plugin's
// call_timeout, counting it and its latency. Called from a host function
// during a call (a guest allocator, say), it runs under the outer call's
// deadline. A non-nil error (ErrTrap, ErrTimeout, ErrMemory) means the
// instance is dead: Discard it.
func (in *instance) Call(fn api.Function, stack []uint64) error {
	return in.callWith(fn, stack, "call_timeout", in.p.cfg.CallTimeout)
}

// CallInit is Call under init_timeout, for what a flavour runs when it
// sets an instance up (Proxy-Wasm's proxy_on_vm_start, proxy_on_configure).
func (in *instance) CallInit(fn api.Function, stack []uint64) error {
	return in.callWith(fn, stack, "init_timeout", in.p.cfg.InitTimeout)
}

// callWith calls fn under timeout, the value of the setting key (named in
// the error when the deadline ends the call).
func (in *instance) callWith(fn api.Function, stack []uint64, key string, timeout time.Duration) error {
	if fn == nil {
		return fmt.Errorf("%w: the module does not export the function called", ErrTrap)
	}
	if in.inCall { // re-entered from a host function: keep the outer deadline
		if err := fn.CallWithStack(in.ctx, stack); err != nil {
			return in.classify(err)
		}
		return nil
	}
	in.p.stats.calls.Add(1)
	in.inCall = true
	t0 := in.p.host.monotonic()
	in.deadline = in.deadlineIn(t0, timeout)
	err := fn.CallWithStack(in.ctx, stack)
	in.deadline = 0
	in.inCall = false
	in.p.stats.latency.Observe(time.Duration(in.p.host.monotonic() - t0))
	if err != nil {
		if in.timedOut {
			return fmt.Errorf("%w (%s %v)", ErrTimeout, key, timeout)
		}
		return in.classify(err)
	}
	return nil
}

// Eval evaluates the sample expression src for ctx, with the layer check
// rules have: an expression needing a layer ctx lacks fails with
// ErrLayer, an unknown or malformed one with ErrExpr, one that yields no
// sample with ErrNoSample. Expressions are parsed once per instance.
func (in *instance) Eval(ctx *fetch.Ctx, src []byte) (sample.Value, error) {
	e, st := in.expr(src)
	if st < 0 {
		return sample.Value{}, ErrExpr
	}
	if ctx == nil || !effectiveLayers(ctx).Has(e.Needs()) {
		return sample.Value{}, ErrLayer
	}
	v, ok := e.Eval(ctx)
	if !ok {
		return sample.Value{}, ErrNoSample
	}
	return v, nil
}

// Errors of Instance.Eval.
var (
	ErrExpr     = errors.New("invalid sample expression")
	ErrLayer    = errors.New("sample expression needs a layer the call lacks")
	ErrNoSample = errors.New("no sample")
)

// StartSpan opens the span of a flavour's call into the guest under the
// stream's span parent (nil: not sampled, nothing is recorded).
func (p *Plugin) StartSpan(parent trace.Span, kind, function string) trace.Span {
	if parent == nil {
		return nil
	}
	return telemetry.StartPluginCall(parent, p.name, kind, function, p.gen.Load())
}

// EndSpan ends a span StartSpan opened with the outcome err (from Call)
// says; guestErr is a failure the guest reported without dying.
func EndSpan(sp trace.Span, err error, guestErr error) {
	if sp == nil {
		return
	}
	outcome := outcomeOf(err)
	if err == nil && guestErr != nil {
		outcome, err = telemetry.OutcomeGuestError, guestErr
	}
	telemetry.EndPluginCall(sp, outcome, err)
}

// outcomeOf maps a call error to a span outcome.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return telemetry.OutcomeOK
	case errors.Is(err, ErrTimeout):
		return telemetry.OutcomeTimeout
	case errors.Is(err, ErrMemory):
		return telemetry.OutcomeMemory
	}
	return telemetry.OutcomeTrap
}

// claim returns the flavour that claims cm, and the ABI name it gave.
func claim(cm wazero.CompiledModule, flavours []Flavour) (Flavour, string) {
	exports := cm.ExportedFunctions()
	for _, f := range flavours {
		if name := f.Claim(exports); name != "" {
			return f, name
		}
	}
	return nil, ""
}

// noMarker says what a module that targets no ABI this host serves
// exports and imports instead, so that its author sees what went wrong.
func noMarker(cm wazero.CompiledModule, flavours []Flavour) string {
	want := []string{abi.Marker + " (strata_v1, see SPEC.md)"}
	for _, f := range flavours {
		want = append(want, f.Markers()...)
	}
	var found []string
	for name := range cm.ExportedFunctions() {
		if strings.Contains(name, "abi") || strings.Contains(name, "version") {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	mods := map[string]bool{}
	for _, d := range cm.ImportedFunctions() {
		m, _, _ := d.Import()
		mods[m] = true
	}
	var imp []string
	for m := range mods {
		imp = append(imp, m)
	}
	sort.Strings(imp)
	msg := "no ABI marker: export one of " + strings.Join(want, ", ")
	if len(found) > 0 {
		msg += "; found ABI-like exports " + strings.Join(found, ", ")
	} else {
		msg += "; found no ABI-like export"
	}
	if len(imp) > 0 {
		msg += ", imports from " + strings.Join(imp, ", ")
	}
	return msg
}

// SourceOf returns the client address a call on behalf of ctx is
// attributed to by the quarantine (an IPv6 client's /64).
func SourceOf(ctx *fetch.Ctx) netip.Addr { return sourceOf(ctx) }

// InstancesMax returns the plugin's instances.max.
func (p *Plugin) InstancesMax() int { return p.cfg.InstancesMax }

// InstancesMin is the plugin's instances.min.
func (p *Plugin) InstancesMin() int { return p.cfg.InstancesMin }

// AllowLog says whether a guest log line may be written now: the plugin's
// lines share one rate limit (HostOptions.LogRate, LogBurst).
func (p *Plugin) AllowLog() bool { return p.limiter.allow(time.Now()) }

// VMConfig returns Config.VMConfig (do not modify).
func (p *Plugin) VMConfig() []byte { return p.cfg.VMConfig }
