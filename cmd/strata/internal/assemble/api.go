package assemble

import (
	"net/http"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/proxy"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/plugins"
)

// RegisterAPI adds the plugin routes to the runtime API. cur returns the
// generation serving new connections.
//
//	GET /v1/plugins         every plugin: file, ABI (abi_name: strata_v1,
//	                        proxy-wasm 0.2.1, proxy-wasm 0.2.0), registrations,
//	                        grants, on_error, instances, calls, errors,
//	                        traps, timeouts, memory faults, quarantine,
//	                        module SHA-256; with Versions (versions.go):
//	                        generation, loaded_at, reload_failures,
//	                        last_error
//	GET /v1/plugins/{name}  one plugin
func RegisterAPI(a *admin.Server, cur func() *Bundle) {
	a.HandleFunc("GET /v1/plugins", func(w http.ResponseWriter, r *http.Request) {
		out := []PluginStats{}
		if g := cur(); g != nil {
			for _, p := range g.plugins {
				out = append(out, g.pluginStats(p))
			}
		}
		admin.WriteJSON(w, http.StatusOK, out)
	})
	a.HandleFunc("GET /v1/plugins/{name}", func(w http.ResponseWriter, r *http.Request) {
		var p *plugins.Plugin
		g := cur()
		if g != nil {
			p = g.Plugin(r.PathValue("name"))
		}
		if p == nil {
			admin.WriteError(w, http.StatusNotFound, "no plugin named "+r.PathValue("name"))
			return
		}
		admin.WriteJSON(w, http.StatusOK, g.pluginStats(p))
	})
}

// RegisterMetrics adds the plugins' metrics (calls, errors, traps,
// timeouts, instances, call latency) of the generation cur returns to
// every reading of p's metrics: GET /metrics and the OTLP export.
func RegisterMetrics(p *proxy.Proxy, cur func() *Bundle) {
	p.AddGatherer(func(m *telemetry.Metrics) {
		g := cur()
		if g == nil {
			return
		}
		for _, pl := range g.plugins {
			pl.Gather(m)
		}
		g.filters.Gather(m)
	})
}
