package stick

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// t0 is an even Unix time in milliseconds used as the origin of the rate
// tests (HAProxy starts periods on even ticks).
var t0 = int64(1_700_000_000_000)

type ev struct {
	at  int64 // ms offset from t0
	inc uint32
}

type probe struct {
	at   int64 // ms offset from t0
	want uint64
}

// TestFreqCtr_Boundaries checks values computed by hand from HAProxy's
// definition at and around period boundaries.
func TestFreqCtr_Boundaries(t *testing.T) {
	tests := []struct {
		name   string
		period uint32
		events []ev
		probes []probe
	}{
		{
			name:   "one period then fade out",
			period: 10000,
			events: []ev{{0, 5}},
			probes: []probe{
				{0, 5}, {9999, 5},
				{10000, 5},   // remain 0: still the current period
				{10001, 4},   // 5*9999/10000
				{15000, 2},   // 5*5000/10000 = 2.5
				{19999, 0},   // 5*1/10000
				{20000, 0},   // remain 0 of the previous period
				{20001, 0},   // both periods over
				{1 << 31, 0}, // far away
				{-1, 5},      // a lagging clock reads the current period
				{-5000, 5},
			},
		},
		{
			name:   "anti-flapping keeps a single event",
			period: 10000,
			events: []ev{{0, 1}},
			probes: []probe{{0, 1}, {10001, 1}, {15000, 1}, {19999, 1}, {20000, 1}, {20001, 0}},
		},
		{
			name:   "rotation by one period",
			period: 10000,
			events: []ev{{0, 10}, {12000, 4}},
			probes: []probe{
				{12000, 12}, // 4 + 10*8000/10000
				{19999, 4},  // 4 + 10*1/10000
				{20000, 4},
				{25000, 2}, // the 4 are now the previous period: 4*5000/10000
				{30000, 0},
				{30001, 0},
			},
		},
		{
			name:   "event exactly one period later rotates",
			period: 10000,
			events: []ev{{0, 10}, {10000, 3}},
			probes: []probe{{10000, 13}, {10001, 12}, {15000, 8}, {20000, 3}, {20001, 2}},
		},
		{
			name:   "two periods without events restart the period",
			period: 10000,
			events: []ev{{0, 10}, {25000, 3}},
			probes: []probe{{25000, 3}, {30000, 3}, {35000, 3}, {35001, 2}},
		},
		{
			name:   "exactly two periods later restarts too",
			period: 10000,
			events: []ev{{0, 10}, {20000, 3}},
			probes: []probe{{20000, 3}, {29999, 3}, {30000, 3}, {30001, 2}},
		},
		{
			name:   "odd period keeps even period starts",
			period: 1001,
			events: []ev{{0, 5}, {1500, 1}}, // second period starts at 1000, not 1001
			probes: []probe{{1500, 3}, {2000, 1}, {2001, 1}, {2002, 1}, {3002, 1}, {3003, 0}},
		},
		{
			name:   "odd first event",
			period: 10000,
			events: []ev{{1, 7}},
			probes: []probe{{1, 7}, {10000, 7}, {10001, 6}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f freqCtr
			for _, e := range tt.events {
				f.add(tt.period, uint32(t0+e.at), e.inc)
			}
			for _, p := range tt.probes {
				if got := f.read(tt.period, uint32(t0+p.at)); got != p.want {
					t.Errorf("read at %+dms = %d, want %d", p.at, got, p.want)
				}
				if ref := refRead(refWindows(tt.events, int64(tt.period)), int64(tt.period), p.at); ref != p.want {
					t.Errorf("reference at %+dms = %d, want %d (test table is wrong)", p.at, ref, p.want)
				}
			}
		})
	}
}

// The reference model below is written from HAProxy's description rather
// than from freqCtr: it replays the events into a list of windows (a window
// opens at the first event, the next one opens one period later, rounded
// down to an even tick, when an event arrives within two periods, and at the
// event itself otherwise) and sums each window's events; a read weighs the
// window before the last one by the part of the period still to come. Time
// is absolute int64 milliseconds, so it does not share freqCtr's 32-bit
// wrapping arithmetic.

type refWindow struct {
	start    int64
	sum      uint64
	adjacent bool // opened one period after the previous window
}

func refWindows(events []ev, period int64) []refWindow {
	var ws []refWindow
	for _, e := range events {
		if len(ws) == 0 {
			ws = append(ws, refWindow{start: e.at &^ 1, sum: uint64(e.inc)})
			continue
		}
		last := &ws[len(ws)-1]
		switch d := e.at - last.start; {
		case d < period:
			last.sum += uint64(e.inc)
		case d < 2*period:
			ws = append(ws, refWindow{start: (last.start + period) &^ 1, sum: uint64(e.inc), adjacent: true})
		default:
			ws = append(ws, refWindow{start: e.at &^ 1, sum: uint64(e.inc)})
		}
	}
	return ws
}

func refRead(ws []refWindow, period, at int64) uint64 {
	if len(ws) == 0 {
		return 0
	}
	last := ws[len(ws)-1]
	var prev uint64
	if last.adjacent {
		prev = ws[len(ws)-2].sum
	}
	var cur, past uint64
	var left int64
	switch el := at - last.start; {
	case el <= period:
		cur, past, left = last.sum, prev, period-el
	case el <= 2*period:
		cur, past, left = 0, last.sum, 2*period-el
	default:
		return 0
	}
	if cur == 0 && past <= 1 {
		return past
	}
	return cur + past*uint64(left)/uint64(period)
}

