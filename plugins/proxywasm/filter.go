package proxywasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/plugins"
)

// Config is one entry of a filter chain: the loaded Proxy-Wasm plugin it
// runs and the entry's own settings.
type Config struct {
	// Name is the entry's name in logs, metrics and spans (the plugin's
	// name when empty).
	Name string
	// Plugin is the loaded module (plugins.Host.Load with Flavour).
	Plugin *plugins.Plugin
	// VMConfig is handed to proxy_on_vm_start (default: the plugin's
	// vm_config), PluginConfig to proxy_on_configure.
	VMConfig, PluginConfig []byte
	// MaxBody is the most body bytes the engine buffers for the filter
	// (default 1 MiB).
	MaxBody int64
	// Backends are the backends proxy_http_call may name; Caller sends
	// the calls.
	Backends []string
	Caller   filter.Caller
	// RootID is the plugin_root_id property (default "").
	RootID string
	// Entry is where the configuration writes the entry
	// ("frontends.web.filters[0]"): the label that tells two entries of one
	// plugin apart on /metrics.
	Entry string
}

// Filter runs a Proxy-Wasm module as an entry of a chain. It implements
// filter.Filter. Its instances (vms) each hold one root context configured
// with the entry's configuration; a stream keeps the vm it started on.
type Filter struct {
	// Immutable after New:
	cfg      Config
	name     string
	p        *plugins.Plugin
	log      *slog.Logger
	backends map[string]bool
	maxVMs   int
	metrics  *metrics

	mu       sync.Mutex
	vms      []*vm // live vms; guarded by mu
	creating int   // vms being created; guarded by mu
	closed   bool  // guarded by mu
}

var _ filter.Filter = (*Filter)(nil)

// ErrConfigure: proxy_on_vm_start or proxy_on_configure returned false.
var ErrConfigure = errors.New("Proxy-Wasm filter refused its configuration")

// New builds a filter and its first instance, so that a configuration the
// module refuses (proxy_on_vm_start or proxy_on_configure returning false)
// or a module that traps while starting fails here, when the
// configuration is loaded, rather than on the first request.
func New(ctx context.Context, cfg Config) (*Filter, error) {
	if cfg.Plugin == nil || !cfg.Plugin.Flavoured() {
		return nil, fmt.Errorf("%w: not a Proxy-Wasm plugin", plugins.ErrConfig)
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Plugin.Name()
	}
	if cfg.VMConfig == nil {
		cfg.VMConfig = cfg.Plugin.VMConfig()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	f := &Filter{cfg: cfg, name: cfg.Name, p: cfg.Plugin, log: cfg.Plugin.Logger().With("filter", cfg.Name),
		backends: map[string]bool{}, maxVMs: max(1, cfg.Plugin.InstancesMax()),
		metrics: newMetrics()}
	for _, b := range cfg.Backends {
		f.backends[b] = true
	}
	// instances.min instances start now, so that the first requests do
	// not wait for an instance to be configured (a WAF takes seconds).
	for i := range min(max(1, cfg.Plugin.InstancesMin()), f.maxVMs) {
		v, err := f.newVM(ctx)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("filter %s: %w", f.name, err)
			}
			f.log.Warn("an instance beyond the first did not start; more start on demand", "error", err)
			break
		}
		// The vm's root context may already tick, and a tick may kill it:
		// f.vms is guarded from here on.
		f.mu.Lock()
		if !v.isDead() {
			f.vms = append(f.vms, v)
		}
		f.mu.Unlock()
	}
	f.p.OnClose(f.Close)
	return f, nil
}

// Name is the chain entry's name.
func (f *Filter) Name() string { return f.name }

// MaxBody is the most body bytes buffered while the filter pauses a body
// callback.
func (f *Filter) MaxBody() int { return int(f.cfg.MaxBody) }

// Plugin returns the plugin the filter runs.
func (f *Filter) Plugin() *plugins.Plugin { return f.p }

// Close stops the filter's vms: idle ones at once, the others when their
// last stream ends. It is called when the plugin closes.
func (f *Filter) Close() {
	f.mu.Lock()
	f.closed = true
	vms := f.vms
	f.vms = nil
	f.mu.Unlock()
	for _, v := range vms {
		v.retire()
	}
}

// NewStream is called when a stream reaches the filter. A plugin that is
// quarantined or closed for the stream's source follows on_error:
// fail_open passes the stream through untouched, fail_closed fails it.
func (f *Filter) NewStream(s filter.Stream) (filter.StreamFilter, error) {
	src := plugins.SourceOf(s.Sample())
	if err := f.p.Admit(src); err != nil {
		return f.failed(err)
	}
	v, err := f.pick()
	if err != nil {
		return f.failed(err)
	}
	sf, err := v.newStream(s, src)
	if err != nil {
		return f.failed(err)
	}
	return sf, nil
}

// failed is NewStream's answer when the stream cannot have a context.
func (f *Filter) failed(err error) (filter.StreamFilter, error) {
	if f.p.OnError() == plugins.FailOpen {
		return passStream{}, nil
	}
	return nil, err
}

// pick returns the vm for a new stream: the live one with the fewest
// streams, or a new one while every vm has streams and fewer than
// instances.max exist.
func (f *Filter) pick() (*vm, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, plugins.ErrClosed
	}
	var best *vm
	for _, v := range f.vms {
		if v.isDead() {
			continue // being removed
		}
		if best == nil || v.load.Load() < best.load.Load() {
			best = v
		}
	}
	if best != nil && (best.load.Load() == 0 || len(f.vms)+f.creating >= f.maxVMs) {
		best.load.Add(1)
		f.mu.Unlock()
		return best, nil
	}
	f.creating++
	f.mu.Unlock()
	v, err := f.newVM(context.Background())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creating--
	if err != nil {
		if best != nil && !best.isDead() {
			best.load.Add(1)
			return best, nil
		}
		return nil, err
	}
	if f.closed {
		go v.retire()
		return nil, plugins.ErrClosed
	}
	if v.isDead() { // its tick failed already
		return nil, plugins.ErrTrap
	}
	f.vms = append(f.vms, v)
	v.load.Add(1)
	return v, nil
}

// remove takes a dead vm out of the filter: new streams go to another.
func (f *Filter) remove(v *vm) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.vms {
		if x == v {
			f.vms = append(f.vms[:i], f.vms[i+1:]...)
			return
		}
	}
}

// onError is the Status of a callback that could not run.
func (f *Filter) onError() filter.Status {
	if f.p.OnError() == plugins.FailOpen {
		return filter.Continue
	}
	return filter.Fail
}

// passStream is the StreamFilter of a stream the filter lets through
// without a call (on_error fail_open while the plugin is unavailable).
type passStream struct{}

func (passStream) RequestHeaders(bool) Status            { return filter.Continue }
func (passStream) RequestBody(filter.Body, bool) Status  { return filter.Continue }
func (passStream) RequestTrailers() Status               { return filter.Continue }
func (passStream) ResponseHeaders(bool) Status           { return filter.Continue }
func (passStream) ResponseBody(filter.Body, bool) Status { return filter.Continue }
func (passStream) ResponseTrailers() Status              { return filter.Continue }
func (passStream) Log()                                  {}
func (passStream) Done()                                 {}

// Status is filter.Status, for short.
type Status = filter.Status
