// Package backend holds the run-time state of backends and their servers:
// server selection (the balancing algorithms), connection slots and queues
// (maxconn), health (active and passive checks), operator states, the
// per-server pool of idle keep-alive connections and the per-server
// counters. It knows nothing of sessions or rules; the engine asks it for a
// server and a connection, and tells it how the server behaved.
//
// # A stream's path through a backend
//
//	Acquire ──► server with a free slot ─────────────────────► slot held
//	   │                                                         ▲
//	   ├─► hashed or persistent server, full ─► server queue ────┤
//	   ├─► every candidate full ──────────────► backend queue ───┤
//	   ├─► backend at maxconn ─► ErrBackendFull          (oldest first, as
//	   └─► no usable server ───► ErrNoServer              slots free up)
//
// A queued stream leaves its queue with a slot, with ErrQueueTimeout after
// timeouts.queue, with ErrCanceled, or — when its server goes down or into
// maint and the backend redispatches — to choose again, keeping its place
// in line. Release gives the slot back and hands it to the oldest waiter
// that may use the server. These are HAProxy's semantics: a stream with a
// designated server (persistence, a hash) waits for that server; any other
// stream waits for any server.
//
// # Server states
//
// A server has an operator state (ready, drain, maint; set by the
// configuration and the runtime API, never by checks) and a health (up,
// down; set by active checks after rise/fall results and by passive checks
// after error_limit consecutive errors). The balancer may choose a server
// that is ready, up and has a weight above 0; a stream bound to a server
// (persistence, or waiting in its queue) may keep using it in drain. Backup
// servers are candidates only when no active server is: then the first
// usable backup, in configuration order, takes everything (HAProxy without
// `option allbackups`).
//
// # Where strata departs from HAProxy, and why
//
//   - A backend's maxconn bounds the streams it holds, on its servers and
//     in its queues together; over it a stream gets 503 at once (SQ).
//     HAProxy has no backend maxconn; this keeps a backend's queue bounded
//     without a per-server maxqueue.
//   - Passive checks mark a server down when error_limit is reached (what
//     HAProxy calls `on-error mark-down`; its default is fail-check), so the
//     count means what it says. Without active checks a server taken down
//     this way is probed with TCP checks at HAProxy's default timing until
//     it answers: HAProxy needs `check` for `observe`.
//   - Hashes are FNV-1a with an avalanche step, not HAProxy's sdbm: keys
//     map to different servers than in HAProxy, with the same properties.
//   - A server's first check is spread over the interval by its position,
//     like HAProxy's spread of the first checks, without randomness.
//
// # Concurrency
//
// A Backend and its Servers are shared by every connection goroutine and
// by one health-check goroutine per checked server. Backend.mu guards the
// balancer, the queues and every state, health and weight change (the
// values themselves are atomics, readable anywhere). A server's idle pool
// has its own mutex. Releasing a slot of a server without maxconn, in a
// backend without maxconn, takes no lock.
package backend

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/stats"
)

// Timeouts of a backend.
type Timeouts struct {
	Connect       time.Duration
	Server        time.Duration // inactivity while waiting for or reading the response
	Tunnel        time.Duration // inactivity in a tunnel (WebSocket, TCP mode)
	Queue         time.Duration // longest wait in a queue for a slot
	HTTPKeepAlive time.Duration // how long an idle pooled server connection is kept
}

// ServerSpec describes a server to New.
type ServerSpec struct {
	Name     string
	Addr     string
	Weight   int // 0 to 256; 0 takes no stream from the balancer
	MaxConn  int // 0: no limit
	Backup   bool
	Disabled bool // starts in maint

	// PoolMaxConn bounds the server's idle connections (HAProxy's
	// pool-max-conn); 0: DefaultPoolMaxConn, negative: none are kept.
	PoolMaxConn int
}

// Spec describes a backend to New.
type Spec struct {
	Name     string
	HTTP     bool
	Timeouts Timeouts
	Servers  []ServerSpec
	// Balance is the algorithm as the configuration writes it ("" is
	// roundrobin); HashType is "map-based" (or "") or "consistent".
	Balance  string
	HashType string
	// MaxConn bounds the streams the backend holds at once, on its servers
	// and in its queues; 0: no limit.
	MaxConn    int
	Retries    int  // connection retries after a failed connect
	Redispatch bool // a retry may go to another server
	// Check configures active health checks; nil: none.
	Check *CheckSpec
	// Observe enables passive checks; ErrorLimit consecutive errors mark a
	// server down (default 10).
	Observe    Observe
	ErrorLimit int
	Log        *slog.Logger // nil: discard
}

