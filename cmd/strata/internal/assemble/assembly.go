// Package assemble is strata's composition root: it builds a running
// strata from a configuration, the core (core/generation, served by core/proxy) together with
// the configuration's plugins (package plugins). It is the one place that imports both: core defines the small
// interfaces plugins attach through, and this package adapts one to the
// other.
//
// Build, in order:
//
//  1. copies the built-in fetch registry and action set (fresh ones: a
//     generation adds to its own);
//  2. loads every `plugins:` entry into a plugins.Host whose compiled
//     modules are cached on disk (global.plugin_cache); a plugin that
//     does not load is a configuration error at plugins.NAME saying why;
//  3. attaches each plugin: its fetches, converters and actions join the
//     copies; its routing targets become generation.RouteTarget and its
//     services generation.StreamService;
//  4. compiles the generation (generation.Build), then points each plugin's
//     sample_eval at the generation's final registry, which holds the
//     stick-table fetches too.
//
// In a reload (the path is laid out in cmd/strata's package doc), the
// command decides when, this package builds the Bundle, and core/proxy
// swaps its generation in and closes the old one.
//
// States of a Bundle: built → serving (proxy.New, Start) → closed
// (Close, after the proxy has stopped: it closes the plugins and the
// host). A failed Build leaves nothing loaded.
//
// A plugin call that fails under on_error fail_closed records the stream's
// failure, fetch.Ctx.Fail(session.CausePlugin) (HostOptions.OnFailClosed),
// which makes the engine end the stream with termination cause "plugin":
// 500 in HTTP, a close in TCP.
package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/plugins"
)

// Options are what Build needs besides the configuration.
type Options struct {
	// Logger receives the plugins' messages and the backends' health
	// transitions; nil discards them.
	Logger *slog.Logger
	// CacheDir, when set, replaces global.plugin_cache ("none": memory
	// only).
	CacheDir string
	// Stick holds stick tables across generations (generation.BuildOptions).
	Stick *stick.Store
	// PluginConfig, when set, may adjust each plugin's host configuration
	// after it is read from the file (limits the file cannot express,
	// such as the instance initialisation timeout).
	PluginConfig func(*plugins.Config)
}

// Bundle is a core generation (generation.Generation, the process's one
// generation type) with the plugins it was built with: what a reload swaps
// in as one piece.
type Bundle struct {
	*generation.Generation

	// Immutable after Build:
	host     *plugins.Host // nil without plugins
	plugins  []*plugins.Plugin
	counters *counters
	log      *slog.Logger
	filters  *FilterResolver

	// versions is set by Versions.Serving when the generation starts
	// serving; read by the runtime API.
	versions atomic.Pointer[Versions]
}

// Plugins returns the generation's plugins in configuration order.
func (g *Bundle) Plugins() []*plugins.Plugin { return g.plugins }

