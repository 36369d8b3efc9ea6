package plugins

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
)

// acquire takes an instance for one call made for ctx, or says why there
// is none.
func (p *Plugin) acquire(ctx *fetch.Ctx) (*instance, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if p.quar.engaged() {
		if !p.quar.admit(time.Now(), sourceOf(ctx)) {
			p.stats.skipped.Add(1)
			return nil, ErrQuarantined
		}
	}
	in, err := p.pool.get(context.Background())
	if err != nil {
		if errors.Is(err, ErrBusy) {
			p.stats.busy.Add(1)
		} else {
			p.stats.errors.Add(1)
			p.log.Error("plugin instance creation failed", "err", err)
		}
		return nil, err
	}
	return in, nil
}

// release ends a call. err is a call error from instance.run (the instance
// is dead) or nil; the instance goes back to the pool unless a stream
// keeps it.
func (p *Plugin) release(in *instance, err error) {
	ended := p.stats.ended.Add(1)
	var src netip.Addr
	if err != nil || p.quar.engaged() {
		src = sourceOf(in.call.ctx) // before end, which forgets the call
	}
	in.end()
	if err != nil {
		in.kept = false
		p.pool.discard(in)
		p.failed(err, src, ended)
		return
	}
	if !in.kept {
		p.pool.put(in)
	}
	if p.quar.engaged() && p.quar.success(src) {
		p.log.Info("plugin recovered from quarantine")
	}
}

// failed counts an instance-killing failure of a call from src, which
// ended as the ended-th call, and applies the quarantine.
func (p *Plugin) failed(err error, src netip.Addr, ended uint64) {
	switch {
	case errors.Is(err, ErrTimeout):
		p.stats.timeouts.Add(1)
	case errors.Is(err, ErrMemory):
		p.stats.memory.Add(1)
	default:
		p.stats.traps.Add(1)
	}
	now := time.Now()
	until, srcUntil := p.quar.failure(now, src, ended)
	if !until.IsZero() {
		st := p.quar.state(now)
		p.log.Error("plugin quarantined: its rules apply on_error without calling it",
			"until", until, "backoff", until.Sub(now), "level", st.Level, "narrow", st.Narrow, "on_error", p.cfg.OnError.String(), "last_err", err)
		return
	}
	if !srcUntil.IsZero() {
		p.log.Warn("plugin quarantined for one source: its calls apply on_error without calling the plugin",
			"source", src, "until", srcUntil, "backoff", srcUntil.Sub(now), "on_error", p.cfg.OnError.String(), "last_err", err)
		return
	}
	if p.limiter.allow(now) {
		p.log.Warn("plugin instance discarded", "err", err)
	}
}

// guestError turns a negative entry point result into an error.
func (p *Plugin) guestError(kind abi.Kind, name string, rc int32) error {
	p.stats.errors.Add(1)
	return fmt.Errorf("%w: %s %s returned %v", ErrGuest, kind, name, abi.Status(rc))
}

// failClosed reports a failure of a call that cannot refuse by itself.
func (p *Plugin) failClosed(ctx *fetch.Ctx, err error) {
	if p.cfg.OnError == FailClosed && p.host.opts.OnFailClosed != nil {
		p.host.opts.OnFailClosed(ctx, p, err)
	}
}

