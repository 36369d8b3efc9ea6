package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/exporter"
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
	g := p.Gen.Load()
	stopping := p.Draining.Load()
	src := &exporter.Source{Process: exporter.Process{
		MaxConn: p.maxConn.Load(), CurConns: p.Slots.Cur.Load(), Stopping: stopping, Version: telemetry.Version,
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

// StatsJSON is the stats page's data: Stats as JSON.
func (p *Proxy) StatsJSON() []byte {
	body, _ := json.Marshal(p.Stats())
	return body
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
