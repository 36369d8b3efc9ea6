package backend

import (
	"sync"
	"time"
)

// The idle pools of a backend's servers are reaped in the background: a
// connection the server closed while it sat in the pool (the server's own
// keep-alive timeout is shorter than strata's) leaves CLOSE-WAIT within a
// sweep instead of holding a descriptor until the next request pops it,
// and one idle for longer than http_keep_alive is closed even when no
// request comes. Get checks the connection it hands out as well, so a
// request never depends on the sweep having run.
//
// # Why a periodic sweep rather than a poller watching every idle socket?
//
// Watching idle sockets as HAProxy does would close them the instant the
// server does, but Go's poller gives no way to be woken by one socket
// without a goroutine blocked on it, or without registering the socket
// with a second poller on every Put and Get: a cost on every request of
// the keep-alive path. A sweep costs one non-blocking peek per idle
// connection per interval and nothing per request; Get's own peek keeps
// the correctness, the sweep only bounds how long a dead connection
// holds its descriptor.

// reapInterval is the longest time between two sweeps.
const reapInterval = time.Second

// minReapInterval bounds the sweep rate of a very short keep-alive
// timeout.
const minReapInterval = 50 * time.Millisecond

// reaper runs a backend's sweeps.
type reaper struct {
	mu      sync.Mutex
	stopped bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

// poolMax turns a configured pool bound into the bound a server uses.
func poolMax(n int) int {
	switch {
	case n == 0:
		return DefaultPoolMaxConn
	case n < 0:
		return 0
	}
	return n
}

// ReapInterval returns the interval between sweeps of a pool whose
// keep-alive timeout is ka: often enough that an expired connection
// outlives its timeout by at most half of it, or by a second.
func ReapInterval(ka time.Duration) time.Duration {
	d := reapInterval
	if ka > 0 && ka/2 < d {
		d = max(ka/2, minReapInterval)
	}
	return d
}

func (r *reaper) start(b *Backend) {
	if !b.HTTP {
		return // only HTTP streams pool connections
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.quit != nil || r.stopped {
		return
	}
	quit := make(chan struct{})
	r.quit = quit
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		b.reapLoop(quit, ReapInterval(b.Timeouts.HTTPKeepAlive))
	}()
}

func (r *reaper) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.quit != nil {
		close(r.quit)
		r.quit = nil
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// reapLoop sweeps the idle pools of b every interval until quit closes.
func (b *Backend) reapLoop(quit <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	w := newSweep()
	for {
		select {
		case <-quit:
			return
		case now := <-t.C:
			for _, s := range b.Servers {
				s.Reaped.Add(int64(s.reapIdle(now, w)))
			}
		}
	}
}
