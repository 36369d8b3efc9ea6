package backend

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/transport"
)

// State is a server's operator state, set by the configuration
// (`disabled: true` starts in maint) and by the runtime API. Health checks
// never change it: an operator's choice stays until the operator changes it.
type State int32

const (
	StateReady State = iota // takes new streams
	StateDrain              // takes no new streams from the balancer, keeps persistent ones
	StateMaint              // takes nothing
)

func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateDrain:
		return "drain"
	case StateMaint:
		return "maint"
	}
	return "unknown"
}

// ParseState parses "ready", "drain" or "maint".
func ParseState(s string) (State, bool) {
	switch s {
	case "ready":
		return StateReady, true
	case "drain":
		return StateDrain, true
	case "maint":
		return StateMaint, true
	}
	return 0, false
}

// Health is what checks (active or passive) say of a server. A server
// starts up, as in HAProxy: it takes `fall` failed checks to go down.
type Health int32

const (
	HealthUp Health = iota
	HealthDown
)

func (h Health) String() string {
	if h == HealthDown {
		return "down"
	}
	return "up"
}

// Server is one server of a backend.
type Server struct {
	// Immutable after New:
	Name          string
	Addr          string
	InitialWeight int // weight from the configuration
	MaxConn       int // concurrent streams; 0: no limit
	PoolMaxConn   int // idle pooled connections kept at most; 0: none
	Backup        bool
	Index         int // position in the backend, from 0
	be            *Backend
	nameHash      uint64
	timeouts      *Timeouts

	// CheckL4 is how active checks reach the server beyond TCP (a PROXY
	// header, TLS); nil: a plain connection. Set by the engine after New
	// and before Backend.Start, immutable after; read by the server's
	// check goroutine.
	CheckL4 *CheckL4

	// Written under be.mu, read anywhere:
	state  atomic.Int32 // State
	health atomic.Int32 // Health
	weight atomic.Int32 // current weight, 0 to 256

	// Cur counts the streams holding a slot of the server: from the moment
	// the server is chosen until the stream is done with it (a response
	// relayed, a tunnel closed). maxconn bounds it.
	Cur atomic.Int64
	// MaxCur is the highest Cur seen.
	MaxCur atomic.Int64
	// QueueMax is the highest length of the server's queue.
	QueueMax atomic.Int64
	// Retries counts connection attempts to the server that were retried;
	// Redispatches the streams that left it for another server after one.
	Retries, Redispatches atomic.Int64
	// Reaped counts pooled connections the sweep closed because the
	// server had closed them or they had been idle too long.
	Reaped atomic.Int64
	// Reuses counts pooled connections handed out again by Get
	// (HAProxy's connection reuses).
	Reuses atomic.Int64

	Stats stats.Counters

	// Guarded by be.mu:
	queue waitQueue
	inLB  bool // the balancer may choose it now

	check    checkState
	obsFails atomic.Int32 // consecutive errors seen by passive checks

	mu sync.Mutex
	// Guarded by mu:
	idle   []*ServerConn // LIFO: the most recently used connection is reused first
	closed bool          // set by shutdown: Put closes, never pools
}

// State returns the server's operator state.
func (s *Server) State() State { return State(s.state.Load()) }

// Health returns what checks say of the server.
func (s *Server) Health() Health { return Health(s.health.Load()) }

// Weight returns the server's current weight.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// QueueLen returns the number of streams waiting in the server's queue.
func (s *Server) QueueLen() int64 { return s.queue.n.Load() }

// Backend returns the backend the server belongs to.
func (s *Server) Backend() *Backend { return s.be }

// full reports whether every slot of the server is taken.
func (s *Server) full() bool { return s.MaxConn > 0 && s.Cur.Load() >= int64(s.MaxConn) }

// lbUsable reports whether the balancer may choose the server: ready, up
// and with a weight.
func (s *Server) lbUsable() bool {
	return s.State() == StateReady && s.Health() == HealthUp && s.weight.Load() > 0
}

// persistUsable reports whether a stream already bound to the server (a
// persistent one, or one hashed to it and waiting in its queue) may still
// use it: drain keeps those, maint and down do not.
func (s *Server) persistUsable() bool {
	return s.State() != StateMaint && s.Health() == HealthUp
}

// Running reports whether s is neither in maint nor down.
func (s *Server) Running() bool { return s.persistUsable() }

// SetState changes the operator state of s. The next stream sees it.
func (s *Server) SetState(st State) { s.be.SetState(s, st) }

// ServerConn is a connection to a server. Its read buffer is pooled like a
// client connection's.
type ServerConn struct {
	*transport.Conn
	Srv    *Server
	Buf    transport.Buffer
	Reused bool // taken from the idle pool

	// Guarded by Srv.mu:
	idleAt time.Time // when it was put back
	pooled bool      // in the idle pool now
	puts   uint64    // times put back: a sweep tells a later stay in the pool from the one it probed
}

// DefaultPoolMaxConn bounds the idle pool of a server whose
// configuration sets no pool_max_conn.
const DefaultPoolMaxConn = 1024

// Get returns an idle pooled connection to s, or nil. Connections idle for
// longer than the keep-alive timeout, and connections the server closed
// (or wrote to) while they sat in the pool, are closed on the way: a
// request written to one of those would be lost.
func (s *Server) Get(now time.Time) *ServerConn {
	for {
		c, expired := s.pop(now)
		if c == nil {
			return nil
		}
		// c is ours now: the peek runs outside s.mu, so that other
		// streams' Get and Put do not wait for a system call.
		if expired || !c.Idle() {
			c.Close()
			continue
		}
		c.Reused = true
		s.Reuses.Add(1)
		return c
	}
}

