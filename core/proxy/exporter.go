package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/exporter"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/statspage"
	"github.com/strata-proxy/strata/core/telemetry"
)

// The Prometheus endpoint: GET /metrics on the admin API, and the
// built-in service prometheus-exporter that a frontend serves without the
// admin token (`use_service: [prometheus-exporter if { path /metrics }]`,
// as HAProxy's `http-request use-service prometheus-exporter`). Both write
// the same reading: strata's own families (strata_*), the families of
// HAProxy's exporter (haproxy_*, core/exporter), and the process and Go
// runtime's (process_*, go_*). The OTLP export (global.metrics) keeps to
// strata's own families.

// gatherPrometheus is a reading for the Prometheus endpoint.
func (p *Proxy) gatherPrometheus(m *telemetry.Metrics) {
	p.gatherAll(m)
	exporter.Gather(m, p.exporterSource())
	exporter.GatherRuntime(m, telemetry.Version, telemetry.Revision)
}

// exporterSource describes the serving generation and the process for
// core/exporter.
func (p *Proxy) exporterSource() *exporter.Source {
	g := p.gen.Load()
	stopping := p.draining.Load()
	src := &exporter.Source{Process: exporter.Process{
		MaxConn: p.maxConn.Load(), CurConns: p.slots.Cur.Load(), Stopping: stopping, Version: telemetry.Version,
	}}
	p.mu.Lock()
	if !stopping {
		src.Process.Listeners = len(p.listeners)
	}
	p.mu.Unlock()
	for _, fe := range g.Frontends {
		limit := int64(fe.MaxConn)
		if limit == 0 {
			limit = src.Process.MaxConn
		}
		src.Frontends = append(src.Frontends, exporter.Frontend{Name: fe.Name, HTTP: fe.HTTP, MaxConn: limit, Stopped: stopping, Stats: &fe.Stats})
	}
	src.Backends = make([]*backend.Backend, len(g.Backends))
	for i, be := range g.Backends {
		src.Backends[i] = be.Backend
	}
	return src
}

// PrometheusText renders a reading for the Prometheus endpoint.
func (p *Proxy) PrometheusText() []byte {
	var b bytes.Buffer
	telemetry.Gather(p.gatherPrometheus).WritePrometheus(&b)
	return b.Bytes()
}

// owner is what the built-in services that show the proxy's state read of
// the proxy serving their generation.
type owner interface {
	// PrometheusText is a reading of every metric, as the Prometheus
	// endpoint renders it.
	PrometheusText() []byte
	// StatsJSON is the stats page's data.
	StatsJSON() []byte
}

// StatsJSON is the stats page's data: Stats as JSON.
func (p *Proxy) StatsJSON() []byte {
	body, _ := json.Marshal(p.Stats())
	return body
}

// setOwner tells the generation's services which proxy serves it.
func (g *Generation) setOwner(p owner) { g.owner.Store(&p) }

// addProxyServices adds the built-in services that show the proxy's own
// state; they read it through g.owner, set when a proxy adopts g (until
// then they answer 503).
func (g *Generation) addProxyServices() {
	g.Services["prometheus-exporter"] = ServiceFunc(func(ctx *fetch.Ctx, r *Reply) {
		p := g.owner.Load()
		if p == nil {
			r.Status = 503
			return
		}
		r.Status, r.ContentType, r.Body = 200, []byte(telemetry.ContentType), (*p).PrometheusText()
	})
	g.Services["stats"] = ServiceFunc(func(ctx *fetch.Ctx, r *Reply) {
		p := g.owner.Load()
		if p == nil {
			r.Status = 503
			return
		}
		serveStatsService(*p, ctx, r)
	})
}

// serveStatsService answers the stats service of a frontend: the stats
// page, read-only (no server buttons: those need the admin token), and
// its data at the same path with the query "json".
func serveStatsService(p owner, ctx *fetch.Ctx, r *Reply) {
	uri := ctx.Txn.Req.URI
	if q := bytes.IndexByte(uri, '?'); q >= 0 && bytes.Equal(uri[q+1:], []byte("json")) {
		r.Status, r.ContentType, r.Body = 200, []byte("application/json"), p.StatsJSON()
		return
	}
	r.Status, r.ContentType, r.Body = 200, []byte("text/html; charset=utf-8"), statspage.HTML(statspage.ReadOnly)
}

// registerStatsPage serves the stats page on the admin listener at
// GET /stats. The page is public (static HTML and script, no data): its
// script reads GET /v1/stats and changes servers with the bearer token
// the operator gives it, like any other client of the runtime API.
func registerStatsPage(a adminMux) {
	a.HandlePublic("GET /stats", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Write(statspage.HTML(statspage.Admin))
	}))
}

// adminMux is what registerStatsPage needs of the admin server.
type adminMux interface {
	HandlePublic(pattern string, h http.Handler)
}
