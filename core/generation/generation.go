package generation

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/logfmt"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Generation is one compiled configuration: frontends, backends, rules and
// the registries they were compiled against. Streams keep the generation
// they started on until they end, so a reload never changes the rules under
// a running stream.
type Generation struct {
	// Immutable after Build:
	Config    *config.Config
	Fetches   *fetch.Registry
	Actions   *rules.Actions
	Frontends []*Frontend
	Backends  []*Backend
	Services  map[string]Service

	ByName  map[string]*Backend
	targets map[string]RouteTarget // BuildOptions.Targets (plugin_route.go)
	Proc    *sample.SharedVars
	Stick   *stickState       // stick tables and tracking (stick.go); nil without tables
	Tracing *telemetry.Tracer // global.tracing; nil when off (core/stream/telemetry.go)
	Life    Life              // serving, replaced, closed (life.go)
	// owner is the proxy serving the generation, set when it adopts it:
	// the services that show the proxy's state read it (owner.go).
	owner atomic.Pointer[Owner]
}

// Frontend is the run-time form of a configured frontend.
type Frontend struct {
	// Immutable after Build:
	Name     string
	HTTP     bool
	Binds    []string
	Timeouts config.FrontendTimeouts
	Limits   h1.Limits
	MaxConn  int

	TCPConnection, TCPSession, TCPContent *rules.Set
	HTTPRequest, HTTPResponse, HTTPAfter  *rules.Set
	UseBackend, UseService                []*rules.Target
	Default                               *Backend
	ForwardFor                            *config.ForwardFor
	Forwarded                             bool
	MonitorURI                            string // monitor_uri; "" when none (core/stream/monitor.go)

	// BackendEntries and serviceEntries resolve the static entries of
	// UseBackend and UseService that name a routing target or a service
	// (plugin_route.go); nil when none does.
	BackendEntries, ServiceEntries []*RouteEntry

	H2 H2Settings // HTTP/2 settings (h2settings.go)

	// The access log (accesslog.go): the log_format, nil for strata's
	// own line, and the headers captured for it.
	LogFormat              *logfmt.Format
	CaptureReq, CaptureRes []config.Capture
	UniqueID               *logfmt.Format // unique_id_format; nil: none
	UniqueIDHeader         []byte
	Filters                []filter.Filter // the HTTP filter chain (filter.go); nil when none

	Stats stats.Counters
	Cur   atomic.Int64
	// Slots counts the connections against MaxConn (core/proxy/maxconn.go); shared
	// with the frontend of the same name in the next generation.
	Slots *listen.Slots
}

// Backend is the run-time form of a configured backend: its servers and its
// rules.
type Backend struct {
	*backend.Backend

	HTTPRequest, HTTPResponse, HTTPAfter *rules.Set
	UseService                           []*rules.Target
	ServiceEntries                       []*RouteEntry // as Frontend's
	ForwardFor                           *config.ForwardFor
	Forwarded                            bool

	Filters []filter.Filter // the HTTP filter chain (filter.go); nil when none
}

// backendSpec translates a configured backend for the backend package.
func backendSpec(bc *config.Backend, http bool, log *slog.Logger) backend.Spec {
	spec := backend.Spec{
		Name: bc.Name, HTTP: http,
		Timeouts: backend.Timeouts{
			Connect: bc.Timeouts.Connect, Server: bc.Timeouts.Server, Tunnel: bc.Timeouts.Tunnel,
			Queue: bc.Timeouts.Queue, HTTPKeepAlive: bc.Timeouts.HTTPKeepAlive,
		},
		Balance: bc.Balance, HashType: bc.HashType, MaxConn: bc.MaxConn,
		Retries: bc.Retries, Redispatch: bc.Redispatch, ErrorLimit: bc.ErrorLimit, Log: log,
	}
	spec.Observe, _ = backend.ParseObserve(bc.Observe)
	if hc := bc.HealthCheck; hc != nil {
		spec.Check = &backend.CheckSpec{
			Type: hc.Type, Method: hc.Method, Path: hc.Path, Host: hc.Host,
			Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall,
		}
		for _, r := range hc.Expect.Status {
			spec.Check.Expect = append(spec.Check.Expect, backend.StatusRange{Lo: r.Lo, Hi: r.Hi})
		}
	}
	for _, s := range bc.Servers {
		pool := s.PoolMaxConn
		if pool == 0 {
			pool = -1 // none kept; the backend package reads 0 as its default
		}
		spec.Servers = append(spec.Servers, backend.ServerSpec{
			Name: s.Name, Addr: s.Address, Weight: s.Weight, MaxConn: s.MaxConn,
			Backup: s.Backup, Disabled: s.Disabled, PoolMaxConn: pool,
		})
	}
	return spec
}

