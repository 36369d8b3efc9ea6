package exporter

import (
	"math"
	"strings"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/telemetry"
)

// serverStates are the values of the state label of haproxy_server_status
// and haproxy_backend_agg_server_status, in HAProxy's order.
var serverStates = [...]string{"DOWN", "UP", "MAINT", "DRAIN", "NOLB"}

// checkStates are the values of the state label of
// haproxy_server_check_status, in HAProxy's order.
var checkStates = [...]string{"HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
	"L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"}

// serverState is the server's state as haproxy_server_status names it:
// Server.Status without the "k/n" of a transition under way.
func serverState(s *backend.Server) string {
	st, _, _ := strings.Cut(s.Status(), " ")
	return st
}

func gatherBackends(m *telemetry.Metrics, bes []*backend.Backend) {
	each := func(name, help string, counter bool, v func(be *backend.Backend) float64) {
		for _, be := range bes {
			add(m, counter, "haproxy_backend_"+name, help, v(be), "proxy", be.Name)
		}
	}
	sum := func(v func(s *backend.Server) float64) func(be *backend.Backend) float64 {
		return func(be *backend.Backend) float64 {
			t := 0.0
			for _, s := range be.Servers {
				t += v(s)
			}
			return t
		}
	}
	each("current_queue", helpCurQueue, false, func(be *backend.Backend) float64 { return float64(be.QueueLen()) })
	each("max_queue", helpMaxQueue, false, func(be *backend.Backend) float64 { return float64(be.QueueMax.Load()) })
	each("current_sessions", helpCurSess, false, func(be *backend.Backend) float64 { return float64(be.Cur() - be.Queued()) })
	each("limit_sessions", helpLimitSess, false, func(be *backend.Backend) float64 { return float64(be.MaxConn) })
	each("sessions_total", helpSessTotal, true, func(be *backend.Backend) float64 { return float64(be.Stats.Streams.Load()) })
	each("bytes_in_total", helpBytesIn, true, func(be *backend.Backend) float64 { return float64(be.Stats.BytesIn.Load()) })
	each("bytes_out_total", helpBytesOut, true, func(be *backend.Backend) float64 { return float64(be.Stats.BytesOut.Load()) })
	each("requests_denied_total", helpDenied, true, func(be *backend.Backend) float64 { return term(&be.Stats, session.CauseDenied) })
	each("connection_errors_total", helpConnErrors, true, func(be *backend.Backend) float64 { return float64(be.Stats.ConnErrors.Load()) })
	each("response_errors_total", helpRespErrors, true, func(be *backend.Backend) float64 { return term(&be.Stats, session.CauseBadResponse) })
	each("retry_warnings_total", helpRetries, true, sum(func(s *backend.Server) float64 { return float64(s.Retries.Load()) }))
	each("redispatch_warnings_total", helpRedisp, true, func(be *backend.Backend) float64 { return float64(be.Redispatches.Load()) })
	for _, be := range bes {
		up := backendUp(be)
		m.Gauge("haproxy_backend_status", helpStatus, b2f(!up), "proxy", be.Name, "state", "DOWN")
		m.Gauge("haproxy_backend_status", helpStatus, b2f(up), "proxy", be.Name, "state", "UP")
	}
	each("weight", helpWeight, false, func(be *backend.Backend) float64 { w, _ := activeWeights(be); return float64(w) })
	each("active_servers", "Total number of active UP servers with a non-zero weight", false, func(be *backend.Backend) float64 { return float64(countUp(be, false)) })
	each("backup_servers", "Total number of backup UP servers with a non-zero weight", false, func(be *backend.Backend) float64 { return float64(countUp(be, true)) })
	each("check_up_down_total", helpUpDown, true, sum(func(s *backend.Server) float64 { return float64(s.CheckInfo().Downs) }))
	each("loadbalanced_total", helpLoadBalanced, true,
		sum(func(s *backend.Server) float64 { return float64(s.Stats.Streams.Load()) }))
	for _, be := range bes {
		if be.HTTP {
			responses(m, "haproxy_backend_http_responses_total", &be.Stats, "proxy", be.Name)
		}
	}
	for _, be := range bes {
		if be.HTTP {
			m.Counter("haproxy_backend_http_requests_total", helpRequests, float64(be.Stats.Streams.Load()), "proxy", be.Name)
		}
	}
	each("client_aborts_total", helpCliAborts, true, func(be *backend.Backend) float64 { return term(&be.Stats, session.CauseClientAbort) })
	each("server_aborts_total", helpSrvAborts, true, func(be *backend.Backend) float64 { return term(&be.Stats, session.CauseServerAbort) })
	each("response_time_average_seconds", helpRespTime, false, func(be *backend.Backend) float64 { return average(&be.Stats.Latency.TTFB) })
	each("total_time_average_seconds", helpTotalTime, false, func(be *backend.Backend) float64 { return average(&be.Stats.Latency.Total) })
	each("failed_header_rewriting_total", helpRewrites, true, func(be *backend.Backend) float64 { return term(&be.Stats, session.CauseRewrite) })
	each("connection_attempts_total", helpAttempts, true, sum(connAttempts))
	each("connection_reuses_total", helpReuses, true, sum(func(s *backend.Server) float64 { return float64(s.Reuses.Load()) }))
	each("internal_errors_total", helpIntErrors, true, func(be *backend.Backend) float64 {
		return term(&be.Stats, session.CauseInternal) + term(&be.Stats, session.CausePlugin)
	})
	each("uweight", helpUWeight, false, func(be *backend.Backend) float64 { _, w := activeWeights(be); return float64(w) })
	for _, be := range bes {
		var n [len(serverStates)]int
		for _, s := range be.Servers {
			st := serverState(s)
			for i, name := range serverStates {
				if name == st {
					n[i]++
				}
			}
		}
		for i, name := range serverStates {
			m.Gauge("haproxy_backend_agg_server_status", "Backend's aggregated gauge of servers' status", float64(n[i]), "proxy", be.Name, "state", name)
		}
	}
}