// Plugin returns the plugin called name, or nil.
func (g *Bundle) Plugin(name string) *plugins.Plugin {
	for _, p := range g.plugins {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Stats returns the counters of every plugin, in configuration order.
func (g *Bundle) Stats() []plugins.Stats {
	out := make([]plugins.Stats, 0, len(g.plugins))
	for _, p := range g.plugins {
		out = append(out, p.Stats())
	}
	return out
}

// Close closes the plugins and their host. Call it once the proxy serving
// the generation has stopped; instances still busy are closed when their
// call ends or ctx expires.
func (g *Bundle) Close(ctx context.Context) {
	if g.host != nil {
		g.host.Close(ctx)
	}
}

// Build loads the plugins of cfg and compiles the generation. Errors are
// *config.Errors naming the configuration path of each problem.
func Build(ctx context.Context, cfg *config.Config, opt Options) (*Bundle, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Bundle{log: log, counters: &counters{}}
	g.filters = &FilterResolver{g: g}
	fetches := fetch.NewRegistry()
	actions := rules.NewActions()
	bo := generation.BuildOptions{Fetches: fetches, Actions: actions, Logger: opt.Logger, Stick: opt.Stick, Filters: g.filters}
	if len(cfg.Plugins) > 0 {
		if errs := g.loadPlugins(ctx, cfg, opt, fetches, actions, &bo); len(errs) > 0 {
			g.Close(ctx)
			return nil, &config.Errors{List: errs}
		}
	}
	gen, err := generation.Build(cfg, bo)
	if err != nil {
		g.Close(ctx)
		return nil, err
	}
	for _, p := range g.plugins {
		p.UseSamples(gen.Fetches)
		p.UseRoutes(gen)
	}
	g.counters.eng.Store(gen.StickEngine())
	g.Generation = gen
	return g, nil
}

// loadPlugins loads and attaches every plugin of cfg and fills bo's
// targets and services. It reports every plugin that fails, not only the
// first.
func (g *Bundle) loadPlugins(ctx context.Context, cfg *config.Config, opt Options, fetches *fetch.Registry, actions *rules.Actions, bo *generation.BuildOptions) []*config.Error {
	dir, dirErr := cacheDir(cfg, opt)
	if dirErr != nil {
		return []*config.Error{dirErr}
	}
	hopts := plugins.HostOptions{
		Logger: g.log, CacheDir: dir, Samples: fetches, Counters: g.counters,
		OnFailClosed: g.failClosed, Flavours: flavours,
	}
	host, err := plugins.NewHost(hopts)
	if err != nil && opt.CacheDir == "" && cfg.Global.PluginCache == "" {
		// The default cache directory is a convenience: without it,
		// modules are compiled at every start.
		g.log.Warn("plugin compilation cache unavailable; compiling in memory", "dir", dir, "error", err)
		hopts.CacheDir = ""
		host, err = plugins.NewHost(hopts)
	}
	if err != nil {
		return []*config.Error{{Path: "global.plugin_cache", Msg: err.Error(), Fix: "give a writable directory, or none"}}
	}
	g.host = host
	bo.Services = map[string]generation.Service{}
	bo.Targets = map[string]generation.RouteTarget{}
	owner := map[string]string{} // target or service name → plugin
	var errs []*config.Error
	for _, pc := range cfg.Plugins {
		hc, err := pluginConfig(cfg, pc, fetches)
		if err != nil {
			errs = append(errs, &config.Error{Path: pc.Path + ".on_error", Msg: err.Error(), Fix: "write fail_open or fail_closed"})
			continue
		}
		if opt.PluginConfig != nil {
			opt.PluginConfig(&hc)
		}
		p, err := host.Load(ctx, hc)
		if err != nil {
			errs = append(errs, loadError(pc, err))
			continue
		}
		g.plugins = append(g.plugins, p)
		if err := plugins.Attach(p, fetches, actions); err != nil {
			errs = append(errs, &config.Error{Path: pc.Path, Msg: err.Error(), Fix: "rename what the plugin registers, or remove the plugin that registers it first"})
			continue
		}
		for _, r := range p.Registrations() {
			var clash string
			switch r.Kind {
			case abi.KindTarget:
				if prev, dup := owner[r.Name]; dup {
					clash = prev
					break
				}
				bo.Targets[r.Name] = target{p.Target(r.Name)}
			case abi.KindService:
				if prev, dup := owner[r.Name]; dup {
					clash = prev
					break
				}
				if generation.BuiltinService(r.Name) {
					clash = "a built-in service"
					break
				}
				bo.Services[r.Name] = &service{p.Service(r.Name)}
			default:
				continue
			}
			if clash != "" {
				errs = append(errs, &config.Error{Path: pc.Path, Msg: fmt.Sprintf("%s %s is already provided by %s", r.Kind, r.Name, clash), Fix: "rename one of them"})
				continue
			}
			owner[r.Name] = "plugin " + p.Name()
		}
	}
	return errs
}

// failClosed is HostOptions.OnFailClosed: the engine ends the stream.
func (g *Bundle) failClosed(ctx *fetch.Ctx, p *plugins.Plugin, err error) {
	ctx.Fail(session.CausePlugin)
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("plugin", p.Name()), slog.Uint64("stream", streamID(ctx)), slog.Any("error", err)}
		g.log.LogAttrs(context.Background(), slog.LevelDebug, "plugin call failed; the stream ends (on_error fail_closed)",
			append(attrs, telemetry.LogAttrs(ctx.Span)...)...) // trace_id, span_id as in the access log
	}
}

func streamID(ctx *fetch.Ctx) uint64 {
	if ctx.Strm == nil {
		return 0
	}
	return ctx.Strm.ID
}

