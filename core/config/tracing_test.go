package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoad_Tracing(t *testing.T) {
	tests := []struct {
		name    string
		sets    []string
		tracing Tracing
		metrics Metrics
	}{
		{name: "the issue's example",
			sets:    []string{"global.tracing.exporter=otlp_grpc", "global.tracing.endpoint=127.0.0.1:4317", "global.tracing.sample_ratio=0.1", "global.tracing.service_name=strata"},
			tracing: Tracing{Exporter: "otlp_grpc", Endpoint: "127.0.0.1:4317", Insecure: true, SampleRatio: 0.1, ServiceName: "strata"},
			metrics: Metrics{Exporter: "none", Interval: 10 * time.Second}},
		{name: "default endpoint of otlp_http",
			sets:    []string{"global.tracing.exporter=otlp_http"},
			tracing: Tracing{Exporter: "otlp_http", Endpoint: "127.0.0.1:4318", Insecure: true, SampleRatio: 1, ServiceName: "strata"},
			metrics: Metrics{Exporter: "none", Interval: 10 * time.Second}},
		{name: "a remote collector gets TLS unless told",
			sets:    []string{"global.tracing.exporter=otlp_grpc", "global.tracing.endpoint=collector.example:4317", "global.metrics.exporter=otlp_grpc", "global.metrics.endpoint=collector.example:4317", "global.metrics.insecure=true", "global.metrics.interval=30s"},
			tracing: Tracing{Exporter: "otlp_grpc", Endpoint: "collector.example:4317", SampleRatio: 1, ServiceName: "strata"},
			metrics: Metrics{Exporter: "otlp_grpc", Endpoint: "collector.example:4317", Insecure: true, Interval: 30 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, Sources{YAML: []byte(minimal), Sets: tt.sets})
			if c.Global.Tracing != tt.tracing {
				t.Errorf("Tracing = %+v\nwant %+v", c.Global.Tracing, tt.tracing)
			}
			if c.Global.Metrics != tt.metrics {
				t.Errorf("Metrics = %+v\nwant %+v", c.Global.Metrics, tt.metrics)
			}
		})
	}
}

func TestLoad_TracingErrors(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{name: "unknown exporter",
			sets: []string{"global.tracing.exporter=jaeger"},
			want: []string{`global.tracing.exporter: invalid value "jaeger"; use one of: none, otlp_grpc, otlp_http, stdout`}},
		{name: "ratio out of range",
			sets: []string{"global.tracing.sample_ratio=1.5"},
			want: []string{`global.tracing.sample_ratio: invalid sample ratio "1.5"; write a number from 0 to 1, such as 0.1 for one trace in ten`}},
		{name: "endpoint without a port",
			sets: []string{"global.tracing.exporter=otlp_grpc", "global.tracing.endpoint=collector"},
			want: []string{`global.tracing.endpoint: invalid address "collector": missing port; write host:port, e.g. 127.0.0.1:8080 (the collector's OTLP address)`}},
		{name: "metrics interval too short",
			sets: []string{"global.metrics.exporter=otlp_http", "global.metrics.interval=10ms"},
			want: []string{`global.metrics.interval: 10ms is too short; write a duration of at least 1s`}},
		{name: "unknown key",
			sets: []string{"global.tracing.ratio=0.5"},
			want: []string{`global.tracing.ratio: unknown key; remove it; valid keys here: endpoint, exporter, insecure, sample_ratio, service_name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{YAML: []byte(minimal), Sets: tt.sets})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