// callValue runs a fetch or converter and returns its sample, with bytes
// copied into ctx's scratch arena.
func (p *Plugin) callValue(kind int, r *Registration, ctx *fetch.Ctx, args []fetch.Arg, input sample.Value) (sample.Value, error) {
	in, err := p.acquire(ctx)
	if err != nil {
		return sample.Value{}, err
	}
	p.stats.calls.Add(1)
	in.begin(kind, ctx)
	in.call.fargs, in.call.input, in.call.out = args, input, r.Out
	rc, err := in.run(kind, r.ID, 0)
	var v sample.Value
	if err == nil {
		switch {
		case rc == abi.HasSample && in.call.result.Type != sample.TypeNone:
			if in.call.result.Type != sample.Type(r.Out) {
				p.release(in, nil)
				p.stats.errors.Add(1)
				return sample.Value{}, fmt.Errorf("%w: %s %s returned a %v sample, registered as %v", ErrGuest, r.Kind, r.Name, in.call.result.Type, r.Out)
			}
			v = in.call.result
			if v.Bytes != nil {
				b := ctx.Scratch(len(v.Bytes))
				copy(b, v.Bytes)
				v.Bytes = b
			}
		case rc < 0: // a guest error is not a trap: the instance is kept
			p.release(in, nil)
			return sample.Value{}, p.guestError(r.Kind, r.Name, rc)
		}
	}
	p.release(in, err)
	return v, err
}

// --- fetches and converters: the core registry calls these ---

func argKinds(ts []abi.Type) []fetch.ArgKind {
	ks := make([]fetch.ArgKind, len(ts))
	for i, t := range ts {
		if t == abi.TypeInt {
			ks[i] = fetch.ArgInt
		} else {
			ks[i] = fetch.ArgStr
		}
	}
	return ks
}

func (p *Plugin) fetchFn(r *Registration) func(*fetch.Ctx, []fetch.Arg) (sample.Value, bool) {
	return func(ctx *fetch.Ctx, args []fetch.Arg) (sample.Value, bool) {
		v, err := p.callValue(kFetch, r, ctx, args, sample.Value{})
		if err != nil {
			p.failClosed(ctx, err)
			return sample.Value{}, false
		}
		return v, v.Type != sample.TypeNone
	}
}

func (p *Plugin) convFn(r *Registration) func(*fetch.Ctx, any, sample.Value) (sample.Value, bool) {
	return func(ctx *fetch.Ctx, state any, in sample.Value) (sample.Value, bool) {
		args, _ := state.([]fetch.Arg)
		v, err := p.callValue(kConvert, r, ctx, args, in)
		if err != nil {
			p.failClosed(ctx, err)
			return sample.Value{}, false
		}
		return v, v.Type != sample.TypeNone
	}
}

// --- actions: the rules engine calls these ---

var pointOf = map[rules.Point]abi.Point{
	rules.TCPConnection:     abi.PointTCPConnection,
	rules.TCPSession:        abi.PointTCPSession,
	rules.TCPContent:        abi.PointTCPContent,
	rules.HTTPRequest:       abi.PointHTTPRequest,
	rules.HTTPResponse:      abi.PointHTTPResponse,
	rules.HTTPAfterResponse: abi.PointHTTPAfterResponse,
}

func rulePoints(ps abi.Point) []rules.Point {
	var out []rules.Point
	for rp := rules.TCPConnection; rp <= rules.HTTPAfterResponse; rp++ {
		if ps&pointOf[rp] != 0 {
			out = append(out, rp)
		}
	}
	return out
}

// Action is one configured use of a plugin action (one rule). It
// implements rules.Action.
type Action struct {
	p     *Plugin
	reg   *Registration
	args  []string
	point abi.Point
	tcp   bool // the point has no transaction: deny means reject
}

var _ rules.Action = (*Action)(nil)

func (p *Plugin) parseAction(r *Registration) rules.ParseFunc {
	return func(args []string, env *rules.Env) (rules.Action, error) {
		if len(args) < r.MinArgs || len(args) > r.MaxArgs {
			return nil, fmt.Errorf("plugin action %s (plugin %s) takes %d to %d arguments, got %d", r.Name, p.name, r.MinArgs, r.MaxArgs, len(args))
		}
		pt := pointOf[env.Point()]
		return &Action{p: p, reg: r, args: append([]string(nil), args...), point: pt, tcp: !pt.Layers().Has(abi.LayerTxn)}, nil
	}
}

