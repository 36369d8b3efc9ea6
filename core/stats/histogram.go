package stats

import (
	"sync/atomic"
	"time"
)

// Bounds are the upper bounds of a Histogram's buckets, in seconds: from
// 100 µs (a proxied request on the loopback) to 10 s (a slow server), about
// three per decade, the same for every latency strata reports so that
// buckets can be summed across frontends, backends and servers.
var Bounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// boundsNS are Bounds in nanoseconds, for Observe.
var boundsNS = func() (b [len(Bounds)]int64) {
	for i, s := range Bounds {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// NumBuckets is the number of buckets of a Histogram: one per bound, and
// one for what is above the last.
const NumBuckets = len(Bounds) + 1

// Histogram is a latency histogram with fixed buckets (Bounds). Observe is
// lock-free and allocates nothing: two atomic additions. The zero value
// is ready to use. A reader may see a duration counted in its bucket and
// not yet in the sum.
type Histogram struct {
	buckets [NumBuckets]atomic.Int64 // not cumulative
	sumNS   atomic.Int64
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(boundsNS) && ns > boundsNS[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNS.Add(ns)
}

// HistogramSnapshot is a copy of a Histogram. Buckets are cumulative, as
// Prometheus and OpenTelemetry's explicit-bucket histograms want them
// (Buckets[i] counts the durations ≤ Bounds[i]; the last one is Count).
type HistogramSnapshot struct {
	Buckets [NumBuckets]int64
	Count   int64
	Sum     float64 // seconds
}

// Snapshot reads h.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	var acc int64
	for i := range h.buckets {
		acc += h.buckets[i].Load()
		s.Buckets[i] = acc
	}
	s.Count = acc // consistent with the buckets, whatever Observe runs meanwhile
	s.Sum = float64(h.sumNS.Load()) / 1e9
	return s
}
