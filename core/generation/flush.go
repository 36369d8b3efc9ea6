package generation

import (
	"context"
	"sync"
	"time"
)

// Flushes tracks the telemetry flushes under way. Safe for concurrent
// use.
type Flushes struct {
	mu      sync.Mutex
	pending map[*flush]struct{} // guarded by mu
}

type flush struct{ done chan struct{} }

// flushTimeout bounds one flush while the proxy runs: how long an
// exporter may try to deliver what it holds.
const flushTimeout = 10 * time.Second

// stopFlushMin is how long Shutdown waits for flushes when its grace
// period is already over (streams were cut): long enough for a reachable
// collector to take the last batch, short enough not to hold the stop.
const stopFlushMin = time.Second

// Start runs f in the background with at most flushTimeout to finish.
func (fs *Flushes) Start(f func(context.Context)) {
	fl := &flush{done: make(chan struct{})}
	fs.mu.Lock()
	if fs.pending == nil {
		fs.pending = map[*flush]struct{}{}
	}
	fs.pending[fl] = struct{}{}
	fs.mu.Unlock()
	go func() {
		defer func() {
			fs.mu.Lock()
			delete(fs.pending, fl)
			fs.mu.Unlock()
			close(fl.done)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		f(ctx)
	}()
}

// Wait waits for the flushes under way until deadline, and reports
// whether they all finished.
func (fs *Flushes) Wait(deadline time.Time) bool {
	fs.mu.Lock()
	var dones []chan struct{}
	for fl := range fs.pending {
		dones = append(dones, fl.done)
	}
	fs.mu.Unlock()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for _, d := range dones {
		select {
		case <-d:
		case <-timer.C:
			return false
		}
	}
	return true
}

// StopFlushDeadline is how long Shutdown(ctx) waits for the flushes: the
// rest of its grace period, and at least stopFlushMin.
func StopFlushDeadline(ctx context.Context) time.Time {
	min := time.Now().Add(stopFlushMin)
	if d, ok := ctx.Deadline(); ok && d.After(min) {
		return d
	}
	return min
}
