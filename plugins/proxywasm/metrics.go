package proxywasm

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/core/telemetry"
)

// metrics are the metrics a filter's guest defines (proxy_define_metric),
// shared by its instances: an instance that defines a name already
// defined gets the same metric. They are exported on /metrics (Gather) as
// strata_wasm_NAME with label filter.
type metrics struct {
	mu     sync.Mutex // defining a metric (rare: once per name and instance)
	byName map[string]uint32
	// list maps id-1 → metric. It is replaced, never changed in place, so
	// that the updates a guest makes on every request read it without a
	// lock shared by every instance.
	list atomic.Pointer[[]*metric]
}

// maxMetrics bounds the metrics one filter may define.
const maxMetrics = 1000

type metric struct {
	name  string
	kind  uint32
	value atomic.Int64 // counter, gauge; the sum for a histogram
	count atomic.Int64 // histogram: values recorded
}

func newMetrics() *metrics { return &metrics{byName: map[string]uint32{}} }

func (m *metrics) get(id uint32) *metric {
	list := m.all()
	if id == 0 || int(id) > len(list) {
		return nil
	}
	return list[id-1]
}

// all returns the metrics defined so far.
func (m *metrics) all() []*metric {
	if l := m.list.Load(); l != nil {
		return *l
	}
	return nil
}

func hDefineMetric(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	kind := uint32(s[0])
	name, ok := v.read(s[1], s[2])
	if _, ok2 := v.read(s[3], 4); !ok || !ok2 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	if kind > metricHistogram || len(name) == 0 {
		ret(s, stBadArgument)
		return
	}
	m := v.f.metrics
	m.mu.Lock()
	list := m.all()
	id, found := m.byName[string(name)]
	switch {
	case found && list[id-1].kind != kind:
		m.mu.Unlock()
		ret(s, stBadArgument)
		return
	case !found && len(list) >= maxMetrics:
		m.mu.Unlock()
		ret(s, stBadArgument)
		return
	case !found:
		grown := append(list[:len(list):len(list)], &metric{name: string(name), kind: kind})
		m.list.Store(&grown)
		id = uint32(len(grown))
		m.byName[string(name)] = id
	}
	m.mu.Unlock()
	v.in.Memory().WriteUint32Le(uint32(s[3]), id)
	ret(s, stOK)
}

func hRecordMetric(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	mt := v.f.metrics.get(uint32(s[0]))
	switch {
	case mt == nil:
		ret(s, stNotFound)
		return
	case mt.kind == metricHistogram:
		mt.value.Add(int64(s[1]))
		mt.count.Add(1)
	default:
		mt.value.Store(int64(s[1]))
	}
	ret(s, stOK)
}

func hIncrementMetric(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	mt := v.f.metrics.get(uint32(s[0]))
	delta := int64(s[1])
	switch {
	case mt == nil:
		ret(s, stNotFound)
		return
	case mt.kind == metricHistogram, mt.kind == metricCounter && delta < 0:
		ret(s, stBadArgument)
		return
	}
	mt.value.Add(delta)
	ret(s, stOK)
}

func hGetMetric(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	mt := v.f.metrics.get(uint32(s[0]))
	if mt == nil {
		ret(s, stNotFound)
		return
	}
	ret(s, v.putU64(s[1], uint64(mt.value.Load())))
}

// Gather adds the filter's guest metrics to a reading (GET /metrics):
// counters as strata_wasm_NAME_total, gauges as strata_wasm_NAME,
// histograms as strata_wasm_NAME_count and _sum (the ABI gives no
// buckets), each labelled filter=NAME (and entry=PATH when Config.Entry
// is set).
func (f *Filter) Gather(m *telemetry.Metrics) {
	list := f.metrics.all()
	labels := []string{"filter", f.name}
	if f.cfg.Entry != "" {
		labels = append(labels, "entry", f.cfg.Entry)
	}
	for _, mt := range list {
		name := "strata_wasm_" + metricName(mt.name)
		help := "Proxy-Wasm metric " + mt.name + "."
		switch mt.kind {
		case metricCounter:
			m.Counter(name+"_total", help, float64(mt.value.Load()), labels...)
		case metricGauge:
			m.Gauge(name, help, float64(mt.value.Load()), labels...)
		default:
			m.Counter(name+"_count", help, float64(mt.count.Load()), labels...)
			m.Counter(name+"_sum", help, float64(mt.value.Load()), labels...)
		}
	}
}

// metricName turns a guest's metric name into a Prometheus one: every
// character outside [a-zA-Z0-9_] becomes '_'.
func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
