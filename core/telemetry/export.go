package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/strata-proxy/strata/core/config"
)

// MetricsExporter sends a reading of gather to an OTLP collector every
// interval (global.metrics).
type MetricsExporter struct {
	cfg config.Metrics
	mp  *sdkmetric.MeterProvider
}

// NewMetricsExporter starts exporting, or returns nil when global.metrics
// is off.
func NewMetricsExporter(cfg config.Metrics, serviceName string, gather Gatherer) (*MetricsExporter, error) {
	if !cfg.On() {
		return nil, nil
	}
	ctx := context.Background()
	var exp sdkmetric.Exporter
	var err error
	switch cfg.Exporter {
	case "otlp_grpc":
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	case "otlp_http":
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	default:
		err = fmt.Errorf("unknown exporter %q", cfg.Exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: metrics exporter %s: %w", cfg.Exporter, err)
	}
	if serviceName == "" {
		serviceName = config.DefaultServiceName
	}
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(cfg.Interval),
		sdkmetric.WithProducer(&producer{gather: gather, start: time.Now()}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(resource.NewSchemaless(
		attribute.String("service.name", serviceName), attribute.String("service.version", Version))))
	return &MetricsExporter{cfg: cfg, mp: mp}, nil
}

// Config returns the settings e was made from.
func (e *MetricsExporter) Config() config.Metrics { return e.cfg }

// Shutdown exports a last reading and stops.
func (e *MetricsExporter) Shutdown(ctx context.Context) error { return e.mp.Shutdown(ctx) }
