package proxy

import (
	"bufio"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// promScrape is one parsed Prometheus text exposition.
type promScrape struct {
	help, typ map[string]string  // family name → HELP text, TYPE
	samples   map[string]float64 // series (name{k="v",…}, labels sorted) → value
}

// series returns the series of family name, keyed as in samples.
func (s *promScrape) series(name string) []string {
	var out []string
	for k := range s.samples {
		if k == name || strings.HasPrefix(k, name+"{") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// parseProm parses the text format as Prometheus reads it: label order
// does not matter, so series are keyed with their labels sorted.
func parseProm(t testing.TB, body string) *promScrape {
	t.Helper()
	s := &promScrape{help: map[string]string{}, typ: map[string]string{}, samples: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(line[len("# HELP "):], " ")
			s.help[name] = help
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(line[len("# TYPE "):], " ")
			s.typ[name] = typ
		case strings.HasPrefix(line, "#"):
		default:
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				t.Fatalf("sample line %q", line)
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("sample line %q: %v", line, err)
			}
			s.samples[canonicalSeries(t, line[:i])] = v
		}
	}
	return s
}

func canonicalSeries(t testing.TB, series string) string {
	name, rest, ok := strings.Cut(series, "{")
	if !ok {
		return series
	}
	var labels []string
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("series %q", series)
		}
		end := 0
		for end < len(after) && (after[end] != '"' || (end > 0 && after[end-1] == '\\')) {
			end++
		}
		labels = append(labels, k+`="`+after[:end]+`"`)
		rest = strings.TrimPrefix(after[end+1:], ",")
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// labelNames returns the label names of a series, without their values.
func labelNames(series string) string {
	var names []string
	_, rest, _ := strings.Cut(series, "{")
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	return strings.Join(names, ",")
}

// scrapeProm GETs url without credentials and parses the answer.
func scrapeProm(t testing.TB, url string) *promScrape {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s\n%s", url, r.StatusCode, r.Header.Get("Content-Type"), b)
	}
	return parseProm(t, string(b))
}

// oneShot sends GET path on a new connection with "Connection: close" and
// returns the status: one session, one request, in HAProxy and strata
// alike.
func oneShot(t testing.TB, addr, path string) int {
	t.Helper()
	out := rawExchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	return statusOf(out)
}

// dashboardFamilies are the families the "HAProxy 2 Full" Grafana
// dashboard (grafana.com 12693) and the usual alerts read, and what this
// test holds strata to on top of their names and labels.
var dashboardFamilies = []struct {
	name  string
	equal bool // the value must be HAProxy's on the same traffic
}{
	{"haproxy_frontend_http_requests_total", true},
	{"haproxy_frontend_http_responses_total", true},
	{"haproxy_frontend_sessions_total", true},
	{"haproxy_frontend_connections_total", true},
	{"haproxy_frontend_current_sessions", true},
	{"haproxy_frontend_requests_denied_total", true},
	{"haproxy_frontend_request_errors_total", true},
	{"haproxy_frontend_bytes_in_total", false},
	{"haproxy_frontend_bytes_out_total", false},
	{"haproxy_frontend_status", true},
	{"haproxy_frontend_limit_sessions", true},
	{"haproxy_backend_status", true},
	{"haproxy_backend_active_servers", true},
	{"haproxy_backend_backup_servers", true},
	{"haproxy_backend_http_responses_total", true},
	{"haproxy_backend_http_requests_total", true},
	{"haproxy_backend_sessions_total", true},
	{"haproxy_backend_current_sessions", true},
	{"haproxy_backend_current_queue", true},
	{"haproxy_backend_max_queue", true},
	{"haproxy_backend_response_time_average_seconds", false},
	{"haproxy_backend_total_time_average_seconds", false},
	{"haproxy_backend_connection_errors_total", true},
	{"haproxy_backend_redispatch_warnings_total", true},
	{"haproxy_backend_retry_warnings_total", true},
	{"haproxy_backend_weight", true},
	{"haproxy_backend_bytes_in_total", false},
	{"haproxy_backend_bytes_out_total", false},
	{"haproxy_backend_connection_attempts_total", true},
	{"haproxy_backend_agg_server_status", true},
	{"haproxy_server_status", true},
	{"haproxy_server_current_sessions", true},
	{"haproxy_server_current_queue", true},
	{"haproxy_server_http_responses_total", true},
	{"haproxy_server_sessions_total", true},
	{"haproxy_server_check_failures_total", false}, // as many as checks ran: timing
	{"haproxy_server_check_up_down_total", true},
	{"haproxy_server_check_status", true},
	{"haproxy_server_check_code", true},
	{"haproxy_server_weight", true},
	{"haproxy_server_connection_errors_total", true},
	{"haproxy_server_response_time_average_seconds", false},
	{"haproxy_server_connection_attempts_total", true},
	{"haproxy_server_loadbalanced_total", true},
	{"haproxy_server_internal_errors_total", true},
	{"haproxy_server_idle_connections_limit", false},
	{"haproxy_frontend_intercepted_requests_total", true},
	{"haproxy_frontend_internal_errors_total", true},
	{"haproxy_backend_loadbalanced_total", true},
	{"haproxy_backend_client_aborts_total", true},
	{"haproxy_backend_server_aborts_total", true},
	{"haproxy_process_max_connections", true},
	{"haproxy_process_hard_max_connections", true},
	{"haproxy_process_nbproc", true},
	{"haproxy_process_nbthread", false},
	{"haproxy_process_uptime_seconds", false},
	{"haproxy_process_start_time_seconds", false},
	{"haproxy_process_current_connections", false},
	{"haproxy_process_stopping", true},
	{"haproxy_process_build_info", false}, // version="strata …": compared by label names
}