// pop takes the most recently pooled connection out of the pool, and
// reports whether it has expired; nil when the pool is empty.
func (s *Server) pop(now time.Time) (*ServerConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil, false
	}
	c := s.idle[n-1]
	s.idle[n-1] = nil
	s.idle = s.idle[:n-1]
	c.pooled = false
	return c, s.expired(c, now)
}

// expired reports whether c has been idle for longer than the keep-alive
// timeout. Called with s.mu held, or by the owner of a connection taken
// from the pool.
func (s *Server) expired(c *ServerConn, now time.Time) bool {
	ka := s.timeouts.HTTPKeepAlive
	return ka > 0 && now.Sub(c.idleAt) > ka
}

// Put returns c to the idle pool for reuse, or closes it when the pool is
// full, the server no longer takes streams or the backend is closed.
//
// The checks run under s.mu, the lock CloseIdle and shutdown empty the
// pool under: a server put in maint or found down stores its new state
// before it empties the pool, and a closed backend marks its servers
// closed while emptying it, so a Put that raced with either sees the
// change, or pooled early enough to be emptied with the rest. A
// connection pooled after the last emptying would hold its descriptor
// with no sweep left to close it.
func (s *Server) Put(c *ServerConn, now time.Time) {
	c.Buf.Release()
	if c.Buf.Held() || !s.push(c, now) {
		c.Close()
	}
}

// push pools c and reports whether it did.
func (s *Server) push(c *ServerConn, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.idle) >= s.PoolMaxConn || s.State() == StateMaint || s.Health() == HealthDown {
		return false
	}
	c.idleAt = now
	c.pooled = true
	c.puts++
	s.idle = append(s.idle, c)
	return true
}

// sweep is a reaper's scratch, kept from one sweep to the next.
type sweep struct {
	probe *transport.Prober
	seen  []seenConn
	dead  []*ServerConn
}

// seenConn is a pooled connection as a sweep found it.
type seenConn struct {
	c       *ServerConn
	puts    uint64 // c.puts when seen
	expired bool
}

func newSweep() *sweep { return &sweep{probe: transport.NewProber()} }

// reapIdle closes the pooled connections that the server has closed or
// that have been idle for longer than the keep-alive timeout, and returns
// how many it closed.
//
// It holds s.mu only to copy the pool and to remove the dead: the peeks,
// a system call per connection, run without it, so that a sweep of a
// large pool does not stall every stream's Get and Put. Meanwhile a Get
// may take a connection the sweep is peeking at (whose peek then sees the
// stream's response, or the stream's close) and even put it back: only a
// connection still in the pool since the sweep copied it is removed.
func (s *Server) reapIdle(now time.Time, w *sweep) int {
	w.seen = w.seen[:0]
	s.mu.Lock()
	for _, c := range s.idle {
		w.seen = append(w.seen, seenConn{c: c, puts: c.puts, expired: s.expired(c, now)})
	}
	s.mu.Unlock()

	dying := w.seen[:0]
	for _, e := range w.seen {
		if e.expired || !w.probe.SocketIdle(e.c.Conn) {
			dying = append(dying, e)
		}
	}
	clear(w.seen[len(dying):])
	if len(dying) == 0 {
		return 0
	}

	w.dead = w.dead[:0]
	s.mu.Lock()
	for _, e := range dying {
		if e.c.pooled && e.c.puts == e.puts {
			e.c.pooled = false // marks it for the filter below
		}
	}
	live := s.idle[:0]
	for _, c := range s.idle {
		if c.pooled {
			live = append(live, c)
		} else {
			w.dead = append(w.dead, c)
		}
	}
	clear(s.idle[len(live):])
	s.idle = live
	s.mu.Unlock()

	clear(dying)
	for i, c := range w.dead {
		c.Close()
		w.dead[i] = nil
	}
	return len(w.dead)
}

// CloseIdle closes every pooled connection (reload, server down or in
// maint, a send_proxy server's connections). The server pools again
// afterwards; shutdown is the final one.
func (s *Server) CloseIdle() { s.closeIdle(false) }

// shutdown closes every pooled connection and makes every later Put close
// its connection instead of pooling it: the backend is closed and its
// sweep stopped.
func (s *Server) shutdown() { s.closeIdle(true) }

func (s *Server) closeIdle(final bool) {
	s.mu.Lock()
	if final {
		s.closed = true
	}
	idle := s.idle
	s.idle = nil
	for _, c := range idle {
		c.pooled = false
	}
	s.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// IdleCount returns the number of pooled connections.
func (s *Server) IdleCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idle)
}

// Dial opens a new connection to s within the connect timeout.
func (s *Server) Dial() (*ServerConn, error) {
	d := net.Dialer{Timeout: s.timeouts.Connect}
	nc, err := d.Dial("tcp", s.Addr)
	if err != nil {
		s.Stats.ConnErrors.Add(1)
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	tc.SetNoDelay(true)
	c, err := transport.NewConn(tc)
	if err != nil {
		tc.Close()
		return nil, err
	}
	c.ReadTimeout = s.timeouts.Server
	c.WriteTimeout = s.timeouts.Server
	s.Stats.Sessions.Add(1)
	return &ServerConn{Conn: c, Srv: s}, nil
}

// take counts a stream that got a slot of s. Called with be.mu held, or
// on the lock-free path of a server without maxconn.
func (s *Server) take() {
	n := s.Cur.Add(1)
	for {
		m := s.MaxCur.Load()
		if n <= m || s.MaxCur.CompareAndSwap(m, n) {
			return
		}
	}
}