// Backend is the run-time state of one backend.
type Backend struct {
	// Immutable after New:
	Name       string
	HTTP       bool
	Timeouts   Timeouts
	Servers    []*Server
	Balance    string    // as configured, e.g. "random(3)"
	Algo       Algorithm //
	HashType   string    // "map-based" or "consistent"
	HashHeader string    // hdr(NAME): the header name, lower case
	MaxConn    int
	Retries    int
	Redispatch bool
	Observe    Observe
	ErrorLimit int
	need       Need
	check      *CheckSpec
	log        *slog.Logger

	Stats stats.Counters

	// cur counts the streams holding a slot of one of the servers or
	// waiting in a queue; queued those waiting.
	cur    atomic.Int64
	queued atomic.Int64
	// candidates is len(lb), readable without the lock.
	candidates atomic.Int32
	// Redispatches counts streams that went to another server after a
	// failed connection.
	Redispatches atomic.Int64
	// QueueMax is the highest length of the backend queue.
	QueueMax atomic.Int64

	mu sync.Mutex
	// Guarded by mu:
	bal   balancer
	lb    []*Server // the servers the balancer may choose now
	queue waitQueue // streams waiting for any server
	seq   uint64    // arrival counter of queued streams

	checks checkRunner
	reaper reaper
}

