package assemble

import (
	"context"
	"fmt"
	"sync"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/plugins"
	"github.com/strata-proxy/strata/plugins/proxywasm"
)

// FilterResolver builds the filter chain entries of a generation from its
// loaded Proxy-Wasm plugins: the engine asks it for each `filters` entry
// while the generation is built (generation.BuildOptions.Filters). It keeps the filters it built, for
// /metrics; the generation's Close closes them with their plugins.
type FilterResolver struct {
	g *Bundle

	mu      sync.Mutex
	filters []*proxywasm.Filter // guarded by mu
}

// Filters returns the generation's filter resolver.
func (g *Bundle) Filters() *FilterResolver { return g.filters }

// Filter builds the chain entry c, whose HTTP calls go through caller. A
// plugin that is missing or not a Proxy-Wasm module is an error (the
// engine reports it at the entry's path); so is a module that refuses its
// configuration (proxy_on_configure returning false).
func (r *FilterResolver) Filter(c config.Filter, caller filter.Caller) (filter.Filter, error) {
	p := r.g.Plugin(c.Plugin)
	switch {
	case p == nil:
		return nil, fmt.Errorf("no plugin named %s is loaded", c.Plugin)
	case !p.Flavoured():
		return nil, fmt.Errorf("plugin %s (%s) is a %s module, not a Proxy-Wasm filter; name a plugin whose module exports %s or %s (strata_v1 plugins are used from rules, use_backend and use_service)",
			c.Plugin, p.Stats().File, p.ABI(), proxywasm.MarkerV020, proxywasm.MarkerV021)
	}
	f, err := proxywasm.New(context.Background(), proxywasm.Config{Name: c.Plugin, Plugin: p, PluginConfig: c.Config,
		MaxBody: c.MaxBody, Backends: c.Backends, Caller: caller, Entry: c.Path})
	if err != nil {
		return nil, fmt.Errorf("%s; correct the filter's config (or the plugin's vm_config)", reason(err))
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

var _ generation.FilterResolver = (*FilterResolver)(nil)

// flavours are the ABIs the plugin host serves besides strata_v1.
var flavours = []plugins.Flavour{proxywasm.Flavour}
