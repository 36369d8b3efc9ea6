package proxy

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/strata-proxy/strata/core/admin"
)

// Connection limits: global.maxconn for the process, frontends.*.maxconn
// for a frontend. They work as HAProxy's do: an accept loop calls accept
// only while the process and its frontend are below their limits
// (waitSlots); at either limit it stops accepting, so new connections
// wait in the kernel's listen backlog (beyond it, in the clients' SYN
// retries) rather than being accepted and closed, and it resumes as soon
// as a connection ends. A slot is held from accept to close, whatever the connection does
// (TLS handshake, idle keep-alive, tunnel), since each costs a descriptor.
//
// The admin API has its own listener and limit (admin.MaxConns) and is not
// counted here, so it answers while the proxy is at its limit.

const (
	// maxConnCap bounds the maxconn derived from the descriptor limit:
	// idle connections cost memory too, and a process allowed a million
	// descriptors is not thereby meant for half a million clients.
	maxConnCap = 100000
	// fdReserve is what a derived maxconn leaves, besides the admin API's
	// connections, for listeners, log files, plugin files, health checks,
	// resolvers, exporters and the runtime.
	fdReserve = 64
)

// DerivedMaxConn is the maxconn used when global.maxconn is not set, from
// the soft limit on open files (Go raises it to the hard limit at start):
// each proxied connection needs two descriptors, one to the client and one
// to a server, as in HAProxy's computation from ulimit -n; admin.MaxConns
// and fdReserve are kept aside; the result is at least 1 and at most
// maxConnCap, which is also the value when the limit is unknown (0).
func DerivedMaxConn(nofile uint64) int {
	if nofile == 0 {
		return maxConnCap
	}
	keep := uint64(admin.MaxConns + fdReserve)
	if nofile <= keep+2 {
		return 1
	}
	return int(min((nofile-keep)/2, maxConnCap))
}

// fileLimit returns the soft limit on open files, 0 when unknown.
func fileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}

// connSlots counts the connections that hold a slot of one limit. The
// process has one; a frontend has one, which a reload hands from a
// frontend to its successor of the same name (inheritSlots), so that
// connections of both count against the one limit.
type connSlots struct {
	cur     atomic.Int64 // connections holding a slot
	reached atomic.Int64 // times an accept loop stopped at the limit
}

// take takes a slot when fewer than limit are held; limit 0 means none.
func (s *connSlots) take(limit int64) bool {
	if limit <= 0 {
		s.cur.Add(1)
		return true
	}
	for {
		c := s.cur.Load()
		if c >= limit {
			return false
		}
		if s.cur.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// acceptGate wakes the accept loops that wait for room. A loop arms it
// before it looks again, so a slot freed between the look and the wait
// still wakes it; a release costs one atomic load when no loop waits.
type acceptGate struct {
	waiting atomic.Int32
	mu      sync.Mutex
	wake    chan struct{} // closed to wake the loops waiting now; guarded by mu
}

func (g *acceptGate) arm() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting.Add(1)
	if g.wake == nil {
		g.wake = make(chan struct{})
	}
	return g.wake
}

func (g *acceptGate) disarm() { g.waiting.Add(-1) }

// open wakes every waiting loop: a slot was freed or a limit changed.
func (g *acceptGate) open() {
	if g.waiting.Load() == 0 {
		return
	}
	g.mu.Lock()
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
	g.mu.Unlock()
}

// applyMaxConn sets the process limit from g: global.maxconn, or the
// derived value when it is not set. A lower limit closes nothing; the
// accept loops wait until the count falls below it.
func (p *Proxy) applyMaxConn(g *Generation) {
	nofile := fileLimit()
	n, how := g.Config.Global.MaxConn, "global.maxconn"
	if n == 0 {
		n, how = DerivedMaxConn(nofile), "derived from the open-file limit"
	} else if need := uint64(2*n + admin.MaxConns + fdReserve); nofile > 0 && need > nofile {
		// HAProxy warns likewise: past the descriptor limit, accept fails
		// with EMFILE instead of waiting at maxconn.
		p.log.Warn("global.maxconn is above what the open-file limit allows",
			"maxconn", n, "open_file_limit", nofile, "descriptors_needed", need)
	}
	if old := p.maxConn.Swap(int64(n)); old != int64(n) {
		p.log.Info("maxconn", "value", n, "source", how, "open_file_limit", nofile)
	}
	p.gate.open()
}

// waitSlots waits while l may not accept, or, with fe, while a
// connection of fe already accepted may not take its slots; it returns
// false when l is closed meanwhile.
//
// An accept loop waits for room (fe nil) before it calls accept, then
// takes the slots (fe set), which succeeds at once unless loops of other
// listeners filled the limit while this one was blocked in accept: room
// is looked at, not reserved, because a loop that reserved a slot would
// hold it while accept blocks, and every idle listener would lower the
// limit by one. So a listener holds at most one accepted connection
// unserved, and the connections served never exceed the limits.
func (p *Proxy) waitSlots(l *listener, fe *Frontend) bool {
	stopped := false // a stop is counted once, however long it lasts
	for {
		if p.trySlots(l, fe, &stopped) {
			return true
		}
		wake := p.gate.arm()
		ok := p.trySlots(l, fe, &stopped) // again: a slot may have been freed before arm
		if !ok {
			select {
			case <-wake:
			case <-l.done:
			}
		}
		p.gate.disarm()
		if ok {
			return true
		}
		select {
		case <-l.done:
			return false
		default:
		}
	}
}

func (p *Proxy) trySlots(l *listener, fe *Frontend, stopped *bool) bool {
	var full *connSlots
	if fe == nil {
		full = p.fullSlots(l.bind.Load().fe)
	} else {
		full = p.takeSlots(fe)
	}
	if full == nil {
		return true
	}
	if !*stopped {
		*stopped = true
		full.reached.Add(1)
	}
	return false
}

// fullSlots returns the slots (the process's or fe's) whose limit is
// reached, or nil when a connection of fe may be accepted.
func (p *Proxy) fullSlots(fe *Frontend) *connSlots {
	if p.slots.cur.Load() >= p.maxConn.Load() {
		return &p.slots
	}
	if fe.MaxConn > 0 && fe.slots.cur.Load() >= int64(fe.MaxConn) {
		return fe.slots
	}
	return nil
}

// takeSlots takes a slot of the process and one of fe for a connection of
// fe, or returns the slots whose limit is reached.
func (p *Proxy) takeSlots(fe *Frontend) *connSlots {
	if !p.slots.take(p.maxConn.Load()) {
		return &p.slots
	}
	if !fe.slots.take(int64(fe.MaxConn)) {
		p.slots.cur.Add(-1)
		p.gate.open() // another frontend's loop may use it
		return fe.slots
	}
	return nil
}

// releaseSlots gives back the slots of a connection that ends.
func (p *Proxy) releaseSlots(fs *connSlots) {
	fs.cur.Add(-1)
	p.slots.cur.Add(-1)
	p.gate.open() // an accept loop stopped at a limit resumes
}

// inheritSlots hands the connection slots of prev's frontends to g's of the
// same name.
func inheritSlots(prev, g *Generation) {
	for _, fe := range g.Frontends {
		for _, of := range prev.Frontends {
			if of.Name == fe.Name {
				fe.slots = of.slots
				break
			}
		}
	}
}