// connAttempts counts the connections strata tried to open to s: those
// opened and those that failed.
func connAttempts(s *backend.Server) float64 {
	return float64(s.Stats.Sessions.Load() + s.Stats.ConnErrors.Load())
}

// backendUp reports whether some server of be may take traffic.
func backendUp(be *backend.Backend) bool {
	for _, s := range be.Servers {
		if s.Running() {
			return true
		}
	}
	return false
}

// countUp counts the running servers with a non-zero weight, backups or
// not.
func countUp(be *backend.Backend, backup bool) int {
	n := 0
	for _, s := range be.Servers {
		if s.Backup == backup && s.Running() && s.Weight() > 0 {
			n++
		}
	}
	return n
}

// activeWeights sums the current and configured weights of the running
// active servers, or of the running backups when no active server runs,
// as HAProxy does.
func activeWeights(be *backend.Backend) (eweight, uweight int) {
	for _, backup := range []bool{false, true} {
		for _, s := range be.Servers {
			if s.Backup == backup && s.Running() {
				eweight += s.Weight()
				uweight += s.InitialWeight
			}
		}
		if eweight > 0 || uweight > 0 {
			return
		}
	}
	return
}

func gatherServers(m *telemetry.Metrics, bes []*backend.Backend) {
	each := func(name, help string, counter bool, v func(s *backend.Server) float64) {
		for _, be := range bes {
			for _, s := range be.Servers {
				add(m, counter, "haproxy_server_"+name, help, v(s), "proxy", be.Name, "server", s.Name)
			}
		}
	}
	infos := map[*backend.Server]backend.CheckInfo{}
	for _, be := range bes {
		for _, s := range be.Servers {
			infos[s] = s.CheckInfo()
		}
	}
	each("current_queue", helpCurQueue, false, func(s *backend.Server) float64 { return float64(s.QueueLen()) })
	each("max_queue", helpMaxQueue, false, func(s *backend.Server) float64 { return float64(s.QueueMax.Load()) })
	each("current_sessions", helpCurSess, false, func(s *backend.Server) float64 { return float64(s.Cur.Load()) })
	each("max_sessions", helpMaxSess, false, func(s *backend.Server) float64 { return float64(s.MaxCur.Load()) })
	each("limit_sessions", helpLimitSess, false, func(s *backend.Server) float64 { return limit(s.MaxConn) })
	each("sessions_total", helpSessTotal, true, func(s *backend.Server) float64 { return float64(s.Stats.Streams.Load()) })
	// No bytes_in_total or bytes_out_total: strata counts bytes per
	// frontend and backend, not yet per server.
	each("connection_errors_total", helpConnErrors, true, func(s *backend.Server) float64 { return float64(s.Stats.ConnErrors.Load()) })
	each("response_errors_total", helpRespErrors, true, func(s *backend.Server) float64 { return term(&s.Stats, session.CauseBadResponse) })
	each("retry_warnings_total", helpRetries, true, func(s *backend.Server) float64 { return float64(s.Retries.Load()) })
	each("redispatch_warnings_total", helpRedisp, true, func(s *backend.Server) float64 { return float64(s.Redispatches.Load()) })
	for _, be := range bes {
		for _, s := range be.Servers {
			st := serverState(s)
			for _, name := range serverStates {
				m.Gauge("haproxy_server_status", helpStatus, b2f(name == st), "proxy", be.Name, "server", s.Name, "state", name)
			}
		}
	}
	each("weight", helpWeight, false, func(s *backend.Server) float64 { return float64(s.Weight()) })
	each("check_failures_total", helpCheckFail, true, func(s *backend.Server) float64 { return float64(infos[s].FailedAll) })
	each("check_up_down_total", helpUpDown, true, func(s *backend.Server) float64 { return float64(infos[s].Downs) })
	each("loadbalanced_total", helpLoadBalanced, true, func(s *backend.Server) float64 { return float64(s.Stats.Streams.Load()) })
	each("check_last_change_seconds", "How long ago the last server state changed, in seconds", false, func(s *backend.Server) float64 {
		if since := infos[s].Since; !since.IsZero() {
			return math.Floor(time.Since(since).Seconds())
		}
		return 0
	})
	for _, be := range bes {
		for _, s := range be.Servers {
			ci := infos[s]
			if !ci.Enabled {
				continue // HAProxy leaves servers without checks out
			}
			for _, name := range checkStates {
				m.Gauge("haproxy_server_check_status", "Status of last health check, per state label value.", b2f(name == ci.Last.Status),
					"proxy", be.Name, "server", s.Name, "state", name)
			}
		}
	}
	checked := func(name, help string, v func(ci *backend.CheckInfo) float64) {
		for _, be := range bes {
			for _, s := range be.Servers {
				if ci := infos[s]; ci.Enabled {
					m.Gauge("haproxy_server_"+name, help, v(&ci), "proxy", be.Name, "server", s.Name)
				}
			}
		}
	}
	checked("check_code", "layer5-7 code, if available of the last health check.", func(ci *backend.CheckInfo) float64 { return float64(ci.Last.Code) })
	checked("check_duration_seconds", "Total duration of the latest server health check, in seconds.", func(ci *backend.CheckInfo) float64 { return ci.DurationMS / 1000 })
	for _, be := range bes {
		if !be.HTTP {
			continue
		}
		for _, s := range be.Servers {
			responses(m, "haproxy_server_http_responses_total", &s.Stats, "proxy", be.Name, "server", s.Name)
		}
	}
	each("client_aborts_total", helpCliAborts, true, func(s *backend.Server) float64 { return term(&s.Stats, session.CauseClientAbort) })
	each("server_aborts_total", helpSrvAborts, true, func(s *backend.Server) float64 { return term(&s.Stats, session.CauseServerAbort) })
	each("response_time_average_seconds", helpRespTime, false, func(s *backend.Server) float64 { return average(&s.Stats.Latency.TTFB) })
	each("total_time_average_seconds", helpTotalTime, false, func(s *backend.Server) float64 { return average(&s.Stats.Latency.Total) })
	each("failed_header_rewriting_total", helpRewrites, true, func(s *backend.Server) float64 { return term(&s.Stats, session.CauseRewrite) })
	each("connection_attempts_total", helpAttempts, true, connAttempts)
	each("connection_reuses_total", helpReuses, true, func(s *backend.Server) float64 { return float64(s.Reuses.Load()) })
	each("idle_connections_current", "Current number of idle connections available for reuse on this server", false, func(s *backend.Server) float64 { return float64(s.IdleCount()) })
	each("idle_connections_limit", "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)", false,
		func(s *backend.Server) float64 { return limit(s.PoolMaxConn) })
	each("internal_errors_total", helpIntErrors, true, func(s *backend.Server) float64 {
		return term(&s.Stats, session.CauseInternal) + term(&s.Stats, session.CausePlugin)
	})
	each("uweight", helpUWeight, false, func(s *backend.Server) float64 { return float64(s.InitialWeight) })
}

// limit is a maxconn as HAProxy shows it: NaN when there is none.
func limit(n int) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(n)
}
