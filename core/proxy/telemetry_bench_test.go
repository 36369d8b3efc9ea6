package proxy

import (
	"bufio"
	"context"
	"io"
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
			p := startProxy(b, `
global:
  access_log: { output: none }
`+tc.tracing+`frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up, "otlp": startSink(b)})
			c, err := net.Dial("tcp", p.addr("web"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /bench/path HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: strata-bench\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReaderSize(c, 4096)
			resp := make([]byte, len("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!"))
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, resp); err != nil {
					b.Fatal(err)
				}
			}
			for range 100 {
				roundTrip()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				roundTrip()
			}
		})
	}
}
