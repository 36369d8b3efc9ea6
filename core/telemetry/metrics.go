package telemetry

import (
	"bufio"
	"context"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/strata-proxy/strata/core/stats"
)

// Metrics is one reading of strata's metrics, filled by Gatherers and
// rendered as Prometheus text (WritePrometheus) or OTLP data (the
// exporter's producer). A reading is built when it is scraped or
// exported, from counters the engine keeps anyway: nothing here runs on
// the request path. Not safe for concurrent use.
type Metrics struct {
	fams []*family
	idx  map[string]*family
}

// A Gatherer adds what one part of strata knows to a reading.
type Gatherer func(m *Metrics)

type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

type family struct {
	name, help string
	kind       kind
	points     []point
}

type point struct {
	labels []string // name, value, name, value…
	value  float64
	hist   stats.HistogramSnapshot
}

// Gather returns a reading from every gatherer, in order.
func Gather(gs ...Gatherer) *Metrics {
	m := &Metrics{idx: map[string]*family{}}
	for _, g := range gs {
		if g != nil {
			g(m)
		}
	}
	return m
}

func (m *Metrics) family(name, help string, k kind) *family {
	f := m.idx[name]
	if f == nil {
		f = &family{name: name, help: help, kind: k}
		m.idx[name] = f
		m.fams = append(m.fams, f)
	}
	return f
}

// Counter adds a point of a monotonic counter; labels are name, value
// pairs. A name ending in _total is the convention.
func (m *Metrics) Counter(name, help string, v float64, labels ...string) {
	f := m.family(name, help, kindCounter)
	f.points = append(f.points, point{labels: labels, value: v})
}

// Gauge adds a point of a gauge.
func (m *Metrics) Gauge(name, help string, v float64, labels ...string) {
	f := m.family(name, help, kindGauge)
	f.points = append(f.points, point{labels: labels, value: v})
}

// Histogram adds a point of a latency histogram (seconds, stats.Bounds).
func (m *Metrics) Histogram(name, help string, h stats.HistogramSnapshot, labels ...string) {
	f := m.family(name, help, kindHistogram)
	f.points = append(f.points, point{labels: labels, hist: h})
}

// Value returns the value of the point of name with exactly labels, for
// tests; ok is false when there is none.
func (m *Metrics) Value(name string, labels ...string) (v float64, ok bool) {
	f := m.idx[name]
	if f == nil {
		return 0, false
	}
	for _, p := range f.points {
		if equalLabels(p.labels, labels) {
			if f.kind == kindHistogram {
				return float64(p.hist.Count), true
			}
			return p.value, true
		}
	}
	return 0, false
}

func equalLabels(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ContentType is the media type of WritePrometheus's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WritePrometheus writes the reading in the Prometheus text exposition
// format, version 0.0.4.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var b []byte
	for _, f := range m.fams {
		b = b[:0]
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, escapeHelp(f.help)...)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, [...]string{"counter", "gauge", "histogram"}[f.kind]...)
		b = append(b, '\n')
		for _, p := range f.points {
			if f.kind != kindHistogram {
				b = appendSample(b, f.name, p.labels, "", "", p.value)
				continue
			}
			for i, bound := range stats.Bounds {
				b = appendSample(b, f.name+"_bucket", p.labels, "le", strconv.FormatFloat(bound, 'g', -1, 64), float64(p.hist.Buckets[i]))
			}
			b = appendSample(b, f.name+"_bucket", p.labels, "le", "+Inf", float64(p.hist.Count))
			b = appendSample(b, f.name+"_sum", p.labels, "", "", p.hist.Sum)
			b = appendSample(b, f.name+"_count", p.labels, "", "", float64(p.hist.Count))
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendSample(b []byte, name string, labels []string, k, v string, val float64) []byte {
	b = append(b, name...)
	if len(labels) > 0 || k != "" {
		b = append(b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, labels[i], labels[i+1])
		}
		if k != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = appendLabel(b, k, v)
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	switch {
	case math.IsInf(val, 1):
		b = append(b, "+Inf"...)
	case math.IsInf(val, -1):
		b = append(b, "-Inf"...)
	case math.IsNaN(val):
		b = append(b, "NaN"...)
	default:
		b = strconv.AppendFloat(b, val, 'g', -1, 64)
	}
	return append(b, '\n')
}

func appendLabel(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, '=', '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func escapeHelp(s string) string {
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(s)
}

// producer hands readings to an OpenTelemetry metric reader: strata's
// counters become OTLP data points without going through instruments.
type producer struct {
	gather Gatherer
	start  time.Time
}

func (p *producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	m := Gather(p.gather)
	return []metricdata.ScopeMetrics{m.scopeMetrics(p.start, time.Now())}, nil
}

func (m *Metrics) scopeMetrics(start, now time.Time) metricdata.ScopeMetrics {
	sm := metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: ScopeName, Version: Version}}
	bounds := stats.Bounds[:]
	for _, f := range m.fams {
		md := metricdata.Metrics{Name: f.name, Description: f.help}
		switch f.kind {
		case kindCounter, kindGauge:
			dps := make([]metricdata.DataPoint[float64], 0, len(f.points))
			for _, p := range f.points {
				dps = append(dps, metricdata.DataPoint[float64]{Attributes: attrSet(p.labels), StartTime: start, Time: now, Value: p.value})
			}
			if f.kind == kindCounter {
				md.Data = metricdata.Sum[float64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
			} else {
				md.Data = metricdata.Gauge[float64]{DataPoints: dps}
			}
		case kindHistogram:
			md.Unit = "s"
			dps := make([]metricdata.HistogramDataPoint[float64], 0, len(f.points))
			for _, p := range f.points {
				counts := make([]uint64, stats.NumBuckets)
				var prev int64
				for i, c := range p.hist.Buckets {
					counts[i] = uint64(c - prev) // OTLP buckets are not cumulative
					prev = c
				}
				dps = append(dps, metricdata.HistogramDataPoint[float64]{Attributes: attrSet(p.labels), StartTime: start, Time: now,
					Count: uint64(p.hist.Count), Sum: p.hist.Sum, Bounds: bounds, BucketCounts: counts})
			}
			md.Data = metricdata.Histogram[float64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality}
		}
		sm.Metrics = append(sm.Metrics, md)
	}
	return sm
}

func attrSet(labels []string) attribute.Set {
	kvs := make([]attribute.KeyValue, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		kvs = append(kvs, attribute.String(labels[i], labels[i+1]))
	}
	return attribute.NewSet(kvs...)
}
