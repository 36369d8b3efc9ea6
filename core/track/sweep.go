package track

import (
	"sync"
	"time"
)

// Sweeper removes expired entries from an engine's tables in the
// background: HAProxy's expiry task. One goroutine ticks at an eighth of
// the shortest expiry (between 10ms and 1s), so an idle entry goes at most
// that late; lookups remove the expired entries they meet in the meantime,
// so no value is ever read from one.
type Sweeper struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartSweeper starts the sweeper of e's tables. It returns nil when no
// table expires its entries. Stop ends it.
func (e *Engine) StartSweeper() *Sweeper {
	var shortest time.Duration
	for _, t := range e.list {
		if x := t.Def().Expire; x > 0 && (shortest == 0 || x < shortest) {
			shortest = x
		}
	}
	if shortest == 0 {
		return nil
	}
	every := min(max(shortest/8, 10*time.Millisecond), time.Second)
	s := &Sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				e.Sweep()
			}
		}
	}()
	return s
}

// Sweep removes the expired idle entries of every table now.
func (e *Engine) Sweep() {
	now := e.now()
	for _, t := range e.list {
		t.Sweep(now)
	}
}

// Stop stops the sweeper and waits for it. It may be called more than
// once, and on a nil Sweeper.
func (s *Sweeper) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
