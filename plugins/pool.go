package plugins

import (
	"context"
	"sync/atomic"
	"time"
)

// pool holds a plugin's idle instances in slots, one per instance it may
// have: taking one is a scan and an atomic swap, giving it back a
// compare-and-swap; no lock, no allocation. When none is idle and fewer
// than max exist, the caller creates one (grown on demand); at max, it
// waits up to InstanceWait for one to come back (handed over through
// handoff), then fails with ErrBusy. Discarded instances (traps,
// timeouts) are replaced in the background down to min.
type pool struct {
	p     *Plugin
	slots []atomic.Pointer[instance] // idle instances; nil is an empty slot
	// handoff passes instances to callers waiting at max (waiters > 0).
	// Its capacity is max, so a send never blocks; an instance left there
	// by a waiter that gave up is still idle and taken like a slot's.
	handoff chan *instance
	waiters atomic.Int32
	live    atomic.Int32 // instances created and not discarded
	// creating counts background replacements under way: a caller that
	// finds the pool full waits for them up to InitTimeout.
	creating atomic.Int32
	min      int32
	max      int32
	wait     time.Duration
}

func newPool(p *Plugin, min, max int, wait time.Duration) pool {
	return pool{p: p, slots: make([]atomic.Pointer[instance], max), handoff: make(chan *instance, max),
		min: int32(min), max: int32(max), wait: wait}
}

// takeIdle returns an idle instance or nil.
func (pl *pool) takeIdle() *instance {
	if in := pl.takeSlot(); in != nil {
		return in
	}
	select { // a non-blocking receive from an empty channel takes no lock
	case in := <-pl.handoff:
		return in
	default:
		return nil
	}
}

func (pl *pool) takeSlot() *instance {
	for i := range pl.slots {
		if pl.slots[i].Load() != nil {
			if in := pl.slots[i].Swap(nil); in != nil {
				return in
			}
		}
	}
	return nil
}

// idleCount counts the idle instances (for Stats).
func (pl *pool) idleCount() int {
	n := len(pl.handoff)
	for i := range pl.slots {
		if pl.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

func (pl *pool) get(ctx context.Context) (*instance, error) {
	if in := pl.takeIdle(); in != nil {
		return in, nil
	}
	for {
		n := pl.live.Load()
		if n >= pl.max {
			break
		}
		if pl.live.CompareAndSwap(n, n+1) {
			in, err := pl.p.newInstance(ctx)
			if err != nil {
				pl.live.Add(-1)
				return nil, err
			}
			pl.p.stats.created.Add(1)
			return in, nil
		}
	}
	// Registered before looking again, so that a put either sees the
	// waiter (and hands over) or stored before this look (seen here).
	pl.waiters.Add(1)
	defer pl.waiters.Add(-1)
	if in := pl.takeIdle(); in != nil {
		return in, nil
	}
	wait := pl.wait
	if pl.creating.Load() > 0 {
		wait = max(wait, pl.p.cfg.InitTimeout)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case in := <-pl.handoff:
		return in, nil
	case <-t.C:
		return nil, ErrBusy
	}
}

func (pl *pool) put(in *instance) {
	if pl.p.closed.Load() {
		pl.drop(in)
		return
	}
	if pl.waiters.Load() > 0 {
		pl.handoff <- in // never blocks: at most max instances exist
		return
	}
	for i := range pl.slots {
		if pl.slots[i].CompareAndSwap(nil, in) {
			if pl.waiters.Load() > 0 {
				// A caller started waiting after the check above and
				// may have looked at the slots before the store: hand
				// it an idle instance.
				if in := pl.takeSlot(); in != nil {
					pl.handoff <- in
				}
			}
			return
		}
	}
	pl.drop(in) // cannot happen: at most max instances exist
}

// drop closes an instance for good.
func (pl *pool) drop(in *instance) {
	in.close()
	pl.live.Add(-1)
}

// discard drops a dead instance and replaces it when the pool falls below
// min. The replacement runs on its own goroutine so the failing call
// returns at once.
func (pl *pool) discard(in *instance) {
	pl.drop(in)
	if pl.live.Load() < pl.min && !pl.p.closed.Load() {
		go pl.refill()
	}
}

func (pl *pool) refill() {
	for !pl.p.closed.Load() {
		n := pl.live.Load()
		if n >= pl.min {
			return
		}
		if !pl.live.CompareAndSwap(n, n+1) {
			continue
		}
		pl.creating.Add(1)
		in, err := pl.p.newInstance(context.Background())
		pl.creating.Add(-1)
		if err != nil {
			pl.live.Add(-1)
			pl.p.log.Error("plugin instance replacement failed", "err", err)
			return
		}
		pl.p.stats.created.Add(1)
		pl.put(in)
	}
}

// closeIdle closes every idle instance.
func (pl *pool) closeIdle() {
	for in := pl.takeIdle(); in != nil; in = pl.takeIdle() {
		pl.drop(in)
	}
}
