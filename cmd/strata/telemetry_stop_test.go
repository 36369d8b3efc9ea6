package main

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/strata-proxy/strata/internal/otlptest"
)

// tracedYAML exports every span, and with metrics the metrics once a
// minute, to the OTLP receiver at otlp: the batch interval (5 s) and the
// metrics interval are longer than the tests wait before stopping strata,
// so what reaches the receiver was flushed by the stop.
func tracedYAML(web, up, otlp string, gen int, metrics bool) string {
	m := ""
	if metrics {
		m = fmt.Sprintf("  metrics: { exporter: otlp_grpc, endpoint: %q, interval: 1m }\n", otlp)
	}
	return fmt.Sprintf(`
global:
  grace: 5s
  access_log: { output: none }
  tracing: { exporter: otlp_grpc, endpoint: %q, sample_ratio: 1 }
%sfrontends:
  web:
    bind: [%q]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 30s }
    http_response: ["set-header x-gen %d"]
    default_backend: app
backends:
  app:
    mode: http
    servers: { s1: { address: %q } }
`, otlp, m, web, gen, up)
}

// tracedGet sends GET path with a sampled traceparent of a new trace id
// and returns that id.
func tracedGet(t *testing.T, web, path string, n byte) []byte {
	t.Helper()
	tid := []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, n}
	req, _ := http.NewRequest("GET", "http://"+web+path, nil)
	req.Header.Set("traceparent", "00-"+hex.EncodeToString(tid)+"-00f067aa0ba902b7-01")
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return tid
}

// wantServerSpan fails unless the receiver holds the server span of trace
// tid.
func wantServerSpan(t *testing.T, rcv *otlptest.Receiver, tid []byte, what string) {
	t.Helper()
	for _, s := range rcv.Trace(tid) {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			return
		}
	}
	t.Errorf("%s: the server span of trace %x never reached the receiver (%d spans received)", what, tid, len(rcv.Spans()))
}

// TestRun_StopFlushesTelemetry: a request, a reload (its generation
// closes), another request, then SIGTERM at once, well within the batch
// interval: strata exits only after the spans of both requests (and, when
// metrics are exported, a last reading) have reached the OTLP receiver.
func TestRun_StopFlushesTelemetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics bool
	}{
		{name: "tracing", metrics: false},
		{name: "tracing and metrics", metrics: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := otlptest.Start(t)
			up := startUpstream(t, "s1")
			web := freePort(t)
			dir := t.TempDir()
			cfgPath, pidfile := filepath.Join(dir, "strata.yaml"), filepath.Join(dir, "strata.pid")
			writeFile(t, cfgPath, tracedYAML(web, up.addr, rcv.Addr, 1, tc.metrics))
			p := strataRun(t, "-c", cfgPath, "--pidfile", pidfile)

			first := tracedGet(t, web, "/first", 1)
			writeFile(t, cfgPath, tracedYAML(web, up.addr, rcv.Addr, 2, tc.metrics))
			if code, out, errOut := strataReload(t, pidfile); code != 0 {
				t.Fatalf("reload: %d %s%s", code, out, errOut)
			}
			second := tracedGet(t, web, "/second", 2)
			if n := len(rcv.Trace(second)); n != 0 {
				// Then the exporter sent them on its own, not at the stop.
				t.Logf("note: %d spans of the last request reached the receiver before the stop", n)
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 20*time.Second); code != 0 {
				t.Fatalf("exit %d:\n%s", code, p.stderr.String())
			}
			wantServerSpan(t, rcv, first, "a request of the generation a reload replaced")
			wantServerSpan(t, rcv, second, "the last request before SIGTERM")
			if names := rcv.MetricNames(); tc.metrics && len(names) == 0 {
				t.Errorf("no last metrics reading reached the receiver")
			}
			if strings.Contains(p.stderr.String(), "not delivered") {
				t.Errorf("log:\n%s", p.stderr.String())
			}
		})
	}
}

// TestUpgrade_FlushesSpans: the process a binary upgrade replaces sends
// the spans of its last requests before it exits.
func TestUpgrade_FlushesSpans(t *testing.T) {
	rcv := otlptest.Start(t)
	up := startUpstream(t, "s1")
	web := freePort(t)
	dir := t.TempDir()
	cfgPath, pidfile := filepath.Join(dir, "strata.yaml"), filepath.Join(dir, "strata.pid")
	writeFile(t, cfgPath, tracedYAML(web, up.addr, rcv.Addr, 1, false))
	old := strataRun(t, "-c", cfgPath, "--pidfile", pidfile)
	tid := tracedGet(t, web, "/before-upgrade", 3)
	next := strataRun(t, "-c", cfgPath, "--pidfile", pidfile, "--upgrade-from", pidfile)
	if code := old.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("the old process exited with %d:\n%s", code, old.stderr.String())
	}
	wantServerSpan(t, rcv, tid, "the replaced process's last request")
	next.signal(t, syscall.SIGTERM)
	next.wait(t, 20*time.Second)
}
