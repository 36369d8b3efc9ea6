package proxy

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Metrics: GET /metrics on the admin API (Prometheus text) and the OTLP
// export of global.metrics read the same counters, those the runtime API
// shows, through Gather. Counters of frontends, backends and servers start
// from zero in a new generation (see reload.go); Prometheus's rate() and
// OTLP's start time handle the reset.

// AddGatherer adds what g knows to every reading (plugins add theirs this
// way). Call it before the admin API or the exporter reads metrics.
func (p *Proxy) AddGatherer(g telemetry.Gatherer) {
	p.metrics.mu.Lock()
	p.metrics.extra = append(p.metrics.extra, g)
	p.metrics.mu.Unlock()
}

// Gather returns a reading of every metric.
func (p *Proxy) Gather() *telemetry.Metrics { return telemetry.Gather(p.gatherAll) }

func (p *Proxy) gatherAll(m *telemetry.Metrics) {
	p.metrics.mu.Lock()
	gs := append([]telemetry.Gatherer{p.gatherCore}, p.metrics.extra...)
	p.metrics.mu.Unlock()
	for _, g := range gs {
		g(m)
	}
}

// MetricsHandler serves GET /metrics: strata's families, HAProxy's and
// the process's (exporter.go).
func (p *Proxy) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := telemetry.Gather(p.gatherPrometheus)
		w.Header().Set("Content-Type", telemetry.ContentType)
		m.WritePrometheus(w)
	})
}

func (p *Proxy) registerMetricsAPI(a *admin.Server) {
	a.Handle("GET /metrics", p.MetricsHandler())
	registerStatsPage(a) // GET /stats (exporter.go)
}

var classLabels = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// counters adds the points of c, for the object prefix ("frontend",
// "backend", "server") with labels.
func counters(m *telemetry.Metrics, prefix string, c *stats.Counters, labels ...string) {
	n := "strata_" + prefix + "_"
	if prefix != "server" {
		m.Counter(n+"sessions_total", "Sessions (client connections) accepted, or server connections opened.", float64(c.Sessions.Load()), labels...)
		m.Gauge(n+"current_sessions", "Sessions open now.", float64(c.CurSessions.Load()), labels...)
	}
	m.Counter(n+"streams_total", "Streams (requests or tunnels) started.", float64(c.Streams.Load()), labels...)
	if prefix != "server" {
		m.Gauge(n+"current_streams", "Streams in progress.", float64(c.CurStreams.Load()), labels...)
	}
	for i := range c.Status {
		m.Counter(n+"responses_total", "Responses by status class.", float64(c.Status[i].Load()), append(labels[:len(labels):len(labels)], "class", classLabels[i])...)
	}
	m.Counter(n+"bytes_in_total", "Bytes received from clients (request side).", float64(c.BytesIn.Load()), labels...)
	m.Counter(n+"bytes_out_total", "Bytes sent to clients (response side).", float64(c.BytesOut.Load()), labels...)
	for i := range c.Term {
		if v := c.Term[i].Load(); v != 0 {
			m.Counter(n+"terminations_total", "Streams ended, by termination cause.", float64(v), append(labels[:len(labels):len(labels)], "cause", session.Cause(i).String())...)
		}
	}
	if prefix != "frontend" {
		m.Counter(n+"connect_errors_total", "Failed connection attempts to servers.", float64(c.ConnErrors.Load()), labels...)
		m.Histogram(n+"ttfb_seconds", "Time from the request sent to the first byte of the server's response.", c.Latency.TTFB.Snapshot(), labels...)
	}
	m.Histogram(n+"duration_seconds", "Time from the start of a stream to its end.", c.Latency.Total.Snapshot(), labels...)
	switch prefix {
	case "frontend":
		m.Counter(n+"h2_errors_total", "HTTP/2 stream and connection errors caused by clients: malformed requests, protocol violations, flood and rapid-reset limits.", float64(c.H2Errors.Load()), labels...)
		m.Counter(n+"tls_handshake_errors_total", "TLS handshakes with clients that failed or timed out.", float64(c.HandshakeErrors.Load()), labels...)
		m.Counter(n+"proxy_protocol_errors_total", "Client connections closed for a missing, malformed or late PROXY protocol header.", float64(c.ProxyErrors.Load()), labels...)
	case "server":
		m.Counter(n+"tls_handshake_errors_total", "TLS handshakes with the server that failed or timed out.", float64(c.HandshakeErrors.Load()), labels...)
	}
}