// NewAction binds action name of p to args at point (what the rules
// engine's parser does); for tests and for engines without core/rules.
func (p *Plugin) NewAction(name string, point abi.Point, args ...string) (*Action, error) {
	for i := range p.regs {
		r := &p.regs[i]
		if r.Kind == abi.KindAction && r.Name == name {
			if r.Points&point == 0 {
				return nil, fmt.Errorf("%w: action %s is registered at %v, not %v", ErrRegistration, name, r.Points, point)
			}
			return &Action{p: p, reg: r, args: args, point: point, tcp: !point.Layers().Has(abi.LayerTxn)}, nil
		}
	}
	return nil, fmt.Errorf("%w: plugin %s has no action %s", ErrRegistration, p.name, name)
}

// Do runs the action. A failure follows on_error: fail_open continues,
// fail_closed answers 500 (reject at tcp-request points) and is reported
// through HostOptions.OnFailClosed, so that the engine can tell a plugin
// failure from a rule's refusal.
func (a *Action) Do(ctx *fetch.Ctx) rules.Verdict {
	v, err := a.do(ctx)
	if err != nil {
		if a.p.cfg.OnError == FailOpen {
			return rules.Verdict{}
		}
		a.p.failClosed(ctx, err)
		if a.tcp || ctx.Txn == nil {
			return rules.Verdict{Kind: rules.Reject}
		}
		return rules.Verdict{Kind: rules.Deny, Status: 500}
	}
	return v
}

// Err runs the action and also returns the failure, if any (the verdict
// is then the zero Verdict; Do applies on_error to it).
func (a *Action) Err(ctx *fetch.Ctx) (rules.Verdict, error) { return a.do(ctx) }

func (a *Action) do(ctx *fetch.Ctx) (rules.Verdict, error) {
	p := a.p
	in, err := p.acquire(ctx)
	if err != nil {
		return rules.Verdict{}, err
	}
	p.stats.calls.Add(1)
	in.begin(kAction, ctx)
	in.call.sargs, in.call.point = a.args, a.point
	in.reply.Reset()
	in.call.reply = &in.reply
	rc, err := in.run(kAction, a.reg.ID, int32(a.point))
	if err != nil {
		p.release(in, err)
		return rules.Verdict{}, err
	}
	v, verr := a.verdict(ctx, abi.Verdict(rc), &in.reply)
	p.release(in, nil)
	if rc < 0 {
		return rules.Verdict{}, p.guestError(abi.KindAction, a.reg.Name, rc)
	}
	if verr != nil {
		p.stats.errors.Add(1)
		return rules.Verdict{}, verr
	}
	return v, nil
}

// verdict maps an ABI verdict and the reply built during the call to the
// engine's verdict; bytes are kept in the transaction.
func (a *Action) verdict(ctx *fetch.Ctx, v abi.Verdict, r *Reply) (rules.Verdict, error) {
	keep := func(b []byte) []byte {
		if b == nil || ctx.Txn == nil {
			return nil
		}
		return ctx.Txn.Keep(b)
	}
	switch v {
	case abi.VerdictContinue:
		return rules.Verdict{}, nil
	case abi.VerdictAllow:
		if a.tcp {
			return rules.Verdict{Kind: rules.Accept}, nil
		}
		return rules.Verdict{Kind: rules.Allow}, nil
	case abi.VerdictDeny:
		if a.tcp || ctx.Txn == nil {
			return rules.Verdict{Kind: rules.Reject}, nil
		}
		return rules.Verdict{Kind: rules.Deny, Status: r.Status, ContentType: keep(r.HeaderValue("content-type")), Body: keep(r.Body)}, nil
	case abi.VerdictReturn:
		if a.tcp || ctx.Txn == nil {
			return rules.Verdict{}, fmt.Errorf("%w: action %s returned return at %v", ErrGuest, a.reg.Name, a.point)
		}
		return rules.Verdict{Kind: rules.Return, Status: r.Status, ContentType: keep(r.HeaderValue("content-type")), Body: keep(r.Body)}, nil
	case abi.VerdictRedirect:
		loc := r.HeaderValue("location")
		if a.tcp || ctx.Txn == nil || len(loc) == 0 {
			return rules.Verdict{}, fmt.Errorf("%w: action %s redirected without a location header", ErrGuest, a.reg.Name)
		}
		return rules.Verdict{Kind: rules.Redirect, Status: r.Status, Location: keep(loc),
			ContentType: keep(r.HeaderValue("content-type")), Body: keep(r.Body)}, nil
	}
	if v < 0 {
		return rules.Verdict{}, nil // reported by the caller
	}
	return rules.Verdict{}, fmt.Errorf("%w: action %s returned unknown verdict %d", ErrGuest, a.reg.Name, v)
}

