package park

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// Watcher holds parked connections on one epoll instance.
type Watcher struct {
	// Immutable after New:
	epfd int
	file *os.File        // epfd, waited for through the Go netpoller
	rc   syscall.RawConn // file's, for the wait loop

	mu sync.Mutex
	// Guarded by mu:
	slots  []*Slot   // parked slots by token (the epoll event's Fd); nil when free
	gens   []int32   // each token's use count (the event's Pad): stale events are ignored
	free   []int32   // tokens not in use
	heap   []*Slot   // parked slots with a deadline, earliest first
	armed  time.Time // the deadline currently set on file
	closed bool

	done chan struct{} // closed when the wait loop has returned
}

// Slot is a connection's place on a Watcher. The zero value is ready for
// use; keep it with the connection and reuse it for every park. Its fields
// are guarded by the Watcher's mutex.
type Slot struct {
	parked   bool
	rc       syscall.RawConn
	wake     func(error)
	deadline time.Time
	token    int32
	hidx     int // index in the Watcher's heap, -1 when not there
}

// New starts a Watcher: an epoll instance and the goroutine that waits
// on it.
func New() (*Watcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor makes os.NewFile register it with the
	// netpoller: an epoll instance is readable when it has events.
	f := os.NewFile(uintptr(epfd), "park-epoll")
	rc, err := f.SyscallConn()
	if err == nil {
		// Deadlines work only on a descriptor the netpoller took.
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Watcher{epfd: epfd, file: f, rc: rc, done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// Park registers the connection whose descriptor rc gives and returns: the
// caller's goroutine no longer owns the connection. wake is called once, in
// a new goroutine, with nil when the descriptor is readable (bytes, end of
// stream or error: a read tells which), os.ErrDeadlineExceeded when
// deadline (if not zero) passes first, the error given to Wake, or
// ErrClosed when the Watcher closes. On error nothing is parked and wake
// is never called.
//
// rc must not have unread bytes buffered above the descriptor that a
// read would return without the socket becoming readable (see package
// transport's Quiet).
func (w *Watcher) Park(s *Slot, rc syscall.RawConn, deadline time.Time, wake func(error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if s.parked {
		return errors.New("park: slot already parked")
	}
	tok := w.takeTokenLocked()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     tok,
		Pad:    w.gens[tok],
	}
	var cerr error
	err := rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil && cerr != nil {
		err = os.NewSyscallError("epoll_ctl", cerr)
	}
	if err != nil {
		w.free = append(w.free, tok)
		return err
	}
	*s = Slot{parked: true, rc: rc, wake: wake, deadline: deadline, token: tok, hidx: -1}
	w.slots[tok] = s
	if !deadline.IsZero() {
		w.heapPushLocked(s)
		w.armLocked()
	}
	return nil
}

// Wake gives the connection of s its goroutine back at once, wake being
// called with err, and reports whether s was parked. Call it before
// closing the descriptor of a connection that may be parked.
func (w *Watcher) Wake(s *Slot, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !s.parked {
		return false
	}
	w.releaseLocked(s, err)
	return true
}

// Close wakes every parked connection with ErrClosed, stops the wait loop
// and closes the epoll instance.
func (w *Watcher) Close() error {
	err := w.shut()
	<-w.done
	return err
}

// shut is Close without waiting for the wait loop to return.
func (w *Watcher) shut() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	for _, s := range w.slots {
		if s != nil {
			w.releaseLocked(s, ErrClosed)
		}
	}
	w.mu.Unlock()
	return w.file.Close() // the wait loop's read fails and it returns
}

// loop waits for events and deadlines until the Watcher closes.
func (w *Watcher) loop() {
	defer close(w.done)
	events := make([]syscall.EpollEvent, 128)
	var n int
	var werr error
	// Bound once: the wait reads the whole ready list before it parks,
	// as the netpoller reports the epoll descriptor edge-triggered.
	wait := func(fd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr == syscall.EINTR {
				continue
			}
			return n > 0 || werr != nil
		}
	}
	for {
		err := w.rc.Read(wait)
		switch {
		case err == nil && werr == nil:
			w.dispatch(events[:n])
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.expire()
		case err == nil:
			// epoll_wait itself failed: nothing parked can be reported
			// any more, so give every connection back.
			w.shut()
			return
		default:
			return // closed
		}
	}
}

// dispatch wakes the connections of events.
func (w *Watcher) dispatch(events []syscall.EpollEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range events {
		tok := ev.Fd
		if tok < 0 || int(tok) >= len(w.slots) || w.gens[tok] != ev.Pad {
			continue // woken otherwise since the event was queued
		}
		if s := w.slots[tok]; s != nil {
			w.releaseLocked(s, nil)
		}
	}
}

// expire wakes the connections whose deadline has passed and arms the
// next one.
func (w *Watcher) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for len(w.heap) > 0 && !w.heap[0].deadline.After(now) {
		w.releaseLocked(w.heap[0], os.ErrDeadlineExceeded)
	}
	w.armLocked()
}