// Backend returns the backend called name, or nil.
func (g *Generation) Backend(name string) *Backend { return g.ByName[name] }

// BackendBytes looks a backend up by a name held in bytes without
// allocating (the compiler elides the conversion in a map index).
func (g *Generation) BackendBytes(name []byte) *Backend { return g.ByName[string(name)] }

// BuildOptions are what Build needs besides the configuration.
type BuildOptions struct {
	Fetches  *fetch.Registry    // nil: the built-ins
	Actions  *rules.Actions     // nil: the built-ins
	Services map[string]Service // services beyond the built-ins (plugins); a StreamService also answers TCP
	Logger   *slog.Logger       // health transitions; nil: discard
	// Stick holds the stick tables across generations: a table whose
	// definition is unchanged keeps its entries (stick.go). nil: new tables.
	Stick *stick.Store
	// Targets are routing targets (plugins) that use_backend and
	// use_service entries may name (plugin_route.go).
	Targets map[string]RouteTarget
	// Tracer, when set, replaces the tracer global.tracing would make
	// (tests and benchmarks); the generation shuts it down when it closes.
	Tracer *telemetry.Tracer
	// Filters builds the filters of frontends' and backends' filter
	// chains (filter.go); nil: a configuration with filters is refused.
	Filters FilterResolver
}