// --- routing targets ---

// Target is a plugin routing target. The engine calls Route where a
// use_backend (frontend) or use-server / use-service (backend) entry names
// it.
type Target struct {
	p   *Plugin
	reg *Registration
}

// Name returns the target's name.
func (t *Target) Name() string { return t.reg.Name }

// Args returns how many arguments the target takes.
func (t *Target) Args() (min, max int) { return t.reg.MinArgs, t.reg.MaxArgs }

// Plugin returns the plugin that provides the target.
func (t *Target) Plugin() *Plugin { return t.p }

// Route asks the plugin for a decision. It returns the stream's *Route
// (also left in ctx.Strm.Ext.Route) or nil when the plugin chose nothing
// or failed; a failure under fail_closed is reported through
// HostOptions.OnFailClosed and returned.
func (t *Target) Route(ctx *fetch.Ctx, args []string) (*Route, error) {
	p := t.p
	if ctx.Strm == nil {
		return nil, fmt.Errorf("%w: target %s needs a stream", ErrRegistration, t.reg.Name)
	}
	if len(args) < t.reg.MinArgs || len(args) > t.reg.MaxArgs {
		return nil, fmt.Errorf("%w: target %s takes %d to %d arguments", ErrRegistration, t.reg.Name, t.reg.MinArgs, t.reg.MaxArgs)
	}
	ctx.Strm.Ext.Route = Route{}
	in, err := p.acquire(ctx)
	if err != nil {
		p.failClosed(ctx, err)
		return nil, err
	}
	p.stats.calls.Add(1)
	in.begin(kTarget, ctx)
	in.call.sargs = args
	rc, err := in.run(kTarget, t.reg.ID, 0)
	p.release(in, err)
	if err == nil && rc < 0 {
		err = p.guestError(abi.KindTarget, t.reg.Name, rc)
	}
	if err != nil {
		p.failClosed(ctx, err)
		return nil, err
	}
	if rc != 1 {
		return nil, nil
	}
	return RouteOf(ctx.Strm), nil
}

// --- internal services ---

// Service is a plugin internal service. The engine drives it: Serve with
// EventRequest (HTTP) or EventData (TCP) for each event of the stream,
// sending the reply it builds; then EndStream when the stream ends,
// whatever happened. The stream keeps one instance from the first Serve to
// EndStream, so the guest may hold per-stream state.
type Service struct {
	p   *Plugin
	reg *Registration
}

// Name returns the service's name.
func (s *Service) Name() string { return s.reg.Name }

// Modes returns the modes the service answers.
func (s *Service) Modes() abi.ServiceMode { return s.reg.Modes }

// Args returns how many arguments the service takes.
func (s *Service) Args() (min, max int) { return s.reg.MinArgs, s.reg.MaxArgs }

// Plugin returns the plugin that provides the service.
func (s *Service) Plugin() *Plugin { return s.p }

