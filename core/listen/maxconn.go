package listen

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/strata-proxy/strata/core/admin"
)

// Connection limits: global.maxconn for the process, frontends.*.maxconn
// for a frontend. They work as HAProxy's do: an accept loop calls accept
// only while the process and its frontend are below their limits; at
// either limit it stops accepting, so new connections wait in the
// kernel's listen backlog (beyond it, in the clients' SYN retries) rather
// than being accepted and closed, and it resumes as soon as a connection
// ends. A slot is held from accept to close, whatever the connection does
// (TLS handshake, idle keep-alive, tunnel), since each costs a descriptor.
// This file holds the counters and the wake-up; the accept loop that uses
// them is core/proxy's (maxconn.go, proxy.go).
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

// DescriptorsNeeded is the open-file limit a maxconn of n needs: two
// descriptors a connection, and what DerivedMaxConn keeps aside.
func DescriptorsNeeded(n int) uint64 {
	return uint64(2*n + admin.MaxConns + fdReserve)
}

// FileLimit returns the soft limit on open files, 0 when unknown.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}

// Slots counts the connections that hold a slot of one limit. The
// process has one; a frontend has one, which a reload hands from a
// frontend to its successor of the same name, so that connections of both
// count against the one limit. Both fields are updated atomically from
// any goroutine: accept loops take, connection goroutines release, metrics
// read.
type Slots struct {
	Cur     atomic.Int64 // connections holding a slot
	Reached atomic.Int64 // times an accept loop stopped at the limit
}

// Take takes a slot when fewer than limit are held; limit 0 means none.
func (s *Slots) Take(limit int64) bool {
	if limit <= 0 {
		s.Cur.Add(1)
		return true
	}
	for {
		c := s.Cur.Load()
		if c >= limit {
			return false
		}
		if s.Cur.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// Gate wakes the accept loops that wait for room. A loop arms it before
// it looks again, so a slot freed between the look and the wait still
// wakes it; a release costs one atomic load when no loop waits. The zero
// Gate is ready.
type Gate struct {
	waiting atomic.Int32
	mu      sync.Mutex
	wake    chan struct{} // closed to wake the loops waiting now; guarded by mu
}

// Arm registers a waiting loop and returns the channel that Open closes.
// Every Arm is followed by one Disarm.
func (g *Gate) Arm() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting.Add(1)
	if g.wake == nil {
		g.wake = make(chan struct{})
	}
	return g.wake
}

// Disarm ends the wait Arm began.
func (g *Gate) Disarm() { g.waiting.Add(-1) }

// Open wakes every waiting loop: a slot was freed or a limit changed.
func (g *Gate) Open() {
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
