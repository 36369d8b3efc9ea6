package assemble

import (
	"context"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/strata-proxy/strata/internal/otlptest"
)

// waitTrace flushes the proxy's tracer and waits until n spans of tid
// have arrived (bounded: 100 flushes).
func (p *testProxy) waitTrace(t testing.TB, r *otlptest.Receiver, tid []byte, n int) []*tracepb.Span {
	t.Helper()
	var got []*tracepb.Span
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.Generation().Tracer().Flush(ctx)
		cancel()
		if got = r.Trace(tid); len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("trace %x: %d spans received, want %d", tid, len(got), n)
	return nil
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		}
	}
	return m
}

const tracingConfig = `
global:
  access_log: { output: stdout, format: json }
  tracing:
    exporter: otlp_grpc
    endpoint: "{{otlp}}"
    sample_ratio: {{ratio}}
    service_name: strata-test
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    http_request: ["ktrace"]
    default_backend: app
plugins:
  kitchen:
    file: "{{wasm:kitchen}}"
    grants: [trace, headers, body, clock, log, random, respond, route, stick_counters, vars]
backends:` + appBackend

// TestTracing_EndToEnd: the spans of one request reach a real OTLP/gRPC
// receiver as a tree (server span → plugin span, client span), the
// upstream gets a traceparent of the same trace whose parent is the client
// span, an incoming sampled traceparent is continued even at sample ratio
// 0, the plugin's attributes and event are on its span, and the access
// log carries the trace and span ids.
func TestTracing_EndToEnd(t *testing.T) {
	rcv := otlptest.Start(t)
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, tracingConfig, map[string]string{"up": up.Addr, "otlp": rcv.Addr, "ratio": "0"}, nil)

	tidHex, parentHex := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tid, _ := hex.DecodeString(tidHex)
	parent, _ := hex.DecodeString(parentHex)
	r := p.get(t, "web", "/traced?q=1", "traceparent", "00-"+tidHex+"-"+parentHex+"-01", "tracestate", "vendor=abc", "user-agent", "tracing-test")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	e := decodeEcho(t, r)
	tp, ok := e.First("traceparent")
	if !ok {
		t.Fatalf("the upstream got no traceparent: %v", e.Headers)
	}
	f := strings.Split(tp, "-")
	if len(f) != 4 || f[0] != "00" || f[1] != tidHex || f[2] == parentHex || f[3] != "01" {
		t.Fatalf("upstream traceparent %q: want version 00, trace %s, a new parent id, sampled", tp, tidHex)
	}
	if ts, _ := e.First("tracestate"); ts != "vendor=abc" {
		t.Errorf("upstream tracestate %q, want vendor=abc", ts)
	}

	spans := p.waitTrace(t, rcv, tid, 3)
	var server, client, plugin *tracepb.Span
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			client = s
		case tracepb.Span_SPAN_KIND_INTERNAL:
			plugin = s
		}
	}
	if server == nil || client == nil || plugin == nil {
		t.Fatalf("want a server, a client and a plugin span, got %v", spans)
	}
	if string(server.ParentSpanId) != string(parent) {
		t.Errorf("server span's parent %x, want the incoming %x", server.ParentSpanId, parent)
	}
	if string(client.ParentSpanId) != string(server.SpanId) || string(plugin.ParentSpanId) != string(server.SpanId) {
		t.Errorf("client and plugin spans must be children of the server span %x: client's parent %x, plugin's %x", server.SpanId, client.ParentSpanId, plugin.ParentSpanId)
	}
	if hex.EncodeToString(client.SpanId) != f[2] {
		t.Errorf("the upstream's parent id %s is not the client span %x", f[2], client.SpanId)
	}
	if server.Name != "GET web" || client.Name != "GET" || plugin.Name != "plugin action ktrace" {
		t.Errorf("span names %q, %q, %q", server.Name, client.Name, plugin.Name)
	}
	sa := attrs(server.Attributes)
	for k, want := range map[string]string{
		"http.request.method": "GET", "url.path": "/traced", "url.query": "q=1", "http.response.status_code": "200",
		"client.address": "127.0.0.1", "user_agent.original": "tracing-test", "strata.frontend": "web",
		"strata.backend": "app", "strata.server": "s1", "strata.termination.cause": "none", "strata.termination.phase": "done",
		"strata.retries": "0", "url.scheme": "http", "network.protocol.version": "1.1",
	} {
		if sa[k] != want {
			t.Errorf("server span %s = %q, want %q", k, sa[k], want)
		}
	}
	for _, k := range []string{"strata.session_id", "strata.stream_id", "server.address", "server.port", "client.port", "http.request.size", "http.response.size"} {
		if sa[k] == "" {
			t.Errorf("server span has no %s: %v", k, sa)
		}
	}
	ca := attrs(client.Attributes)
	upHost, upPort, _ := net.SplitHostPort(up.Addr)
	for k, want := range map[string]string{"http.request.method": "GET", "strata.server": "s1", "strata.backend": "app",
		"server.address": upHost, "server.port": upPort, "http.response.status_code": "200"} {
		if ca[k] != want {
			t.Errorf("client span %s = %q, want %q", k, ca[k], want)
		}
	}
	pa := attrs(plugin.Attributes)
	for k, want := range map[string]string{"strata.plugin.name": "kitchen", "strata.plugin.kind": "action",
		"strata.plugin.function": "ktrace", "strata.plugin.outcome": "ok", "kitchen.path": "/traced", "kitchen.answer": "42"} {
		if pa[k] != want {
			t.Errorf("plugin span %s = %q, want %q", k, pa[k], want)
		}
	}
	if _, ok := pa["strata.plugin.generation"]; !ok {
		t.Errorf("plugin span has no generation: %v", pa)
	}
	if len(plugin.Events) != 1 || plugin.Events[0].Name != "kitchen.event" {
		t.Errorf("plugin span events %v, want kitchen.event", plugin.Events)
	}
	line := p.logFor(t, "trace_id", tidHex)
	if line["span_id"] != hex.EncodeToString(server.SpanId) {
		t.Errorf("access log span_id %v, want the server span %x", line["span_id"], server.SpanId)
	}

	// Without a traceparent, ratio 0 samples nothing, but the upstream
	// still learns the trace context (not sampled), and the log has ids.
	e = decodeEcho(t, p.get(t, "web", "/unsampled"))
	tp, _ = e.First("traceparent")
	if f := strings.Split(tp, "-"); len(f) != 4 || f[3] != "00" {
		t.Fatalf("unsampled request: upstream traceparent %q, want flags 00", tp)
	}
	utid, _ := hex.DecodeString(strings.Split(tp, "-")[1])
	p.logFor(t, "trace_id", strings.Split(tp, "-")[1])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Generation().Tracer().Flush(ctx)
	if got := rcv.Trace(utid); len(got) != 0 {
		t.Errorf("an unsampled trace was exported: %v", got)
	}
}