// gatherCore reads the serving generation and the proxy.
func (p *Proxy) gatherCore(m *telemetry.Metrics) {
	g := p.Gen.Load()
	for _, fe := range g.Frontends {
		counters(m, "frontend", &fe.Stats, "frontend", fe.Name)
		gatherSlots(m, "strata_frontend_", fe.Slots, int64(fe.MaxConn), "frontend", fe.Name)
	}
	gatherSlots(m, "strata_", &p.Slots, p.maxConn.Load())
	m.Gauge("strata_parked_connections", "Idle client connections (HTTP/1.1 between requests, HTTP/2 with no stream) waiting without a goroutine.", float64(p.Parked.Load()))
	m.Counter("strata_parks_total", "Idle client connections (HTTP/1.1 between requests, HTTP/2 with no stream) given up by their goroutine.", float64(p.Parks.Load()))
	for _, be := range g.Backends {
		counters(m, "backend", &be.Stats, "backend", be.Name)
		m.Gauge("strata_backend_queue_length", "Streams waiting for a server slot.", float64(be.QueueLen()), "backend", be.Name)
		m.Counter("strata_backend_redispatches_total", "Streams moved to another server after a failed connection.", float64(be.Redispatches.Load()), "backend", be.Name)
		up := 0
		for _, s := range be.Servers {
			l := []string{"backend", be.Name, "server", s.Name}
			counters(m, "server", &s.Stats, l...)
			m.Gauge("strata_server_current_streams", "Streams being served by the server.", float64(s.Cur.Load()), l...)
			m.Gauge("strata_server_queue_length", "Streams waiting for a slot of the server.", float64(s.QueueLen()), l...)
			m.Gauge("strata_server_idle_connections", "Idle pooled connections to the server.", float64(s.IdleCount()), l...)
			m.Counter("strata_server_idle_reaped_total", "Idle pooled connections to the server closed by the sweep: closed by the server, or idle past http_keep_alive.", float64(s.Reaped.Load()), l...)
			m.Counter("strata_server_retries_total", "Connection retries to the server.", float64(s.Retries.Load()), l...)
			m.Counter("strata_server_connection_reuses_total", "Requests sent on a pooled connection to the server rather than a new one.", float64(s.Reuses.Load()), l...)
			ci := s.CheckInfo()
			m.Counter("strata_server_check_failures_total", "Failed health checks of the server.", float64(ci.FailedAll), l...)
			m.Counter("strata_server_downs_total", "Times the server went down (failed checks or observed errors).", float64(ci.Downs), l...)
			running := 0.0
			if s.Running() {
				running, up = 1, up+1
			}
			m.Gauge("strata_server_up", "1 when the server may take traffic (health and operator state), else 0.", running, l...)
			m.Gauge("strata_server_health", "1 for the server's current health and operator state, by name.", 1,
				append(l[:4:4], "health", s.Health().String(), "state", s.State().String())...)
		}
		m.Gauge("strata_backend_servers_up", "Servers that may take traffic.", float64(up), "backend", be.Name)
	}
	if st := g.StickStore(); st != nil {
		ts := st.Current()
		for _, name := range ts.Names() {
			t := ts.Get(name)
			m.Gauge("strata_stick_table_entries", "Entries in the stick table.", float64(t.Len()), "table", name)
			m.Gauge("strata_stick_table_size", "Maximum number of entries of the stick table.", float64(t.Def().Size), "table", name)
			if t.Shared() {
				ss := t.ShareState()
				degraded := 0.0
				if ss.Degraded {
					degraded = 1
				}
				m.Gauge("strata_stick_table_shared_degraded", "1 while a shared table counts locally only: its last sync with Redis failed.", degraded, "table", name)
				m.Counter("strata_stick_table_syncs_total", "Syncs of a shared table with Redis, by outcome.", float64(ss.Syncs), "table", name, "outcome", "success")
				m.Counter("strata_stick_table_syncs_total", "Syncs of a shared table with Redis, by outcome.", float64(ss.Failures), "table", name, "outcome", "failure")
			}
		}
	}
	rs := p.ReloadStatus()
	m.Counter("strata_reloads_total", "Configuration reloads, by outcome.", float64(rs.Reloads), "outcome", "success")
	m.Counter("strata_reloads_total", "Configuration reloads, by outcome.", float64(rs.Failures), "outcome", "failure")
	m.Gauge("strata_generation", "Sequence number of the configuration generation serving new connections.", float64(rs.Generation))
	m.Gauge("strata_generation_loaded_timestamp_seconds", "When the serving generation was loaded (Unix time).", float64(rs.LoadedAt.UnixNano())/1e9)
	m.Gauge("strata_connections", "Client connections open, by generation.", float64(g.Connections()), "generation", strconv.FormatUint(g.Number(), 10))
}

// gatherSlots adds the points of a connection limit (maxconn.go): the
// process's with prefix "strata_", a frontend's with "strata_frontend_".
func gatherSlots(m *telemetry.Metrics, prefix string, s *listen.Slots, limit int64, labels ...string) {
	m.Gauge(prefix+"current_connections", "Client connections holding a maxconn slot (accepted, not yet closed).", float64(s.Cur.Load()), labels...)
	if limit > 0 {
		m.Gauge(prefix+"maxconn", "Client connections accepted at most at once (maxconn); at the limit accepting stops.", float64(limit), labels...)
	}
	m.Counter(prefix+"maxconn_reached_total", "Times accepting stopped because maxconn was reached.", float64(s.Reached.Load()), labels...)
}

// metricsState is the proxy's metrics bookkeeping.
type metricsState struct {
	mu    sync.Mutex
	extra []telemetry.Gatherer       // guarded by mu
	exp   *telemetry.MetricsExporter // global.metrics; guarded by mu
}

// applyMetricsExport starts, replaces or stops the OTLP metrics exporter
// when the generation's global.metrics differs from the running one's.
func (p *Proxy) applyMetricsExport(g *generation.Generation) {
	cfg := g.Config.Global.Metrics
	p.metrics.mu.Lock()
	defer p.metrics.mu.Unlock()
	old := p.metrics.exp
	if old != nil && old.Config() == cfg {
		return
	}
	if old == nil && !cfg.On() {
		return
	}
	if old != nil {
		p.flushes.Start(func(ctx context.Context) { old.Shutdown(ctx) }) // its last reading
		p.metrics.exp = nil
	}
	e, err := telemetry.NewMetricsExporter(cfg, g.Config.Global.Tracing.ServiceName, p.gatherAll)
	if err != nil {
		p.Log.Error("metrics export not started", "error", err)
		return
	}
	p.metrics.exp = e
}

// stopMetricsExport sends a last reading and stops the exporter, in the
// background: Shutdown waits for it with the tracers' flushes.
func (p *Proxy) stopMetricsExport() {
	p.metrics.mu.Lock()
	e := p.metrics.exp
	p.metrics.exp = nil
	p.metrics.mu.Unlock()
	if e != nil {
		p.flushes.Start(func(ctx context.Context) { e.Shutdown(ctx) })
	}
}