// TestFreqCtr_Reference compares freqCtr with the reference model on random
// event sequences, reading at every boundary of every window and around it.
func TestFreqCtr_Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, period := range []int64{1, 2, 3, 1000, 1001, 10000, 60000} {
		for round := range 200 {
			var events []ev
			at := rng.Int64N(3)
			for range 1 + rng.IntN(12) {
				events = append(events, ev{at: at, inc: uint32(1 + rng.IntN(3))})
				// gaps of less than one, one to two, and more periods
				switch rng.IntN(4) {
				case 0:
					at += rng.Int64N(period)
				case 1:
					at += period + rng.Int64N(period)
				case 2:
					at += 2*period + rng.Int64N(3*period)
				default:
					at += rng.Int64N(3)
				}
			}
			var f freqCtr
			for i, e := range events {
				f.add(uint32(period), uint32(t0+e.at), e.inc)
				ws := refWindows(events[:i+1], period)
				last := ws[len(ws)-1]
				var probes []int64
				for _, b := range []int64{last.start, last.start + period, last.start + 2*period} {
					probes = append(probes, b-1, b, b+1)
				}
				probes = append(probes, e.at, e.at+rng.Int64N(3*period+1))
				next := int64(1 << 62)
				if i+1 < len(events) {
					next = events[i+1].at
				}
				for _, p := range probes {
					if p < e.at || p > next {
						continue // only read between this event and the next
					}
					got := f.read(uint32(period), uint32(t0+p))
					if want := refRead(ws, period, p); got != want {
						t.Fatalf("period %d round %d: events %v: read at %d = %d, reference %d", period, round, events[:i+1], p, got, want)
					}
				}
			}
		}
	}
}

// TestFreqCtr_Wrap checks that periods spanning the 32-bit tick wrap read as
// if the clock did not wrap.
func TestFreqCtr_Wrap(t *testing.T) {
	base := int64(7)<<32 - 4000 // 4s before a wrap of the 32-bit tick
	events := []ev{{0, 6}, {3000, 2}, {5000, 4}, {16000, 1}}
	const period = 10000
	var f freqCtr
	for _, e := range events {
		f.add(period, uint32(base+e.at), e.inc)
	}
	ws := refWindows(events, period)
	for p := int64(16000); p < 40000; p += 250 {
		if got, want := f.read(period, uint32(base+p)), refRead(ws, period, p); got != want {
			t.Fatalf("read at %d = %d, reference %d", p, got, want)
		}
	}
}

// TestFreqCtr_Set checks the runtime API's "set table ... data.<rate> v":
// v for the period starting now, then fading out.
func TestFreqCtr_Set(t *testing.T) {
	var f freqCtr
	f.add(10000, uint32(t0), 50)
	f.set(uint32(t0+3001), 20) // starts at the even tick 3000
	for _, p := range []probe{{3001, 20}, {13000, 20}, {13001, 19}, {18000, 10}, {23000, 0}} {
		if got := f.read(10000, uint32(t0+p.at)); got != p.want {
			t.Errorf("read at %d = %d, want %d", p.at, got, p.want)
		}
	}
}

// TestFreqCtr_Concurrent adds from many goroutines across rotations: no
// event is lost within a period, and the race detector sees only atomics.
func TestFreqCtr_Concurrent(t *testing.T) {
	var f freqCtr
	const workers, per = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// all within one period, after a rotation at the start
				f.add(1000, uint32(t0+int64(10000+i%500+w)), 1)
				_ = f.read(1000, uint32(t0+10500))
			}
		}()
	}
	wg.Wait()
	if got := f.read(1000, uint32(t0+10000)); got != workers*per {
		t.Fatalf("read %d, want %d", got, workers*per)
	}
}

// TestEntry_RateMatchesFreqCtr checks the table path with the same events.
func TestEntry_RateMatchesFreqCtr(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "r", Key: KeyIP, Size: 10, Store: mustStores(t, "http_req_rate(10s),http_req_cnt")})
	var s Slots
	s.Track(0, tbl, ipKey("10.0.0.1"), at(0))
	v := View{Session: &s}
	events := []ev{{0, 1}, {100, 1}, {9000, 1}, {12000, 1}, {12500, 1}}
	for _, e := range events {
		v.CountHTTPReq(at(e.at))
	}
	_, e, _, _ := v.Entry(0)
	ws := refWindows(events, 10000)
	for p := int64(12500); p < 32000; p += 500 {
		got, ok := e.Get(DataHTTPReqRate, 0, at(p))
		if !ok || uint64(got) != refRead(ws, 10000, p) {
			t.Fatalf("http_req_rate at %d = %d, reference %d", p, got, refRead(ws, 10000, p))
		}
	}
	if n, _ := e.Get(DataHTTPReqCnt, 0, at(0)); n != 5 {
		t.Fatalf("http_req_cnt = %d, want 5", n)
	}
	s.Release(at(40000))
}

// at returns t0 + ms as a time.
func at(ms int64) time.Time { return time.UnixMilli(t0 + ms) }