// TestTracing_NewTraceAndTCP: at ratio 1 a request without trace context
// starts a trace of its own, and a TCP-mode stream gets a server span.
func TestTracing_NewTraceAndTCP(t *testing.T) {
	rcv := otlptest.Start(t)
	up := startUpstream(t, "-mode", "echo")
	tcpUp := startUpstream(t, "-mode", "tcp")
	cfg := strings.Replace(tracingConfig, "plugins:", `  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    default_backend: tcpapp
plugins:`, 1)
	cfg = strings.Replace(cfg, "backends:", `backends:
  tcpapp:
    mode: tcp
    timeouts: { connect: 2s, server: 10s }
    servers:
      t1: { address: "{{tcp}}" }`, 1)
	p := startProxy(t, cfg, map[string]string{"up": up.Addr, "tcp": tcpUp.Addr, "otlp": rcv.Addr, "ratio": "1"}, nil)
	e := decodeEcho(t, p.get(t, "web", "/fresh"))
	tp, _ := e.First("traceparent")
	f := strings.Split(tp, "-")
	if len(f) != 4 || f[3] != "01" {
		t.Fatalf("upstream traceparent %q, want a sampled one", tp)
	}
	tid, _ := hex.DecodeString(f[1])
	for _, s := range p.waitTrace(t, rcv, tid, 3) {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && len(s.ParentSpanId) != 0 {
			t.Errorf("a new trace's server span has a parent %x", s.ParentSpanId)
		}
	}

	if got := rawExchange(t, p.addr("tcp"), "ping", true); got != "ping" {
		t.Fatalf("tcp echo %q", got)
	}
	line := p.logFor(t, "mode", "tcp")
	tidHex, _ := line["trace_id"].(string)
	tid, _ = hex.DecodeString(tidHex)
	if len(tid) != 16 {
		t.Fatalf("tcp access log line without trace_id: %v", line)
	}
	spans := p.waitTrace(t, rcv, tid, 1)
	a := attrs(spans[0].Attributes)
	if spans[0].Name != "tcp tcp" || a["strata.mode"] != "tcp" || a["strata.backend"] != "tcpapp" || a["strata.server"] != "t1" || a["strata.termination.cause"] != "none" {
		t.Errorf("tcp span %q %v", spans[0].Name, a)
	}
}
