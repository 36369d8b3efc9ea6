package proxywasm

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/strata-proxy/strata/core/telemetry"
)

// A sampled stream gets a span per filter callback, named after the
// callback, with the plugin and the outcome (a trap included).
func TestFilter_SpanPerCallback(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	_, parent := tp.Tracer("test").Start(context.Background(), "stream")

	f := newFilter(t, "bad", Config{PluginConfig: []byte("trap:response_headers")}, nil)
	s := newStream(request("/"))
	s.ctx.Span = parent
	sf, err := f.NewStream(s)
	if err != nil {
		t.Fatal(err)
	}
	sf.RequestHeaders(true)
	s.resp = fields(":status", "200")
	sf.ResponseHeaders(true)
	sf.Done()

	got := map[string]string{}
	for _, sp := range rec.Ended() {
		attrs := map[string]string{}
		for _, a := range sp.Attributes() {
			attrs[string(a.Key)] = a.Value.String()
		}
		if attrs[telemetry.AttrPlugin] != "bad" {
			t.Errorf("span %s: plugin %q", sp.Name(), attrs[telemetry.AttrPlugin])
		}
		got[sp.Name()] = attrs[telemetry.AttrOutcome]
	}
	want := map[string]string{"plugin filter proxy_on_request_headers": telemetry.OutcomeOK,
		"plugin filter proxy_on_response_headers": telemetry.OutcomeTrap}
	for name, outcome := range want {
		if got[name] != outcome {
			t.Errorf("span %q outcome %q, want %q (spans: %v)", name, got[name], outcome, got)
		}
	}
}
