package plugins

import (
	"context"
	"sync/atomic"
	"time"
)

// pool holds a plugin's idle instances. Taking an idle instance and giving
// it back are a channel receive and send: no lock, no allocation. When none
// is idle and fewer than max exist, the caller creates one (grown on
// demand); at max, it waits up to InstanceWait for one to come back, then
// fails with ErrBusy. Discarded instances (traps, timeouts) are replaced in
// the background down to min.
type pool struct {
	p    *Plugin
	idle chan *instance
	live atomic.Int32 // instances created and not discarded
	// creating counts background replacements under way: a caller that
	// finds the pool full waits for them up to InitTimeout.
	creating atomic.Int32
	min      int32
	max      int32
	wait     time.Duration
}

func (pl *pool) get(ctx context.Context) (*instance, error) {
	select {
	case in := <-pl.idle:
		return in, nil
	default:
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
	wait := pl.wait
	if pl.creating.Load() > 0 {
		wait = max(wait, pl.p.cfg.InitTimeout)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case in := <-pl.idle:
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
	select {
	case pl.idle <- in:
	default: // cannot happen: at most max instances exist
		pl.drop(in)
	}
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
	for {
		select {
		case in := <-pl.idle:
			pl.drop(in)
		default:
			return
		}
	}
}
