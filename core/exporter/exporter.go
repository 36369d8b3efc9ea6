// Package exporter renders strata's counters under the metric names,
// labels, types and help texts of HAProxy 2.6's built-in Prometheus
// exporter (`http-request use-service prometheus-exporter`), so that the
// dashboards and alerts written for HAProxy work on strata unchanged. It
// also renders the Go process and runtime families (process_*, go_*) under
// the names of the Prometheus Go client's standard collectors, and
// strata_build_info.
//
// A reading is made when it is scraped, from counters the engine keeps
// anyway: nothing here runs on the request path. The caller (the proxy)
// describes what to read in a Source; this package only names and shapes.
//
// Where HAProxy has a figure strata does not keep (compression, caches,
// SSL key rates, peers, per-server bytes, the highest session count of a
// frontend or backend…) the family is left out rather than shown as a
// made-up zero.
//
// How strata's figures map onto HAProxy's:
//   - a frontend's session is strata's session (a client connection); on
//     backends and servers HAProxy counts a session per stream it sends
//     there, which is strata's stream;
//   - request_errors_total is invalid requests, client HTTP/2 protocol
//     errors and PROXY protocol failures; internal_errors_total strata's
//     internal and plugin failures; requests_denied_total the streams a
//     rule denied (at any tcp or http evaluation point);
//   - response_time_average_seconds is the mean time to the server's first
//     byte, total_time_average_seconds the mean stream duration, both over
//     every stream of the generation rather than HAProxy's last 1024;
//   - connection_attempts_total counts dials to servers, opened or failed;
//     connection_reuses_total the requests sent on a pooled connection.
//
// Like strata's own families, the counters start from zero when a reload
// makes a new generation, as HAProxy's do in the new process of a reload.
package exporter