// pluginConfig translates a configured plugin for the host.
func pluginConfig(cfg *config.Config, pc *config.Plugin, fetches *fetch.Registry) (plugins.Config, error) {
	onErr, err := plugins.ParseOnError(pc.OnError)
	if err != nil {
		return plugins.Config{}, err
	}
	hc := plugins.Config{
		Name: pc.Name, File: cfg.Resolve(pc.File), Grants: pc.Grants,
		InstancesMin: pc.InstancesMin, InstancesMax: pc.InstancesMax,
		MemoryLimit: pc.MemoryLimit, CallTimeout: pc.CallTimeout, InitTimeout: pc.InitTimeout, OnError: onErr,
		Env: pc.Env, Samples: fetches, VMConfig: pc.VMConfig,
	}
	if pc.Config != nil {
		hc.Settings = pc.Config
	}
	return hc, nil
}

// loadError turns a failed Load into a configuration error at
// plugins.NAME.
func loadError(pc *config.Plugin, err error) *config.Error {
	e := &config.Error{Path: pc.Path, Msg: reason(err)}
	switch {
	case errors.Is(err, os.ErrNotExist):
		e.Path += ".file"
		e.Fix = "build the module (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared) or correct the path"
	case errors.Is(err, plugins.ErrConfig):
		e.Fix = "correct the plugin's settings"
	case errors.Is(err, plugins.ErrRegistration):
		e.Fix = "the plugin registered something invalid; see its documentation or configuration"
	}
	return e
}

// reason is the message of a plugin error without the host's prefix,
// which the configuration path replaces.
func reason(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

// cacheDir is where compiled modules are kept: Options.CacheDir, else
// global.plugin_cache, else strata/plugins in the user's cache directory;
// "" keeps them in memory.
func cacheDir(cfg *config.Config, opt Options) (string, *config.Error) {
	d := opt.CacheDir
	if d == "" {
		d = cfg.Global.PluginCache
	}
	switch d {
	case "none":
		return "", nil
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return "", nil
		}
		return filepath.Join(base, "strata", "plugins"), nil
	}
	d = cfg.Resolve(d)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", &config.Error{Path: "global.plugin_cache", Msg: err.Error(), Fix: "give a writable directory, or none"}
	}
	return d, nil
}

// target adapts a plugin routing target to generation.RouteTarget.
type target struct{ *plugins.Target }

func (t target) CheckArgs(args []string) error {
	return checkArgs(t.Target.Args, args)
}

func checkArgs(bounds func() (int, int), args []string) error {
	lo, hi := bounds()
	if len(args) < lo || len(args) > hi {
		if lo == hi {
			return fmt.Errorf("takes %d argument(s), got %d", lo, len(args))
		}
		return fmt.Errorf("takes %d to %d arguments, got %d", lo, hi, len(args))
	}
	return nil
}

// service adapts a plugin service to generation.StreamService.
type service struct{ s *plugins.Service }

var (
	_ generation.StreamService = (*service)(nil)
	_ generation.RouteTarget   = target{}
)

func (s *service) Modes() (http, tcp bool) {
	m := s.s.Modes()
	return m&abi.ServiceHTTP != 0, m&abi.ServiceTCP != 0
}

func (s *service) CheckArgs(args []string) error { return checkArgs(s.s.Args, args) }

// ServeHTTP answers an HTTP request in one event (the engine calls Serve;
// this is for callers that only know generation.Service).
func (s *service) ServeHTTP(ctx *fetch.Ctx, r *generation.Reply) {
	if _, err := s.Serve(ctx, abi.EventRequest, nil, r); err != nil {
		*r = generation.Reply{Status: 500}
	}
}

func (s *service) Serve(ctx *fetch.Ctx, ev abi.ServiceEvent, args []string, r *generation.Reply) (bool, error) {
	var pr plugins.Reply
	done, err := s.s.Serve(ctx, ev, args, &pr)
	if err != nil {
		return true, err
	}
	r.Status, r.Headers, r.Body = pr.Status, pr.Header, pr.Body
	return done, nil
}

func (s *service) EndStream(ctx *fetch.Ctx) { plugins.EndStream(ctx) }

// Compile-time check that plugin targets return the core's route type.
var _ func(*plugins.Target, *fetch.Ctx, []string) (*session.Route, error) = (*plugins.Target).Route