// Build compiles cfg into a Generation. It reports every error it finds,
// each naming its configuration path, and never returns a partial result.
func Build(cfg *config.Config, opt BuildOptions) (*Generation, error) {
	g := &Generation{
		Config:   cfg,
		Fetches:  opt.Fetches,
		Actions:  opt.Actions,
		Services: map[string]Service{},
		ByName:   map[string]*Backend{},
		targets:  opt.Targets,
		Proc:     &sample.SharedVars{},
	}
	if g.Fetches == nil {
		g.Fetches = fetch.NewRegistry()
	}
	if g.Actions == nil {
		g.Actions = rules.NewActions()
	}
	for name, s := range builtinServices {
		g.Services[name] = s
	}
	g.addProxyServices() // prometheus-exporter, stats (owner.go)
	for name, s := range opt.Services {
		g.Services[name] = s
	}
	var errs []*config.Error
	fail := func(path string, err error) {
		errs = append(errs, &config.Error{Path: path, Msg: err.Error()})
	}

	limits := h1.Limits{
		MaxRequestLine: cfg.Global.Tune.MaxRequestLine,
		MaxHeadBytes:   cfg.Global.Tune.MaxHeadBytes,
		MaxHeaders:     cfg.Global.Tune.MaxHeaders,
	}
	if len(cfg.StickTables) > 0 {
		errs = append(errs, g.buildStick(cfg, opt)...) // before any rule uses a tracking fetch or action
	}

	maint, unresolved := resolveServers(cfg, opt.Logger) // init_addr (initaddr.go)
	errs = append(errs, unresolved...)
	for _, bc := range cfg.Backends {
		http := bc.Mode == config.ModeHTTP
		spec := backendSpec(bc, http, opt.Logger)
		for i, s := range bc.Servers {
			spec.Servers[i].Disabled = spec.Servers[i].Disabled || maint[s]
		}
		core, err := backend.New(spec)
		if err != nil {
			fail(bc.Path, err)
			continue
		}
		be := &Backend{Backend: core, ForwardFor: bc.ForwardFor, Forwarded: bc.Forwarded}
		env := g.newEnv(cfg, http, bc.ACLs, bc.ACLPath, fail)
		be.HTTPRequest = g.compileSet(rules.HTTPRequest, bc.HTTPRequest, env, fail)
		be.HTTPResponse = g.compileSet(rules.HTTPResponse, bc.HTTPResponse, env, fail)
		be.HTTPAfter = g.compileSet(rules.HTTPAfterResponse, bc.HTTPAfterResponse, env, fail)
		be.UseService, be.ServiceEntries = g.compileRouted(rules.UseService, bc.UseService, env, http, fail, g.checkService)
		be.Filters = g.buildChain(bc.Filters, opt.Filters, fail)
		g.Backends = append(g.Backends, be)
		g.ByName[bc.Name] = be
	}

	for _, fc := range cfg.Frontends {
		http := fc.Mode == config.ModeHTTP
		fe := &Frontend{
			Name: fc.Name, HTTP: http, Binds: fc.Bind, Timeouts: fc.Timeouts, Limits: limits,
			MaxConn: fc.MaxConn, ForwardFor: fc.ForwardFor, Forwarded: fc.Forwarded,
			MonitorURI: fc.MonitorURI, Slots: &listen.Slots{},
		}
		fe.H2 = newH2Frontend(fc, fe, opt.Logger)
		fe.LogFormat, fe.CaptureReq, fe.CaptureRes = buildLogFormat(fc)
		fe.UniqueID, fe.UniqueIDHeader = buildUniqueID(fc)
		env := g.newEnv(cfg, http, fc.ACLs, fc.ACLPath, fail)
		fe.TCPConnection = g.compileSet(rules.TCPConnection, fc.TCPRequestConnection, env, fail)
		fe.TCPSession = g.compileSet(rules.TCPSession, fc.TCPRequestSession, env, fail)
		fe.TCPContent = g.compileSet(rules.TCPContent, fc.TCPRequestContent, env, fail)
		if http {
			fe.HTTPRequest = g.compileSet(rules.HTTPRequest, fc.HTTPRequest, env, fail)
			fe.HTTPResponse = g.compileSet(rules.HTTPResponse, fc.HTTPResponse, env, fail)
			fe.HTTPAfter = g.compileSet(rules.HTTPAfterResponse, fc.HTTPAfterResponse, env, fail)
		} else {
			for _, r := range []config.Rules{fc.HTTPRequest, fc.HTTPResponse, fc.HTTPAfterResponse} {
				if len(r.List) > 0 {
					errs = append(errs, &config.Error{Path: r.Path, Msg: "HTTP rules in a TCP frontend", Fix: "set mode: http or move the rules to tcp_request_content"})
				}
			}
		}
		fe.UseBackend, fe.BackendEntries = g.compileRouted(rules.UseBackend, fc.UseBackend, env, http, fail, g.checkBackend(fe))
		fe.UseService, fe.ServiceEntries = g.compileRouted(rules.UseService, fc.UseService, env, http, fail, g.checkService)
		if fc.DefaultBackend != "" {
			fe.Default = g.ByName[fc.DefaultBackend]
		}
		fe.Filters = g.buildChain(fc.Filters, opt.Filters, fail)
		g.Frontends = append(g.Frontends, fe)
	}
	errs = append(errs, g.buildStickOn(cfg)...)
	if len(errs) > 0 {
		return nil, &config.Errors{List: errs}
	}
	if opt.Tracer != nil {
		g.Tracing = opt.Tracer
	} else if t, err := telemetry.NewTracer(cfg.Global.Tracing); err != nil {
		g.closeStick()
		return nil, &config.Errors{List: []*config.Error{{Path: "global.tracing", Msg: err.Error(), Fix: "correct the exporter settings, or set exporter: none"}}}
	} else {
		g.Tracing = t
	}
	return g, nil
}