// TestExporter_HAProxyNames runs HAProxy (with its prometheus-exporter
// service on a frontend) and strata (with its own, on a frontend too: no
// token) side by side on the same servers and the same requests, then
// scrapes both: every family the HAProxy dashboards read is in strata's
// answer with HAProxy's type, help and label sets, and the counts that do
// not depend on timing are equal.
func TestExporter_HAProxyNames(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2"})
	dead := haproxyAddr(t) // nothing listens: its checks fail
	haWeb, haProm := haproxyAddr(t), haproxyAddr(t)
	startHAProxy(t, `
global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend web
  bind `+haWeb+`
  http-request deny if { path /deny }
  default_backend app
frontend prom
  bind `+haProm+`
  http-request use-service prometheus-exporter
backend app
  balance roundrobin
  option httpchk GET /
  timeout check 2s
  default-server check inter 100ms fall 1 rise 1
  server s1 `+vars["s1"]+`
  server s2 `+vars["s2"]+`
  server s3 `+dead+`
`, haProm) // its readiness probe goes to the exporter's frontend, not web
	vars["dead"] = dead
	p := startProxy(t, `
global:
  maxconn: 1000
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    http_request: ["deny if { path /deny }"]
    default_backend: app
  prom:
    bind: ["127.0.0.1:0"]
    mode: http
    use_service: [prometheus-exporter]
backends:
  app:
    mode: http
    balance: roundrobin
    health_check: { type: http, path: /, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{dead}}" }
`, vars)
	stWeb := p.addr("web")

	haURL, stURL := "http://"+haProm+"/metrics", "http://"+p.addr("prom")+"/metrics"
	// Every server checked at least once, and s3 down, in both.
	settled := []string{
		`haproxy_server_status{proxy="app",server="s3",state="DOWN"}`,
		`haproxy_server_check_status{proxy="app",server="s1",state="L7OK"}`,
		`haproxy_server_check_status{proxy="app",server="s2",state="L7OK"}`,
		`haproxy_server_check_status{proxy="app",server="s3",state="L4CON"}`,
	}
	testsupport.WaitFor(t, 10*time.Second, "every server checked, s3 down, in both", func() bool {
		ha, st := scrapeProm(t, haURL), scrapeProm(t, stURL)
		for _, s := range settled {
			if ha.samples[s] != 1 || st.samples[s] != 1 {
				return false
			}
		}
		return true
	})

	for _, path := range []string{"/", "/", "/", "/", "/", "/", "/deny", "/deny", "/status/404", "/status/404", "/status/500", "/status/301"} {
		ha, st := oneShot(t, haWeb, path), oneShot(t, stWeb, path)
		if ha != st || ha == 0 {
			t.Fatalf("GET %s: HAProxy answered %d, strata %d", path, ha, st)
		}
	}
	// HAProxy counts a stream when it ends, a moment after the reply.
	const reqs = `haproxy_frontend_http_requests_total{proxy="web"}`
	const cur = `haproxy_frontend_current_sessions{proxy="web"}`
	var ha, st *promScrape
	for i := 0; ; i++ {
		ha, st = scrapeProm(t, haURL), scrapeProm(t, stURL)
		if ha.samples[reqs] == 12 && st.samples[reqs] == 12 && ha.samples[cur] == 0 && st.samples[cur] == 0 {
			break
		}
		if i == 500 {
			t.Fatalf("requests and current sessions: HAProxy %v %v, strata %v %v; want 12 0", ha.samples[reqs], ha.samples[cur], st.samples[reqs], st.samples[cur])
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, f := range dashboardFamilies {
		if ha.typ[f.name] == "" {
			t.Errorf("HAProxy has no family %s", f.name)
			continue
		}
		if st.typ[f.name] != ha.typ[f.name] || st.help[f.name] != ha.help[f.name] {
			t.Errorf("%s: strata's TYPE %q HELP %q, HAProxy's TYPE %q HELP %q", f.name, st.typ[f.name], st.help[f.name], ha.typ[f.name], ha.help[f.name])
		}
		if f.name == "haproxy_process_build_info" {
			hs, ss := ha.series(f.name), st.series(f.name)
			if len(hs) != 1 || len(ss) != 1 || labelNames(hs[0]) != labelNames(ss[0]) || !strings.Contains(ss[0], `version="strata `) {
				t.Errorf("build info: strata %v, HAProxy %v", ss, hs)
			}
			continue
		}
		for _, s := range ha.series(f.name) {
			if strings.Contains(s, `proxy="prom"`) {
				continue // the exporters' own frontends differ (HAProxy's is an applet)
			}
			sv, ok := st.samples[s]
			switch {
			case !ok:
				t.Errorf("strata has no series %s (HAProxy: %v)", s, ha.samples[s])
			case f.equal && sv != ha.samples[s]:
				t.Errorf("%s: strata %v, HAProxy %v", s, sv, ha.samples[s])
			}
		}
		for _, s := range st.series(f.name) {
			if _, ok := ha.samples[s]; !ok && !strings.Contains(s, `proxy="prom"`) {
				t.Errorf("strata has series %s that HAProxy has not", s)
			}
		}
	}
	// Every haproxy_ family strata writes is one of HAProxy's, typed and
	// described as HAProxy does: none invented, none renamed.
	for name, typ := range st.typ {
		if !strings.HasPrefix(name, "haproxy_") {
			continue
		}
		if ha.typ[name] == "" {
			t.Errorf("strata writes %s, which HAProxy 2.6 does not have", name)
			continue
		} else if typ != ha.typ[name] || st.help[name] != ha.help[name] {
			t.Errorf("%s: strata's TYPE %q HELP %q, HAProxy's TYPE %q HELP %q", name, typ, st.help[name], ha.typ[name], ha.help[name])
		}
		if name == "haproxy_process_build_info" {
			continue // compared above
		}
		// The same series (label sets), whatever their values.
		for _, series := range ha.series(name) {
			if _, ok := st.samples[series]; !ok && !strings.Contains(series, `proxy="prom"`) {
				t.Errorf("strata has no series %s", series)
			}
		}
		for _, series := range st.series(name) {
			if _, ok := ha.samples[series]; !ok && !strings.Contains(series, `proxy="prom"`) {
				t.Errorf("strata has series %s that HAProxy has not", series)
			}
		}
	}
	// Values that only say "something happened" in both.
	for _, s := range []string{
		`haproxy_frontend_bytes_in_total{proxy="web"}`, `haproxy_frontend_bytes_out_total{proxy="web"}`,
		`haproxy_server_check_failures_total{proxy="app",server="s3"}`,
	} {
		if ha.samples[s] <= 0 || st.samples[s] <= 0 {
			t.Errorf("%s: strata %v, HAProxy %v; want both > 0", s, st.samples[s], ha.samples[s])
		}
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_resident_memory_bytes",
		"process_start_time_seconds", "go_goroutines", "go_memstats_alloc_bytes", "go_info"} {
		if len(st.series(name)) == 0 {
			t.Errorf("strata has no %s", name)
		}
	}
	if bi := st.series("strata_build_info"); len(bi) != 1 || !strings.Contains(bi[0], `goversion="go`) || st.samples[bi[0]] != 1 {
		t.Errorf("strata_build_info: %v", bi)
	}
	var missing []string
	for name := range ha.typ {
		if _, ok := st.typ[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	t.Logf("HAProxy families strata does not export (%d of %d): %s", len(missing), len(ha.typ), strings.Join(missing, " "))
}
