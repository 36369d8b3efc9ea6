package assemble

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/stick"
)

const metricsConfig = webFrontend + `
    http_request:
      - "set-header x-v %[trap] if { path_beg /trap }"
    default_backend: app
plugins:
  mb:
    file: "{{wasm:misbehave}}"
    on_error: fail_closed
    call_timeout: 2s
    memory_limit: 48MiB
    instances: { min: 1, max: 2 }
backends:` + appBackend

// scrape reads GET /metrics and returns each sample line's value by its
// name and labels as written ("name{a=\"b\"}").
func (p *testProxy) scrape(t testing.TB) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func wantMetric(t testing.TB, m map[string]float64, name string, want float64) {
	t.Helper()
	got, ok := m[name]
	if !ok {
		t.Errorf("no sample %s", name)
		return
	}
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestMetrics_Scrape: after known traffic, a plugin trap and two reloads
// (one refused), GET /metrics says so.
func TestMetrics_Scrape(t *testing.T) {
	up := startUpstream(t)
	vars := map[string]string{"up": up.Addr}
	p := startProxy(t, metricsConfig, vars, nil)
	var cur atomic.Pointer[Bundle]
	cur.Store(p.gen)
	RegisterMetrics(p.Proxy, cur.Load)

	for range 3 {
		if r := p.get(t, "web", "/ok"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if r := p.get(t, "web", "/trap"); r.status != 500 {
		t.Fatalf("trap: status %d, want 500 (fail_closed)", r.status)
	}
	// Streams are counted when they end, after the answer is written:
	// wait (bounded) until the frontend has counted all four.
	var m map[string]float64
	for range 200 {
		m = p.scrape(t)
		if m[`strata_frontend_streams_total{frontend="web"}`] == 4 && m[`strata_frontend_current_streams{frontend="web"}`] == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantMetric(t, m, `strata_frontend_streams_total{frontend="web"}`, 4)
	wantMetric(t, m, `strata_frontend_responses_total{frontend="web",class="2xx"}`, 3)
	wantMetric(t, m, `strata_frontend_responses_total{frontend="web",class="5xx"}`, 1)
	wantMetric(t, m, `strata_frontend_terminations_total{frontend="web",cause="plugin"}`, 1)
	wantMetric(t, m, `strata_frontend_duration_seconds_count{frontend="web"}`, 4)
	wantMetric(t, m, `strata_frontend_duration_seconds_bucket{frontend="web",le="+Inf"}`, 4)
	wantMetric(t, m, `strata_backend_responses_total{backend="app",class="2xx"}`, 3)
	wantMetric(t, m, `strata_backend_ttfb_seconds_count{backend="app"}`, 3)
	wantMetric(t, m, `strata_server_responses_total{backend="app",server="s1",class="2xx"}`, 3)
	wantMetric(t, m, `strata_server_duration_seconds_count{backend="app",server="s1"}`, 3)
	wantMetric(t, m, `strata_server_up{backend="app",server="s1"}`, 1)
	wantMetric(t, m, `strata_backend_queue_length{backend="app"}`, 0)
	wantMetric(t, m, `strata_plugin_traps_total{plugin="mb"}`, 1)
	wantMetric(t, m, `strata_plugin_calls_total{plugin="mb"}`, 1)
	wantMetric(t, m, `strata_plugin_call_duration_seconds_count{plugin="mb"}`, 1)
	wantMetric(t, m, `strata_reloads_total{outcome="success"}`, 0)
	wantMetric(t, m, `strata_generation`, 1)
	if m[`strata_frontend_bytes_out_total{frontend="web"}`] <= 0 {
		t.Errorf("no bytes out counted")
	}

	// A reload, then one refused.
	cfg := loadConfig(t, metricsConfig, vars)
	old := p.gen
	_, err := p.ReloadWith(func(store *stick.Store) (*generation.Generation, error) {
		g, err := Build(context.Background(), cfg, Options{CacheDir: testCache, PluginConfig: patient, Stick: store})
		if err != nil {
			return nil, err
		}
		cur.Store(g)
		t.Cleanup(func() { g.Close(context.Background()) })
		return g.Generation, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close(context.Background()) })
	if _, err := p.ReloadWith(func(*stick.Store) (*generation.Generation, error) { return nil, errors.New("refused") }); err == nil {
		t.Fatal("the refused reload succeeded")
	}
	m = p.scrape(t)
	wantMetric(t, m, `strata_reloads_total{outcome="success"}`, 1)
	wantMetric(t, m, `strata_reloads_total{outcome="failure"}`, 1)
	wantMetric(t, m, `strata_generation`, 2)
	// Counters start from zero in a new generation, as HAProxy's do.
	wantMetric(t, m, `strata_frontend_streams_total{frontend="web"}`, 0)
	wantMetric(t, m, `strata_plugin_traps_total{plugin="mb"}`, 0)
	if r := p.get(t, "web", "/ok"); r.status != 200 {
		t.Fatalf("after reload: status %d", r.status)
	}
}
