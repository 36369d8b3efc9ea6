package stick

import (
	"runtime"
	"sync/atomic"
)

// freqCtr is HAProxy's freq_ctr (period variant): the events of the current
// period, those of the previous one, and the tick at which the current
// period started. Ticks are milliseconds on 32 bits and wrap, as HAProxy's
// now_ms does; the period start is always even because bit 0 is the
// rotation lock, also as in HAProxy.
//
// HAProxy keeps three 32-bit words. Here the tick and the current count
// share one 64-bit word so that the common update (same period) is a single
// compare-and-swap and a reader always sees a matching (tick, count) pair:
//
//	w[0] = tick<<32 | curr
//	w[1] = prev
//
// All accesses are atomic; no lock is needed.
type freqCtr [2]uint64

const frqLock = 1 << 32 // bit 0 of the tick

// add counts inc events at now. It mirrors update_freq_ctr_period: within
// the period the count grows; otherwise the current count becomes the
// previous one and the period advances by one period, or restarts at now
// when two periods or more went by without an event.
func (f *freqCtr) add(period, now, inc uint32) {
	for {
		w := atomic.LoadUint64(&f[0])
		if w&frqLock != 0 { // a rotation is in progress
			runtime.Gosched()
			continue
		}
		tick, curr := uint32(w>>32), uint32(w)
		// HAProxy compares with a clock that never goes back. A caller's
		// now may lag the one of another goroutine that already started a
		// new period: count the event in the current period rather than
		// rotate (a lag of less than a period; beyond, the 32-bit tick has
		// wrapped).
		if d := now - tick; w != 0 && (d < period || int32(d) < 0 && int32(d) > -int32(period)) {
			if atomic.CompareAndSwapUint64(&f[0], w, uint64(tick)<<32|uint64(curr+inc)) {
				return
			}
			continue
		}
		if !atomic.CompareAndSwapUint64(&f[0], w, w|frqLock) {
			continue
		}
		prev := curr
		tick += period
		if w == 0 || now-tick >= period {
			// missed at least two periods, or never used (HAProxy's
			// zeroed counter gets there too, unless its clock is within
			// two periods of the tick wrap)
			prev = 0
			tick = now
		}
		tick &^= 1
		atomic.StoreUint64(&f[1], uint64(prev))
		atomic.StoreUint64(&f[0], uint64(tick)<<32|uint64(inc))
		return
	}
}

// load returns a consistent (tick, curr, prev).
func (f *freqCtr) load() (tick, curr, prev uint32) {
	for {
		w := atomic.LoadUint64(&f[0])
		if w&frqLock != 0 {
			runtime.Gosched()
			continue
		}
		p := atomic.LoadUint64(&f[1])
		// prev belongs to this period if the tick did not move meanwhile
		// (a rotation stores prev before it stores the new tick).
		if w2 := atomic.LoadUint64(&f[0]); w2>>32 != w>>32 {
			continue
		}
		return uint32(w >> 32), uint32(w), uint32(p)
	}
}

// read returns the event count over one period ending at now, as
// read_freq_ctr_period does: the current count plus the share of the
// previous count that the elapsed part of the current period has not yet
// replaced, in integer arithmetic, with HAProxy's anti-flapping rule (a
// previous count of 0 or 1 alone is returned as is).
func (f *freqCtr) read(period, now uint32) uint64 {
	tick, c, p := f.load()
	return frqValue(tick, c, p, period, now)
}

// frqValue is freq_ctr_total(ctr, period, -1) / period.
func frqValue(tick, c, p, period, now uint32) uint64 {
	curr, past := uint64(c), uint64(p)
	remain := int32(tick + period - now)
	if remain > int32(period) {
		if remain-int32(period) < int32(period) {
			// now lags the period start by less than a period (see
			// add): read at the start
			remain = int32(period)
		} else {
			// the period started more than 2^31ms ago: long over
			return 0
		}
	}
	if remain < 0 {
		// past the current period: report what is left of it as the
		// previous one, or nothing when it is over too
		remain += int32(period)
		if remain >= 0 {
			past = curr
		} else {
			past = 0
		}
		curr = 0
	}
	if curr == 0 && past <= 1 {
		return past
	}
	return (past*uint64(remain) + curr*uint64(period)) / uint64(period)
}

// set stores v as the current count of a period starting at now, with no
// previous count, as HAProxy's "set table ... data.<rate> v" does: the rate
// reads v for a period, then fades out.
func (f *freqCtr) set(now, v uint32) {
	for {
		w := atomic.LoadUint64(&f[0])
		if w&frqLock != 0 {
			runtime.Gosched()
			continue
		}
		if !atomic.CompareAndSwapUint64(&f[0], w, w|frqLock) {
			continue
		}
		atomic.StoreUint64(&f[1], 0)
		atomic.StoreUint64(&f[0], uint64(now&^1)<<32|uint64(v))
		return
	}
}

// current returns the count of the current period (what HAProxy's
// sc_inc_gpc returns when only gpc_rate is stored).
func (f *freqCtr) current() uint32 {
	_, c, _ := f.load()
	return c
}