// New builds a backend. It fails on a balance or hash type it does not
// know (the configuration has already refused those).
func New(spec Spec) (*Backend, error) {
	algo, draws, hdr, ok := parseBalance(spec.Balance)
	if !ok {
		return nil, fmt.Errorf("backend %s: unknown balance %q", spec.Name, spec.Balance)
	}
	consistent := false
	switch spec.HashType {
	case "", "map-based":
		spec.HashType = "map-based"
	case "consistent":
		consistent = true
	default:
		return nil, fmt.Errorf("backend %s: unknown hash type %q", spec.Name, spec.HashType)
	}
	b := &Backend{
		Name: spec.Name, HTTP: spec.HTTP, Timeouts: spec.Timeouts,
		Balance: spec.Balance, Algo: algo, HashType: spec.HashType, HashHeader: hdr,
		MaxConn: spec.MaxConn, Retries: spec.Retries, Redispatch: spec.Redispatch,
		Observe: spec.Observe, ErrorLimit: spec.ErrorLimit, check: spec.Check, log: spec.Log,
	}
	if b.Balance == "" {
		b.Balance = "roundrobin"
	}
	if b.ErrorLimit <= 0 {
		b.ErrorLimit = 10
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.Timeouts.Queue <= 0 {
		b.Timeouts.Queue = b.Timeouts.Connect
	}
	switch algo {
	case AlgoSource:
		b.need = NeedSrc
	case AlgoURI:
		b.need = NeedPath
	case AlgoHdr:
		b.need = NeedHeader
	}
	b.queue.max = &b.QueueMax
	for i, ss := range spec.Servers {
		w := min(max(ss.Weight, 0), 256)
		s := &Server{
			Name: ss.Name, Addr: ss.Addr, InitialWeight: w, MaxConn: ss.MaxConn, PoolMaxConn: poolMax(ss.PoolMaxConn),
			Backup: ss.Backup, Index: i, be: b, nameHash: fnv1a([]byte(ss.Name)), timeouts: &b.Timeouts,
		}
		s.weight.Store(int32(w))
		if ss.Disabled {
			s.state.Store(int32(StateMaint))
		}
		s.queue.max = &s.QueueMax
		b.Servers = append(b.Servers, s)
	}
	b.bal = newBalancer(algo, draws, consistent)
	b.mu.Lock()
	b.rebuildLocked()
	b.mu.Unlock()
	return b, nil
}

// Needs says which Key fields the algorithm reads.
func (b *Backend) Needs() Need { return b.need }

// Server returns the server called name, or nil.
func (b *Backend) Server(name string) *Server {
	for _, s := range b.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Candidates returns how many servers the balancer may choose now.
func (b *Backend) Candidates() int { return int(b.candidates.Load()) }

// Deterministic reports whether the algorithm designates a server from the
// stream (source, uri, hdr): such a stream waits for its server when it is
// full, and retries stay on it until the last one.
func (b *Backend) Deterministic() bool {
	switch b.Algo {
	case AlgoSource, AlgoURI, AlgoHdr:
		return true
	}
	return false
}

// Cur returns the streams the backend holds now, on servers or queued.
func (b *Backend) Cur() int64 { return b.cur.Load() }

// QueueLen returns the length of the backend queue.
func (b *Backend) QueueLen() int64 { return b.queue.n.Load() }

// Queued returns the streams waiting in any queue of the backend.
func (b *Backend) Queued() int64 { return b.queued.Load() }

// Acquire chooses a server for a new stream and takes one of its slots,
// waiting in a queue when the servers are full (at most timeouts.queue).
// avoid, when not nil, is a server that just failed: another one is chosen
// when one can take the stream. w is the stream's reusable queue place.
//
// Errors: ErrNoServer (no usable server), ErrBackendFull (backend
// maxconn), ErrQueueTimeout, ErrCanceled. After a nil error the caller
// owns a slot of the server and must give it back with Release.
func (b *Backend) Acquire(k *Key, w *Waiter, avoid *Server) (*Server, error) {
	b.mu.Lock()
	if b.MaxConn > 0 && b.cur.Load() >= int64(b.MaxConn) {
		b.mu.Unlock()
		return nil, ErrBackendFull
	}
	b.cur.Add(1)
	s, err := b.assignLocked(k, w, avoid)
	b.mu.Unlock()
	if err != nil {
		b.cur.Add(-1)
		return nil, err
	}
	if s != nil {
		return s, nil
	}
	return b.wait(k, w, avoid)
}

// assignLocked takes a slot for k, or queues w (nil, nil). It needs b.mu.
func (b *Backend) assignLocked(k *Key, w *Waiter, avoid *Server) (*Server, error) {
	var s *Server
	assigned := false
	if p := k.Server; p != nil && p.persistUsable() {
		s, assigned = p, true
	} else {
		s, assigned = b.bal.pick(b, k, avoid)
	}
	if s == nil {
		if len(b.lb) == 0 {
			return nil, ErrNoServer
		}
		b.enqueueLocked(&b.queue, w)
		return nil, nil
	}
	if s.full() || (assigned && s.queue.head != nil) {
		b.enqueueLocked(&s.queue, w)
		return nil, nil
	}
	s.take()
	return s, nil
}

// Release gives back the slot a stream held on s and hands it to the
// oldest stream waiting for it.
func (b *Backend) Release(s *Server) {
	if s.MaxConn == 0 && b.MaxConn == 0 {
		// No queue can wait for this server (it is never full) nor for
		// this backend (it has no admission limit): no lock.
		s.Cur.Add(-1)
		b.cur.Add(-1)
		return
	}
	b.mu.Lock()
	s.Cur.Add(-1)
	b.cur.Add(-1)
	b.dispatchLocked(s)
	b.mu.Unlock()
}

// rebuildLocked recomputes the servers the balancer may choose. It needs
// b.mu.
func (b *Backend) rebuildLocked() {
	b.lb = b.lb[:0]
	for _, s := range b.Servers {
		s.inLB = false
		if !s.Backup && s.lbUsable() {
			b.lb = append(b.lb, s)
		}
	}
	if len(b.lb) == 0 {
		for _, s := range b.Servers {
			if s.Backup && s.lbUsable() {
				b.lb = append(b.lb, s)
				break
			}
		}
	}
	for _, s := range b.lb {
		s.inLB = true
	}
	b.candidates.Store(int32(len(b.lb)))
	b.bal.rebuild(b.lb)
}

// changedLocked applies a change of state, health or weight: the
// balancer's candidates are recomputed, the queue of a server that can no
// longer serve it is redistributed (when the backend redispatches) and
// free slots are handed to waiting streams. It needs b.mu.
func (b *Backend) changedLocked() {
	b.rebuildLocked()
	if b.Redispatch {
		for _, s := range b.Servers {
			if s.persistUsable() {
				continue
			}
			for s.queue.head != nil {
				b.handOverLocked(s.queue.head, nil)
			}
		}
	}
	for _, s := range b.Servers {
		b.dispatchLocked(s)
	}
}

// SetState changes the operator state of s. The next stream sees it;
// streams in progress finish.
func (b *Backend) SetState(s *Server, st State) {
	b.mu.Lock()
	old := s.State()
	s.state.Store(int32(st))
	if old != st {
		b.changedLocked()
	}
	b.mu.Unlock()
	if old != st {
		b.log.Info("server state changed", "backend", b.Name, "server", s.Name, "from", old.String(), "to", st.String())
	}
	if st == StateMaint {
		s.CloseIdle()
	}
}

// StaticWeights reports whether the algorithm's weights are fixed at
// start: static-rr and map-based hashing accept only 0 and the configured
// weight at run time, as in HAProxy.
func (b *Backend) StaticWeights() bool {
	switch b.Algo {
	case AlgoStaticRR:
		return true
	case AlgoSource, AlgoURI, AlgoHdr:
		return b.HashType != "consistent"
	}
	return false
}

// SetWeight changes the weight of s (0 to 256). It fails with
// ErrStaticWeight when the algorithm cannot take the new weight.
func (b *Backend) SetWeight(s *Server, w int) error {
	if w < 0 || w > 256 {
		return ErrBadWeight
	}
	if b.StaticWeights() && w != 0 && w != s.InitialWeight {
		return ErrStaticWeight
	}
	b.mu.Lock()
	old := s.Weight()
	s.weight.Store(int32(w))
	if old != w {
		b.changedLocked()
	}
	b.mu.Unlock()
	if old != w {
		b.log.Info("server weight changed", "backend", b.Name, "server", s.Name, "from", old, "to", w)
	}
	return nil
}

// setHealth records what checks say of s. It needs b.mu and reports
// whether the health changed.
func (b *Backend) setHealthLocked(s *Server, h Health) bool {
	if s.Health() == h {
		return false
	}
	s.health.Store(int32(h))
	b.changedLocked()
	return true
}

// Start starts the health checks and the reaping of idle connections.
// Close stops them.
func (b *Backend) Start() {
	b.checks.start(b)
	b.reaper.start(b)
}

// Close stops the health checks and the reaper and closes the idle
// connections of every server. It may be called more than once.
func (b *Backend) Close() {
	b.checks.stop()
	b.reaper.stop()
	// After the reaper: a connection given back from now on is closed at
	// once rather than pooled with nobody left to reap it.
	for _, s := range b.Servers {
		s.shutdown()
	}
}