// armLocked sets the epoll descriptor's read deadline to the earliest
// parked deadline, when it changed. After expire, armed still holds the
// deadline that fired, so that an empty heap clears it: a past deadline
// left on the descriptor would fail every wait.
func (w *Watcher) armLocked() {
	var d time.Time
	if len(w.heap) > 0 {
		d = w.heap[0].deadline
	}
	if d.Equal(w.armed) || w.closed {
		return
	}
	w.armed = d
	w.file.SetReadDeadline(d)
}

// releaseLocked unparks s and starts its wake function with err. The
// descriptor leaves the epoll set first, so that the new owner may park it
// again; a descriptor already closed has left it with its last reference.
func (w *Watcher) releaseLocked(s *Slot, err error) {
	s.rc.Control(func(fd uintptr) {
		syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	if s.hidx >= 0 {
		w.heapRemoveLocked(s.hidx)
	}
	tok := s.token
	w.slots[tok] = nil
	w.gens[tok]++
	w.free = append(w.free, tok)
	wake := s.wake
	*s = Slot{hidx: -1}
	go wake(err)
}

// takeTokenLocked returns an unused token.
func (w *Watcher) takeTokenLocked() int32 {
	if n := len(w.free); n > 0 {
		tok := w.free[n-1]
		w.free = w.free[:n-1]
		return tok
	}
	w.slots = append(w.slots, nil)
	w.gens = append(w.gens, 0)
	return int32(len(w.slots) - 1)
}

// The deadline heap: a binary min-heap on Slot.deadline, each slot knowing
// its index.

func (w *Watcher) heapPushLocked(s *Slot) {
	s.hidx = len(w.heap)
	w.heap = append(w.heap, s)
	w.heapUp(s.hidx)
}

func (w *Watcher) heapRemoveLocked(i int) {
	last := len(w.heap) - 1
	w.heap[i].hidx = -1
	if i != last {
		w.heap[i] = w.heap[last]
		w.heap[i].hidx = i
	}
	w.heap[last] = nil
	w.heap = w.heap[:last]
	if i != last {
		w.heapDown(i)
		w.heapUp(i)
	}
}

func (w *Watcher) heapUp(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !w.heap[i].deadline.Before(w.heap[p].deadline) {
			return
		}
		w.heapSwap(i, p)
		i = p
	}
}

func (w *Watcher) heapDown(i int) {
	for {
		l, m := 2*i+1, i
		if l < len(w.heap) && w.heap[l].deadline.Before(w.heap[m].deadline) {
			m = l
		}
		if r := l + 1; r < len(w.heap) && w.heap[r].deadline.Before(w.heap[m].deadline) {
			m = r
		}
		if m == i {
			return
		}
		w.heapSwap(i, m)
		i = m
	}
}

func (w *Watcher) heapSwap(i, j int) {
	w.heap[i], w.heap[j] = w.heap[j], w.heap[i]
	w.heap[i].hidx = i
	w.heap[j].hidx = j
}
