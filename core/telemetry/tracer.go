package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/strata-proxy/strata/core/config"
)

// ScopeName is the instrumentation scope of strata's spans and metrics.
const ScopeName = "github.com/strata-proxy/strata"

// Version is the service.version strata reports, and Revision the VCS
// commit it was built from; cmd/strata sets both from what `strata
// version` prints.
var (
	Version  = "dev"
	Revision = "unknown"
)

// Tracer makes the spans of one configuration generation. A nil *Tracer
// is tracing off; its methods must not be called then (the engine tests
// for nil first).
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TraceContext
}

// NewTracer returns the tracer global.tracing asks for, or nil when
// tracing is off. Nothing connects yet: an exporter dials when it first
// sends.
func NewTracer(cfg config.Tracing) (*Tracer, error) {
	if !cfg.On() {
		return nil, nil
	}
	exp, err := newSpanExporter(cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: tracing exporter %s: %w", cfg.Exporter, err)
	}
	return newTracer(cfg, sdktrace.WithBatcher(exp)), nil
}

// NewTracerWith returns a tracer that hands its spans to sp, whatever
// cfg.Exporter says (tests and benchmarks).
func NewTracerWith(cfg config.Tracing, sp sdktrace.SpanProcessor) *Tracer {
	return newTracer(cfg, sdktrace.WithSpanProcessor(sp))
}

func newTracer(cfg config.Tracing, opt sdktrace.TracerProviderOption) *Tracer {
	name := cfg.ServiceName
	if name == "" {
		name = config.DefaultServiceName
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", name),
		attribute.String("service.version", Version),
		attribute.String("telemetry.sdk.language", "go"),
		attribute.String("telemetry.sdk.name", "opentelemetry"),
	)
	tp := sdktrace.NewTracerProvider(opt,
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracer{tp: tp, tr: tp.Tracer(ScopeName)}
}

func newSpanExporter(cfg config.Tracing) (sdktrace.SpanExporter, error) {
	ctx := context.Background()
	switch cfg.Exporter {
	case "otlp_grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	case "otlp_http":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		return otlptracehttp.New(ctx, opts...)
	case "stdout":
		return stdouttrace.New()
	}
	return nil, fmt.Errorf("unknown exporter %q", cfg.Exporter)
}

// Flush exports every span ended so far.
func (t *Tracer) Flush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Shutdown flushes and stops the exporter. Spans ended afterwards are
// dropped. It waits at most until ctx ends.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }
