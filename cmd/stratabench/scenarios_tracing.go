package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// Tracing rows: the plain row with global.tracing exporting over OTLP/gRPC
// to a sink that stratabench runs in process and that discards what it
// gets, at sample ratio 0 (every stream has a span context and sends a
// traceparent, none is recorded) and 1 (every stream records a server
// span and a client span, batched and exported). The plain row is the
// same traffic with tracing off. HAProxy runs its plain configuration:
// the reference without tracing.

func init() {
	scenarios = append(scenarios,
		tracingRow("trace-0", "plain, tracing on at sample ratio 0 (a traceparent, no span recorded)", "0.0"),
		tracingRow("trace-1", "plain, tracing on at sample ratio 1 (two spans per request exported)", "1.0"),
	)
}

func tracingRow(name, about, ratio string) scenario {
	return scenario{
		name:    name,
		about:   about,
		servers: 1,
		needs:   "tracing",
		path:    "/",
		setup: func(string) error {
			err := startSink()
			fmt.Fprintf(os.Stderr, "stratabench: OTLP sink %s: %d spans received so far\n", sinkAddr(), sink.spans.Load())
			return err
		},
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{global: fmt.Sprintf(
				"  tracing: { exporter: otlp_grpc, endpoint: %q, sample_ratio: %s }\n", sinkAddr(), ratio)})
		},
		haproxyConfig: haproxyPlain,
	}
}

// sink is the OTLP trace receiver the tracing rows export to.
var sink struct {
	once  sync.Once
	addr  string
	err   error
	spans atomic.Int64
}

type sinkServer struct {
	collectortrace.UnimplementedTraceServiceServer
}

func (sinkServer) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			sink.spans.Add(int64(len(ss.Spans)))
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// startSink starts the sink once, on the loopback; it runs until
// stratabench exits.
func startSink() error {
	sink.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			sink.err = err
			return
		}
		s := grpc.NewServer()
		collectortrace.RegisterTraceServiceServer(s, sinkServer{})
		go s.Serve(ln)
		sink.addr = ln.Addr().String()
	})
	return sink.err
}

// sinkAddr is the sink's address, or the default collector address
// before the sink runs (configurations printed without running them).
func sinkAddr() string {
	if sink.addr == "" {
		return "127.0.0.1:4317"
	}
	return sink.addr
}
