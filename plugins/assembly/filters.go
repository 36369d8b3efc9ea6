package assembly

import (
	"context"
	"fmt"
	"sync"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/plugins"
	"github.com/strata-proxy/strata/plugins/proxywasm"
)

// FilterConfig is one entry of a frontend's or backend's `filters`, with
// the fields of config.Filter (an unnamed struct type, so that a
// config.Filter is assignable to it).
type FilterConfig = struct {
	Plugin   string
	Config   []byte
	MaxBody  int64
	Backends []string
	Path     string
}

// FilterResolver builds the filter chain entries of a generation from its
// loaded Proxy-Wasm plugins: the engine asks it for each `filters` entry
// while the generation is built. It keeps the filters it built, for
// /metrics; the generation's Close closes them with their plugins.
type FilterResolver struct {
	g *Generation

	mu      sync.Mutex
	filters []*proxywasm.Filter // guarded by mu
}

// Filters returns the generation's filter resolver.
func (g *Generation) Filters() *FilterResolver { return g.filters }

// Filter builds the chain entry c, whose HTTP calls go through caller. A
// plugin that is missing, or not a Proxy-Wasm module, is a configuration
// error at the entry's path; so is a module that refuses its
// configuration (proxy_on_configure returning false).
func (r *FilterResolver) Filter(c FilterConfig, caller filter.Caller) (filter.Filter, error) {
	p := r.g.Plugin(c.Plugin)
	switch {
	case p == nil:
		return nil, &config.Error{Path: c.Path + ".plugin", Msg: fmt.Sprintf("no plugin named %s is loaded", c.Plugin),
			Fix: "name an entry of plugins that loads"}
	case !p.Flavoured():
		return nil, &config.Error{Path: c.Path + ".plugin",
			Msg: fmt.Sprintf("plugin %s (%s) is a %s module, not a Proxy-Wasm filter", c.Plugin, p.Stats().File, p.ABI()),
			Fix: "name a plugin whose module exports " + proxywasm.MarkerV020 + " or " + proxywasm.MarkerV021 +
				"; strata_v1 plugins are used from rules, use_backend and use_service"}
	}
	f, err := proxywasm.New(context.Background(), proxywasm.Config{Name: c.Plugin, Plugin: p, PluginConfig: c.Config,
		MaxBody: c.MaxBody, Backends: c.Backends, Caller: caller})
	if err != nil {
		return nil, &config.Error{Path: c.Path, Msg: reason(err), Fix: "correct the filter's config (or the plugin's vm_config)"}
	}
	r.mu.Lock()
	r.filters = append(r.filters, f)
	r.mu.Unlock()
	return f, nil
}

// Gather adds the guest metrics of every filter built (proxy_define_metric)
// to a reading.
func (r *FilterResolver) Gather(m *telemetry.Metrics) {
	r.mu.Lock()
	fs := r.filters
	r.mu.Unlock()
	for _, f := range fs {
		f.Gather(m)
	}
}

// flavours are the ABIs the plugin host serves besides strata_v1.
var flavours = []plugins.Flavour{proxywasm.Flavour}