import (
	"math"
	"runtime"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Source is what one reading covers: the configuration generation serving
// new connections, and the process.
type Source struct {
	Frontends []Frontend
	Backends  []*backend.Backend
	Process   Process
}

// Frontend is what the exporter reads of a frontend.
type Frontend struct {
	Name    string
	HTTP    bool
	MaxConn int64 // the frontend's maxconn, else the process's; 0: none
	Stopped bool  // the proxy is stopping: HAProxy shows the frontend DOWN (STOP)
	Stats   *stats.Counters
}

// started stands for the process's start: the package is initialised
// as the process starts.
var started = time.Now()

// Process is what the exporter reads of the process.
type Process struct {
	MaxConn   int64 // global maxconn; 0: none
	CurConns  int64 // client connections holding a slot
	Stopping  bool  // a graceful stop is under way
	Listeners int
	Version   string // strata's version
}

// Gather adds the HAProxy-named families of src to m, in the order
// HAProxy's exporter writes them: process, frontends, backends, servers.
func Gather(m *telemetry.Metrics, src *Source) {
	gatherProcess(m, src)
	gatherFrontends(m, src.Frontends)
	gatherBackends(m, src.Backends)
	gatherServers(m, src.Backends)
}

// Help texts are HAProxy 2.6's, word for word (including its slips), so a
// scrape of strata reads like a scrape of HAProxy.
const (
	helpCurSess      = "Number of current sessions on the frontend, backend or server"
	helpMaxSess      = "Highest value of current sessions encountered since process started"
	helpLimitSess    = "Frontend/listener/server's maxconn, backend's fullconn"
	helpSessTotal    = "Total number of sessions since process started"
	helpBytesIn      = "Total number of request bytes since process started"
	helpBytesOut     = "Total number of response bytes since process started"
	helpStatus       = "Current status of the service, per state label value."
	helpResponses    = "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"
	helpRequests     = "Total number of HTTP requests processed by this object since the worker process started"
	helpIntErrors    = "Total number of internal errors since process started"
	helpRewrites     = "Total number of failed HTTP header rewrites since the worker process started"
	helpCurQueue     = "Number of current queued connections"
	helpMaxQueue     = "Highest value of queued connections encountered since process started"
	helpConnErrors   = "Total number of failed connections to server since the worker process started"
	helpRespErrors   = "Total number of invalid responses since the worker process started"
	helpRetries      = "Total number of server connection retries since the worker process started"
	helpRedisp       = "Total number of server redispatches due to connection failures since the worker process started"
	helpWeight       = "Server's effective weight, or sum of active servers' effective weights for a backend"
	helpUWeight      = "Server's user weight, or sum of active servers' user weights for a backend"
	helpUpDown       = "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"
	helpCliAborts    = "Total number of requests or connections aborted by the client since the worker process started"
	helpSrvAborts    = "Total number of requests or connections aborted by the server since the worker process started"
	helpRespTime     = "Avg. response time for last 1024 successful connections."
	helpTotalTime    = "Avg. total time for last 1024 successful connections."
	helpAttempts     = "Total number of outgoing connection attempts on this backend/server since the worker process started"
	helpReuses       = "Total number of reused connection on this backend/server since the worker process started"
	helpDenied       = "Total number of denied requests since process started"
	helpReqErrors    = "Total number of invalid requests since process started"
	helpLoadBalanced = "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"
	helpCheckFail    = "Total number of failed individual health checks per server/backend, since the worker process started"
)

// codeLabels are the values of the code label of http_responses_total, in
// HAProxy's order, with the index of stats.Counters.Status they read.
var codeLabels = [...]struct {
	code  string
	class int
}{{"1xx", 1}, {"2xx", 2}, {"3xx", 3}, {"4xx", 4}, {"5xx", 5}, {"other", 0}}

func gatherProcess(m *telemetry.Metrics, src *Source) {
	p := &src.Process
	var conns, reqs int64
	for _, fe := range src.Frontends {
		conns += fe.Stats.Sessions.Load()
		reqs += fe.Stats.Streams.Load()
	}
	m.Gauge("haproxy_process_nbthread", "Number of started threads (global.nbthread)", float64(runtime.GOMAXPROCS(0)))
	m.Gauge("haproxy_process_nbproc", "Number of started worker processes (historical, always 1)", 1)
	m.Gauge("haproxy_process_relative_process_id", "Relative worker process number (1)", 1)
	m.Gauge("haproxy_process_uptime_seconds", "How long ago this worker process was started (seconds)", math.Floor(time.Since(started).Seconds()))
	if n := listen.FileLimit(); n > 0 {
		m.Gauge("haproxy_process_max_fds", "Hard limit on the number of per-process file descriptors", float64(n))
		m.Gauge("haproxy_process_max_sockets", "Hard limit on the number of per-process sockets", float64(n))
	}
	m.Gauge("haproxy_process_max_connections", "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)", float64(p.MaxConn))
	m.Gauge("haproxy_process_hard_max_connections", "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)", float64(p.MaxConn))
	m.Gauge("haproxy_process_current_connections", "Current number of connections on this worker process", float64(p.CurConns))
	m.Counter("haproxy_process_connections_total", "Total number of connections on this worker process since started", float64(conns))
	m.Counter("haproxy_process_requests_total", "Total number of requests on this worker process since started", float64(reqs))
	m.Gauge("haproxy_process_stopping", "1 if the worker process is currently stopping, otherwise zero", b2f(p.Stopping))
	m.Gauge("haproxy_process_listeners", "Current number of active listeners on the current worker process", float64(p.Listeners))
	m.Gauge("haproxy_process_build_info", "Build info", 1, "version", "strata "+p.Version)
	m.Gauge("haproxy_process_start_time_seconds", "Start time in seconds", float64(started.Unix()))
}

func gatherFrontends(m *telemetry.Metrics, fes []Frontend) {
	each := func(name, help string, counter bool, v func(fe *Frontend, c *stats.Counters) float64) {
		for i := range fes {
			fe := &fes[i]
			add(m, counter, "haproxy_frontend_"+name, help, v(fe, fe.Stats), "proxy", fe.Name)
		}
	}
	each("current_sessions", helpCurSess, false, func(_ *Frontend, c *stats.Counters) float64 { return float64(c.CurSessions.Load()) })
	each("limit_sessions", helpLimitSess, false, func(fe *Frontend, _ *stats.Counters) float64 { return float64(fe.MaxConn) })
	each("sessions_total", helpSessTotal, true, func(_ *Frontend, c *stats.Counters) float64 { return float64(c.Sessions.Load()) })
	each("bytes_in_total", helpBytesIn, true, func(_ *Frontend, c *stats.Counters) float64 { return float64(c.BytesIn.Load()) })
	each("bytes_out_total", helpBytesOut, true, func(_ *Frontend, c *stats.Counters) float64 { return float64(c.BytesOut.Load()) })
	each("requests_denied_total", helpDenied, true, func(_ *Frontend, c *stats.Counters) float64 { return term(c, session.CauseDenied) })
	each("request_errors_total", helpReqErrors, true, func(_ *Frontend, c *stats.Counters) float64 {
		return term(c, session.CauseBadRequest) + float64(c.H2Errors.Load()+c.ProxyErrors.Load())
	})
	for i := range fes {
		fe := &fes[i]
		m.Gauge("haproxy_frontend_status", helpStatus, b2f(fe.Stopped), "proxy", fe.Name, "state", "DOWN")
		m.Gauge("haproxy_frontend_status", helpStatus, b2f(!fe.Stopped), "proxy", fe.Name, "state", "UP")
	}
	for i := range fes {
		if fe := &fes[i]; fe.HTTP {
			responses(m, "haproxy_frontend_http_responses_total", fe.Stats, "proxy", fe.Name)
		}
	}
	for i := range fes {
		if fe := &fes[i]; fe.HTTP {
			m.Counter("haproxy_frontend_http_requests_total", helpRequests, float64(fe.Stats.Streams.Load()), "proxy", fe.Name)
		}
	}
	each("connections_total", "Total number of new connections accepted on this frontend since the worker process started", true,
		func(_ *Frontend, c *stats.Counters) float64 { return float64(c.Sessions.Load()) })
	each("intercepted_requests_total", "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started", true,
		func(_ *Frontend, c *stats.Counters) float64 { return term(c, session.CauseLocal) })
	each("failed_header_rewriting_total", helpRewrites, true, func(_ *Frontend, c *stats.Counters) float64 { return term(c, session.CauseRewrite) })
	each("internal_errors_total", helpIntErrors, true, func(_ *Frontend, c *stats.Counters) float64 {
		return term(c, session.CauseInternal) + term(c, session.CausePlugin)
	})
}

// responses adds the six points of an http_responses_total family.
func responses(m *telemetry.Metrics, name string, c *stats.Counters, labels ...string) {
	for _, cl := range codeLabels {
		m.Counter(name, helpResponses, float64(c.Status[cl.class].Load()), append(labels[:len(labels):len(labels)], "code", cl.code)...)
	}
}

func add(m *telemetry.Metrics, counter bool, name, help string, v float64, labels ...string) {
	if counter {
		m.Counter(name, help, v, labels...)
	} else {
		m.Gauge(name, help, v, labels...)
	}
}

func term(c *stats.Counters, cause session.Cause) float64 { return float64(c.Term[cause].Load()) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// average is the mean of a latency histogram, in seconds; 0 before the
// first observation (as HAProxy shows it).
func average(h *stats.Histogram) float64 {
	s := h.Snapshot()
	if s.Count == 0 {
		return 0
	}
	return s.Sum / float64(s.Count)
}
