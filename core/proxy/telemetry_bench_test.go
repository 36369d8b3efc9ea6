package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// otlpSink is an in-process OTLP/gRPC trace receiver that discards spans.
type otlpSink struct {
	collectortrace.UnimplementedTraceServiceServer
}

func (otlpSink) Export(context.Context, *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func startSink(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, otlpSink{})
	go s.Serve(ln)
	tb.Cleanup(s.Stop)
	return ln.Addr().String()
}

// BenchmarkProxy_KeepAliveTracing is BenchmarkProxy_KeepAlive/plain with
// tracing off, and on at sample ratio 0 and 1, exporting over OTLP/gRPC to
// an in-process sink: what tracing costs a request.
func BenchmarkProxy_KeepAliveTracing(b *testing.B) {
	for _, tc := range []struct{ name, tracing string }{
		{"off", ""},
		{"ratio-0", "  tracing: { exporter: otlp_grpc, endpoint: \"{{otlp}}\", sample_ratio: 0 }\n"},
		{"ratio-1", "  tracing: { exporter: otlp_grpc, endpoint: \"{{otlp}}\", sample_ratio: 1 }\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			p := startProxy(b, testsupport.BenchConfig(tc.tracing, ""), map[string]string{"up": up, "otlp": startSink(b)})
			testsupport.BenchKeepAliveTo(b, p.addr("web"))
		})
	}
}