func (g *Generation) newEnv(cfg *config.Config, http bool, acls map[string][]string, aclPath string, fail func(string, error)) *rules.Env {
	env := &rules.Env{Fetches: g.Fetches, Actions: g.Actions, HTTP: http, Dir: cfg.Dir}
	for name, defs := range acls {
		for i, def := range defs {
			if err := env.DefineACL(name, def); err != nil {
				fail(aclPath+"."+name+indexSuffix(len(defs), i), err)
			}
		}
	}
	return env
}

func indexSuffix(n, i int) string {
	if n <= 1 {
		return ""
	}
	return "[" + strconv.Itoa(i) + "]"
}

func (g *Generation) compileSet(p rules.Point, rs config.Rules, env *rules.Env, fail func(string, error)) *rules.Set {
	if len(rs.List) == 0 {
		return nil
	}
	set := &rules.Set{}
	for i, src := range rs.List {
		r, err := rules.Compile(p, src, env)
		if err != nil {
			fail(rs.Path+"["+strconv.Itoa(i)+"]", err)
			continue
		}
		set.Rules = append(set.Rules, r)
	}
	return set
}

func (g *Generation) checkService(t *rules.Target) error {
	if t.Dynamic() {
		return nil
	}
	if _, ok := g.Services[t.Name]; !ok {
		return fmt.Errorf("unknown service %q%s", t.Name, knownNames(g.Services))
	}
	return nil
}

func (g *Generation) checkBackend(fe *Frontend) func(*rules.Target) error {
	return func(t *rules.Target) error {
		if t.Dynamic() {
			return nil
		}
		be, ok := g.ByName[t.Name]
		if !ok {
			return fmt.Errorf("unknown backend %q", t.Name)
		}
		if be.HTTP != fe.HTTP {
			return fmt.Errorf("backend %q is in %s mode but the frontend is in %s mode", t.Name, ModeName(be.HTTP), ModeName(fe.HTTP))
		}
		return nil
	}
}

func ModeName(http bool) string {
	if http {
		return "http"
	}
	return "tcp"
}

func knownNames[V any](m map[string]V) string {
	if len(m) == 0 {
		return ""
	}
	s := "; known services:"
	for n := range m {
		s += " " + n
	}
	return s
}

// Start starts what runs in the background while the generation serves:
// health checks.
func (g *Generation) Start() {
	for _, b := range g.Backends {
		b.Start()
	}
	g.startStick()
}

// Close releases what the generation holds: health checks, pooled
// server connections and its tracer, which exports its last spans in the
// background (every stream of the generation has ended by then; the
// proxy's Shutdown waits for that export, flush.go). It may be called
// more than once.
func (g *Generation) Close() {
	for _, b := range g.Backends {
		b.Close()
	}
	g.closeStick()
	if t := g.Tracing; t != nil {
		fs := g.Life.Flushes
		if fs == nil { // built, never served
			fs = &Flushes{}
		}
		fs.Start(func(ctx context.Context) { t.Shutdown(ctx) })
	}
}

// Tracer returns the generation's tracer, nil when tracing is off.
func (g *Generation) Tracer() *telemetry.Tracer { return g.Tracing }

// ForwardForApplies reports whether an X-Forwarded-For field should be
// added for client address src.
func ForwardForApplies(ff *config.ForwardFor, src netip.Addr) bool {
	if ff == nil {
		return false
	}
	for _, p := range ff.Except {
		if p.Contains(src.Unmap()) {
			return false
		}
	}
	return true
}

// LayersHTTP is the layer set of every HTTP evaluation point.
const LayersHTTP = abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn
