package telemetry

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/stats"
)

func TestHistogram_Observe(t *testing.T) {
	var h stats.Histogram
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 20 * time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if s.Count != 4 || s.Buckets[0] != 2 || s.Buckets[5] != 3 || s.Buckets[len(stats.Bounds)-1] != 3 || s.Buckets[stats.NumBuckets-1] != 4 {
		t.Errorf("snapshot %+v", s)
	}
	if s.Sum < 20.003 || s.Sum > 20.0032 {
		t.Errorf("sum %v", s.Sum)
	}
}

// A hammer: concurrent Observe calls lose nothing.
func TestHistogram_Hammer(t *testing.T) {
	var h stats.Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(time.Duration(g*i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 {
		t.Errorf("count %d, want 8000", s.Count)
	}
}

func TestMetrics_WritePrometheus(t *testing.T) {
	var h stats.Histogram
	h.Observe(2 * time.Millisecond)
	m := Gather(func(m *Metrics) {
		m.Counter("strata_x_total", "X things.", 3, "frontend", `we"b`)
		m.Counter("strata_x_total", "X things.", 4, "frontend", "api")
		m.Gauge("strata_up", "Up.", 1)
		m.Histogram("strata_d_seconds", "D.", h.Snapshot(), "backend", "app")
	})
	var b bytes.Buffer
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# HELP strata_x_total X things.\n# TYPE strata_x_total counter\nstrata_x_total{frontend=\"we\\\"b\"} 3\nstrata_x_total{frontend=\"api\"} 4\n",
		"# TYPE strata_up gauge\nstrata_up 1\n",
		"strata_d_seconds_bucket{backend=\"app\",le=\"0.001\"} 0\n",
		"strata_d_seconds_bucket{backend=\"app\",le=\"0.0025\"} 1\n",
		"strata_d_seconds_bucket{backend=\"app\",le=\"+Inf\"} 1\n",
		"strata_d_seconds_sum{backend=\"app\"} 0.002\n",
		"strata_d_seconds_count{backend=\"app\"} 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "# TYPE strata_x_total") != 1 {
		t.Errorf("a family's HELP and TYPE must appear once:\n%s", out)
	}
	if v, ok := m.Value("strata_x_total", "frontend", "api"); !ok || v != 4 {
		t.Errorf("Value = %v, %v", v, ok)
	}
	sm := m.scopeMetrics(time.Now(), time.Now())
	if len(sm.Metrics) != 3 {
		t.Errorf("OTLP metrics: %d, want 3", len(sm.Metrics))
	}
}

func TestStream_TraceParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := NewTracerWith(config.Tracing{SampleRatio: 1, ServiceName: "t"}, rec)
	defer tr.Shutdown(context.Background())
	var s Stream
	tr.StartHTTP(&s, time.Now(), &HTTPRequest{Method: []byte("GET"), Path: []byte("/"), Frontend: "web",
		TraceParent: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")})
	s.StartAttempt([]byte("GET"), "app")
	tp1 := string(s.TraceParent())
	if !strings.HasPrefix(tp1, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(tp1, "-01") || len(tp1) != 55 {
		t.Fatalf("traceparent %q", tp1)
	}
	head := []byte("GET / HTTP/1.1\r\nhost: x\r\ntraceparent: " + tp1 + "\r\n\r\nbody traceparent: " + tp1)
	s.EndAttempt(AttemptEnd{Error: "reused connection closed"})
	s.StartAttempt([]byte("GET"), "app")
	tp2 := string(s.TraceParent())
	if tp2 == tp1 || !s.PatchTraceParent(head) {
		t.Fatalf("second attempt %q (first %q)", tp2, tp1)
	}
	if want := "GET / HTTP/1.1\r\nhost: x\r\ntraceparent: " + tp2 + "\r\n\r\nbody traceparent: " + tp1; string(head) != want {
		t.Errorf("patched head %q, want %q (the body untouched)", head, want)
	}
	s.End(StreamEnd{Status: 200, Cause: "none", Phase: "done", State: "--"})
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want server and two attempts", len(spans))
	}
	var kinds []string
	for _, sp := range spans {
		kinds = append(kinds, sp.SpanKind().String())
	}
	if strings.Join(kinds, ",") != "client,client,server" {
		t.Errorf("kinds %v", kinds)
	}
}

func TestStream_Unsampled(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := NewTracerWith(config.Tracing{SampleRatio: 0}, rec)
	defer tr.Shutdown(context.Background())
	var s Stream
	tr.StartHTTP(&s, time.Now(), &HTTPRequest{Method: []byte("GET"), Frontend: "web"})
	if !s.Active() || s.Span().IsRecording() {
		t.Fatal("an unsampled stream has a span context and records nothing")
	}
	s.StartAttempt([]byte("GET"), "app")
	if tp := string(s.TraceParent()); !strings.HasSuffix(tp, "-00") {
		t.Errorf("traceparent %q, want flags 00", tp)
	}
	if StartPluginCall(s.Span(), "p", "fetch", "f", 1) != nil {
		t.Error("a plugin call of an unsampled stream got a span")
	}
	s.End(StreamEnd{})
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
	var _ sdktrace.SpanProcessor = rec
}
