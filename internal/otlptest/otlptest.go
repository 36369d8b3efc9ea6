// Package otlptest runs a real OTLP/gRPC receiver in process for tests:
// the collector's TraceService and MetricsService on a 127.0.0.1 port,
// keeping every span and metric they are sent. Tests of the proxy in
// process and of the strata binary use the same receiver.
package otlptest

import (
	"context"
	"net"
	"sync"
	"testing"

	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Receiver is a running OTLP/gRPC receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	Addr string // host:port to export to

	traces  traceService
	metrics metricsService
}

type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span // guarded by mu
}

func (s *traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	collectormetrics.UnimplementedMetricsServiceServer
	mu    sync.Mutex
	names map[string]int // metric name → data points received; guarded by mu
}

func (s *metricsService) Export(_ context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]int{}
	}
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				s.names[m.Name]++
			}
		}
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

// Start starts a receiver, stopped when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: ln.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, &r.traces)
	collectormetrics.RegisterMetricsServiceServer(s, &r.metrics)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return r
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []*tracepb.Span {
	r.traces.mu.Lock()
	defer r.traces.mu.Unlock()
	return append([]*tracepb.Span(nil), r.traces.spans...)
}

// Trace returns the spans received of trace tid.
func (r *Receiver) Trace(tid []byte) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range r.Spans() {
		if string(s.TraceId) == string(tid) {
			out = append(out, s)
		}
	}
	return out
}

// MetricNames returns the names of the metrics received so far.
func (r *Receiver) MetricNames() []string {
	r.metrics.mu.Lock()
	defer r.metrics.mu.Unlock()
	var out []string
	for n := range r.metrics.names {
		out = append(out, n)
	}
	return out
}
