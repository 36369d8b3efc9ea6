package backend

import (
	"sync/atomic"
	"time"
)

// Waiter is a stream's place in a queue. The engine keeps one per stream
// object (they are pooled), so queueing allocates only its timer.
//
// A Waiter is in at most one queue at a time. The dispatcher (any goroutine
// holding the backend's lock) removes it from its queue, sets srv and sends
// one token on ch; the owning stream is the only receiver.
type Waiter struct {
	// Cancel, when it is closed, makes a waiting stream give up
	// (ErrCanceled): the proxy's end of grace period. Set by the owner.
	Cancel <-chan struct{}

	ch chan struct{}

	// Guarded by the backend's lock:
	srv        *Server // the server whose slot was handed over; nil: choose again
	seq        uint64  // arrival order, kept when the stream is redistributed
	q          *waitQueue
	prev, next *Waiter
}

// waitQueue is a FIFO of waiters ordered by arrival (seq). Guarded by the
// backend's lock; n is also read without it for statistics.
type waitQueue struct {
	head, tail *Waiter
	n          atomic.Int64
	max        *atomic.Int64 // highest length, for statistics
}

// insert puts w in arrival order (a redistributed waiter keeps the place it
// had when it first queued, so it usually goes near the head).
func (q *waitQueue) insert(w *Waiter) {
	p := q.tail
	for p != nil && p.seq > w.seq {
		p = p.prev
	}
	w.prev = p
	if p == nil {
		w.next = q.head
		q.head = w
	} else {
		w.next = p.next
		p.next = w
	}
	if w.next == nil {
		q.tail = w
	} else {
		w.next.prev = w
	}
	w.q = q
	n := q.n.Add(1)
	if q.max != nil && n > q.max.Load() {
		q.max.Store(n)
	}
}

// remove takes w out of q.
func (q *waitQueue) remove(w *Waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.q = nil, nil, nil
	q.n.Add(-1)
}

// enqueueLocked puts w at its place in q. It needs b.mu.
func (b *Backend) enqueueLocked(q *waitQueue, w *Waiter) {
	if w.ch == nil {
		w.ch = make(chan struct{}, 1)
	}
	if w.seq == 0 {
		b.seq++
		w.seq = b.seq
	}
	q.insert(w)
	b.queued.Add(1)
}

// handOverLocked removes w from its queue and gives it s (a slot already
// taken for it), or nil to make it choose again. It needs b.mu.
func (b *Backend) handOverLocked(w *Waiter, s *Server) {
	w.q.remove(w)
	b.queued.Add(-1)
	w.srv = s
	w.ch <- struct{}{}
}

// dispatchLocked gives free slots of s to the oldest waiters that may use
// it: those in its own queue (while it is usable for them) and those in the
// backend queue (while the balancer may choose it). It needs b.mu.
func (b *Backend) dispatchLocked(s *Server) {
	for !s.full() {
		var w *Waiter
		if s.queue.head != nil && s.persistUsable() {
			w = s.queue.head
		}
		if bw := b.queue.head; bw != nil && s.inLB && (w == nil || bw.seq < w.seq) {
			w = bw
		}
		if w == nil {
			return
		}
		s.take()
		b.handOverLocked(w, s)
	}
}

// wait blocks a queued stream until it gets a slot, is redistributed (and
// chooses again), times out or is canceled.
func (b *Backend) wait(k *Key, w *Waiter, avoid *Server) (*Server, error) {
	t := time.NewTimer(b.Timeouts.Queue)
	defer t.Stop()
	for {
		var err error
		select {
		case <-w.ch:
		case <-t.C:
			err = ErrQueueTimeout
		case <-w.Cancel:
			err = ErrCanceled
		}
		if err != nil {
			b.mu.Lock()
			if w.q != nil {
				w.q.remove(w)
				b.queued.Add(-1)
				b.mu.Unlock()
				b.cur.Add(-1)
				w.seq = 0
				return nil, err
			}
			// A dispatcher got there first: its token is on the way.
			b.mu.Unlock()
			<-w.ch
		}
		s := w.srv
		w.srv = nil
		if s != nil {
			w.seq = 0
			return s, nil
		}
		// Redistributed: the server it waited for went away.
		b.mu.Lock()
		s, err = b.assignLocked(k, w, avoid)
		b.mu.Unlock()
		if err != nil {
			b.cur.Add(-1)
			w.seq = 0
			return nil, err
		}
		if s != nil {
			w.seq = 0
			return s, nil
		}
	}
}
