package exporter

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/telemetry"
)

func newBackend(t *testing.T) *backend.Backend {
	t.Helper()
	be, err := backend.New(backend.Spec{Name: "app", HTTP: true, Servers: []backend.ServerSpec{
		{Name: "a", Addr: "127.0.0.1:1", Weight: 3, MaxConn: 10},
		{Name: "b", Addr: "127.0.0.1:2", Weight: 2},
		{Name: "c", Addr: "127.0.0.1:3", Weight: 1},
		{Name: "bk", Addr: "127.0.0.1:4", Weight: 5, Backup: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	return be
}

// TestGather_States: server states, the backend's sums over running
// servers and the frontend's counters, under HAProxy's names and labels.
func TestGather_States(t *testing.T) {
	be := newBackend(t)
	be.SetState(be.Server("b"), backend.StateDrain)
	be.SetState(be.Server("c"), backend.StateMaint)
	var fc stats.Counters
	fc.Streams.Add(7)
	fc.Sessions.Add(4)
	fc.CountStatus(200)
	fc.CountStatus(404)
	fc.CountStatus(999)
	fc.Term[session.CauseDenied].Add(2)
	fc.Term[session.CauseBadRequest].Add(1)
	be.Server("a").Reuses.Add(5)

	m := telemetry.Gather(func(m *telemetry.Metrics) {
		Gather(m, &Source{
			Frontends: []Frontend{{Name: "web", HTTP: true, MaxConn: 100, Stats: &fc}},
			Backends:  []*backend.Backend{be},
			Process:   Process{MaxConn: 100, Listeners: 1, Version: "1.2.3"},
		})
	})
	tests := []struct {
		name   string
		series string
		labels []string
		want   float64
	}{
		{"server up", "haproxy_server_status", []string{"proxy", "app", "server", "a", "state", "UP"}, 1},
		{"server up, not drain", "haproxy_server_status", []string{"proxy", "app", "server", "a", "state", "DRAIN"}, 0},
		{"drained", "haproxy_server_status", []string{"proxy", "app", "server", "b", "state", "DRAIN"}, 1},
		{"in maint", "haproxy_server_status", []string{"proxy", "app", "server", "c", "state", "MAINT"}, 1},
		{"maint not up", "haproxy_server_status", []string{"proxy", "app", "server", "c", "state", "UP"}, 0},
		{"agg UP", "haproxy_backend_agg_server_status", []string{"proxy", "app", "state", "UP"}, 2},
		{"agg MAINT", "haproxy_backend_agg_server_status", []string{"proxy", "app", "state", "MAINT"}, 1},
		{"active servers: a and drained b", "haproxy_backend_active_servers", []string{"proxy", "app"}, 2},
		{"backup servers", "haproxy_backend_backup_servers", []string{"proxy", "app"}, 1},
		{"weight of running actives", "haproxy_backend_weight", []string{"proxy", "app"}, 5},
		{"backend up", "haproxy_backend_status", []string{"proxy", "app", "state", "UP"}, 1},
		{"server limit", "haproxy_server_limit_sessions", []string{"proxy", "app", "server", "a"}, 10},
		{"reuses", "haproxy_server_connection_reuses_total", []string{"proxy", "app", "server", "a"}, 5},
		{"backend reuses", "haproxy_backend_connection_reuses_total", []string{"proxy", "app"}, 5},
		{"requests", "haproxy_frontend_http_requests_total", []string{"proxy", "web"}, 7},
		{"2xx", "haproxy_frontend_http_responses_total", []string{"proxy", "web", "code", "2xx"}, 1},
		{"4xx", "haproxy_frontend_http_responses_total", []string{"proxy", "web", "code", "4xx"}, 1},
		{"other", "haproxy_frontend_http_responses_total", []string{"proxy", "web", "code", "other"}, 1},
		{"denied", "haproxy_frontend_requests_denied_total", []string{"proxy", "web"}, 2},
		{"request errors", "haproxy_frontend_request_errors_total", []string{"proxy", "web"}, 1},
		{"frontend up", "haproxy_frontend_status", []string{"proxy", "web", "state", "UP"}, 1},
		{"build info", "haproxy_process_build_info", []string{"version", "strata 1.2.3"}, 1},
		{"max connections", "haproxy_process_max_connections", nil, 100},
		{"requests of the process", "haproxy_process_requests_total", nil, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.Value(tt.series, tt.labels...)
			if !ok || got != tt.want {
				t.Fatalf("%s%v = %v (present %v), want %v", tt.series, tt.labels, got, ok, tt.want)
			}
		})
	}
	if v, ok := m.Value("haproxy_server_limit_sessions", "proxy", "app", "server", "b"); !ok || !math.IsNaN(v) {
		t.Errorf("limit of a server without maxconn: %v %v, want NaN as HAProxy", v, ok)
	}
	if _, ok := m.Value("haproxy_server_check_status", "proxy", "app", "server", "a", "state", "L7OK"); ok {
		t.Errorf("check status of a server without checks: HAProxy leaves it out")
	}
}

// TestGatherRuntime: the process and Go families under the Go client's
// names, and the build info, render as valid text.
func TestGatherRuntime(t *testing.T) {
	m := telemetry.Gather(func(m *telemetry.Metrics) { GatherRuntime(m, "1.2.3", "0123abc") })
	if _, ok := m.Value("process_cpu_seconds_total"); !ok { // may still be 0 in a test this short
		t.Error("no process_cpu_seconds_total")
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "process_max_fds",
		"process_start_time_seconds", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if v, ok := m.Value(name); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}
	var b bytes.Buffer
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "# TYPE process_cpu_seconds_total counter\n") || !strings.Contains(b.String(), `strata_build_info{version="1.2.3",goversion="go`) || !strings.Contains(b.String(), `revision="0123abc"`) {
		t.Errorf("text:\n%s", b.String())
	}
}
