package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
)

// httpGet GETs url without credentials and returns the status, the
// content type and the body.
func httpGet(t testing.TB, url string) (int, string, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, r.Header.Get("Content-Type"), string(b)
}

// TestExporter_OwnBind: the prometheus-exporter service on a frontend of
// its own serves the whole reading without the admin token (as HAProxy's
// `http-request use-service prometheus-exporter`), while the admin
// listener keeps asking for it on GET /metrics; the stats service shows
// the stats page, read-only, and its data at ?json.
func TestExporter_OwnBind(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1"})
	yaml := `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    default_backend: app
  ops:
    bind: ["127.0.0.1:0"]
    mode: http
    use_service: ["prometheus-exporter if { path /metrics }", "stats if { path /stats }"]
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{s1}}" }
`
	p := startProxy(t, yaml, vars)
	api := startAdmin(t, p)
	cl := dial(t, p.addr("web"), "")
	for range 3 {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("GET /: %+v", r)
		}
	}
	ops := "http://" + p.addr("ops")

	s := scrapeProm(t, ops+"/metrics")
	for series, want := range map[string]float64{
		`haproxy_frontend_http_requests_total{proxy="web"}`:                       3,
		`haproxy_server_http_responses_total{code="2xx",proxy="app",server="s1"}`: 3,
		`strata_frontend_streams_total{frontend="web"}`:                           3,
	} {
		if got, ok := s.samples[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	// Each request went on a new server connection or a pooled one.
	att, reu := s.samples[`haproxy_server_connection_attempts_total{proxy="app",server="s1"}`], s.samples[`haproxy_server_connection_reuses_total{proxy="app",server="s1"}`]
	if att < 1 || att+reu != 3 || s.samples[`strata_server_connection_reuses_total{backend="app",server="s1"}`] != reu {
		t.Errorf("server connections: %v attempts, %v reuses (strata_ family %v), want 3 in all", att, reu,
			s.samples[`strata_server_connection_reuses_total{backend="app",server="s1"}`])
	}
	for _, fam := range []string{"strata_frontend_h2_errors_total", "strata_server_check_failures_total", "process_open_fds", "go_goroutines", "strata_build_info", "haproxy_process_uptime_seconds"} {
		if len(s.series(fam)) == 0 {
			t.Errorf("no %s in the exporter service's answer", fam)
		}
	}
	if code, _, _ := httpGet(t, ops+"/other"); code != 503 {
		t.Errorf("GET /other on the ops frontend: %d, want 503 (no backend)", code)
	}

	// The admin listener: the same reading, behind the token.
	if code, _, _ := httpGet(t, api.base+"/metrics"); code != 401 {
		t.Errorf("GET /metrics on the admin listener without the token: %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", api.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(text), `haproxy_frontend_http_requests_total{proxy="web"} 3`) {
		t.Errorf("admin GET /metrics with the token: %d, without the HAProxy families:\n%.2000s", resp.StatusCode, text)
	}

	// The stats page: public HTML on the admin listener (data needs the
	// token), read-only on the frontend with its data at ?json.
	if code, ctype, body := httpGet(t, api.base+"/stats"); code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, `data-mode="admin"`) || strings.Contains(body, vars["s1"]) {
		t.Errorf("admin GET /stats: %d %s, admin mode %v", code, ctype, strings.Contains(body, `data-mode="admin"`))
	}
	if code, _, _ := httpGet(t, api.base+"/v1/stats"); code != 401 {
		t.Errorf("GET /v1/stats without the token: %d, want 401", code)
	}
	if code, ctype, body := httpGet(t, ops+"/stats"); code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, `data-mode="readonly"`) {
		t.Errorf("frontend GET /stats: %d %s, read-only %v", code, ctype, strings.Contains(body, `data-mode="readonly"`))
	}
	code, _, body := httpGet(t, ops+"/stats?json")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || len(st.Backends) != 1 || st.Backends[0].Servers[0].Name != "s1" {
		t.Errorf("frontend GET /stats?json: %d %v %.300s", code, err, body)
	}

	// A reload: the services of the new configuration read the same
	// proxy, whose counters start again from zero.
	cfg, err := config.Load(config.Sources{YAML: []byte(strings.ReplaceAll(yaml, "{{s1}}", vars["s1"]))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reload(cfg, generation.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	s = scrapeProm(t, ops+"/metrics")
	if v, ok := s.samples[`haproxy_frontend_http_requests_total{proxy="web"}`]; !ok || v != 0 {
		t.Errorf("after a reload: web's requests %v (present %v), want 0", v, ok)
	}
}