// Serve sends ev to the service and appends its reply to r (Reset it
// first for a new response). done reports that the service has finished
// the stream. On error the stream's instance is gone; under fail_closed
// the failure has been reported through HostOptions.OnFailClosed and the
// engine answers 500 (HTTP) or closes (TCP); under fail_open the engine
// goes on as if the use-service rule were not there when it has sent
// nothing yet (the next rule, the backend), and closes otherwise. It
// still calls EndStream.
func (s *Service) Serve(ctx *fetch.Ctx, ev abi.ServiceEvent, args []string, r *Reply) (done bool, err error) {
	p := s.p
	if ctx.Strm == nil {
		return true, fmt.Errorf("%w: service %s needs a stream", ErrRegistration, s.reg.Name)
	}
	in, _ := ctx.Strm.Ext.Plugin.(*instance)
	if in != nil && in.p != p {
		return true, fmt.Errorf("%w: the stream already holds an instance of plugin %s", ErrRegistration, in.p.name)
	}
	if in == nil {
		if in, err = p.acquire(ctx); err != nil {
			p.failClosed(ctx, err)
			return true, err
		}
		in.kept, in.keptID = true, s.reg.ID
		ctx.Strm.Ext.Plugin = in
	}
	p.stats.calls.Add(1)
	in.begin(kService, ctx)
	in.call.sargs, in.call.reply = args, r
	rc, err := in.run(kService, s.reg.ID, int32(ev))
	if err != nil {
		ctx.Strm.Ext.Plugin = nil
		p.release(in, err)
		p.failClosed(ctx, err)
		return true, err
	}
	p.release(in, nil)
	if rc < 0 {
		err = p.guestError(abi.KindService, s.reg.Name, rc)
		p.failClosed(ctx, err)
		return true, err
	}
	return rc == abi.ServiceDone, nil
}

// EndStream releases the instance a stream kept for a service, after
// telling the guest (EventEnd). The engine calls it once per stream that
// used a plugin service, when the stream ends; it is a no-op otherwise.
func EndStream(ctx *fetch.Ctx) {
	if ctx.Strm == nil {
		return
	}
	in, _ := ctx.Strm.Ext.Plugin.(*instance)
	if in == nil {
		return
	}
	ctx.Strm.Ext.Plugin = nil
	p := in.p
	var sink Reply
	in.begin(kService, ctx)
	in.call.reply = &sink
	_, err := in.run(kService, in.keptID, int32(abi.EventEnd))
	in.kept = false
	p.release(in, err)
}

// --- attaching to the core registries ---

// Attach adds p's fetches and converters to fetches and its actions to
// actions (either may be nil), so that the configuration uses them like
// built-ins: the validator sees their layers, argument counts and points.
// Use registries cloned for the configuration generation being built.
func Attach(p *Plugin, fetches *fetch.Registry, actions *rules.Actions) error {
	for i := range p.regs {
		r := &p.regs[i]
		var err error
		switch r.Kind {
		case abi.KindFetch:
			if fetches == nil {
				continue
			}
			err = fetches.RegisterFetch(fetch.Fetch{Name: r.Name, Needs: r.Needs, MinArgs: r.MinArgs, MaxArgs: r.MaxArgs,
				ArgKinds: argKinds(r.Args), Out: sample.Type(r.Out), Fn: p.fetchFn(r)})
		case abi.KindConverter:
			if fetches == nil {
				continue
			}
			err = fetches.RegisterConverter(fetch.Converter{Name: r.Name, MinArgs: r.MinArgs, MaxArgs: r.MaxArgs,
				ArgKinds: argKinds(r.Args), In: sample.Type(r.In), Out: sample.Type(r.Out), Fn: p.convFn(r)})
		case abi.KindAction:
			if actions == nil {
				continue
			}
			err = actions.Register(r.Name, rulePoints(r.Points), p.parseAction(r))
		}
		if err != nil {
			return fmt.Errorf("%w: plugin %s: %v", ErrRegistration, p.name, err)
		}
	}
	return nil
}
