// Package backend holds the run-time state of backends and their servers:
// server selection, the per-server pool of idle keep-alive connections and
// the per-server counters. It knows nothing of sessions or rules; the engine
// asks it for a server and a connection.
//
// Concurrency: a Backend and its Servers are shared by every connection
// goroutine. Selection state is guarded by Backend.mu; each Server's idle
// pool by its own mutex; counters are atomic.
package backend

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/core/transport"
)

// State is an operator-visible server state.
type State int32

const (
	StateReady State = iota // takes new streams
	StateDrain              // takes no new streams, keeps persistent sessions
	StateMaint              // takes nothing
	StateDown               // health checks say down
)

func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateDrain:
		return "drain"
	case StateMaint:
		return "maint"
	case StateDown:
		return "down"
	}
	return "unknown"
}

// Timeouts of a backend.
type Timeouts struct {
	Connect       time.Duration
	Server        time.Duration // inactivity while waiting for or reading the response
	Tunnel        time.Duration // inactivity in a tunnel (WebSocket, TCP mode)
	Queue         time.Duration
	HTTPKeepAlive time.Duration // how long an idle pooled server connection is kept
}

// Server is one server of a backend.
type Server struct {
	// Immutable after construction:
	Name    string
	Addr    string
	Weight  int
	MaxConn int
	Backup  bool
	Index   int

	state atomic.Int32

	// Cur counts the streams using the server now.
	Cur atomic.Int64

	Stats stats.Counters

	mu   sync.Mutex
	idle []*ServerConn // LIFO: the most recently used connection is reused first

	timeouts *Timeouts
}

// State returns the server's operator state.
func (s *Server) State() State { return State(s.state.Load()) }

// SetState changes the server's operator state.
func (s *Server) SetState(st State) { s.state.Store(int32(st)) }

// Usable reports whether the server may take a new stream.
func (s *Server) Usable() bool { return s.State() == StateReady }

// ServerConn is a connection to a server. Its read buffer is pooled like a
// client connection's.
type ServerConn struct {
	*transport.Conn
	Srv    *Server
	Buf    transport.Buffer
	Reused bool      // taken from the idle pool
	idleAt time.Time // when it was put back
}

// MaxIdlePerServer bounds the idle pool of one server.
const MaxIdlePerServer = 1024

// Get returns an idle pooled connection to s, or nil. Connections idle for
// longer than the keep-alive timeout are closed on the way.
func (s *Server) Get(now time.Time) *ServerConn {
	s.mu.Lock()
	for n := len(s.idle); n > 0; n = len(s.idle) {
		c := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		if ka := s.timeouts.HTTPKeepAlive; ka > 0 && now.Sub(c.idleAt) > ka {
			s.mu.Unlock()
			c.Close()
			s.mu.Lock()
			continue
		}
		s.mu.Unlock()
		c.Reused = true
		return c
	}
	s.mu.Unlock()
	return nil
}

// Put returns c to the idle pool for reuse, or closes it when the pool is
// full or the server no longer takes streams.
func (s *Server) Put(c *ServerConn, now time.Time) {
	c.Buf.Release()
	if c.Buf.Held() || s.State() == StateMaint {
		c.Close()
		return
	}
	c.idleAt = now
	s.mu.Lock()
	if len(s.idle) >= MaxIdlePerServer {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.idle = append(s.idle, c)
	s.mu.Unlock()
}

// CloseIdle closes every pooled connection (shutdown, reload).
func (s *Server) CloseIdle() {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
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

// Backend is the run-time state of one backend.
type Backend struct {
	// Immutable after construction:
	Name     string
	HTTP     bool
	Timeouts Timeouts
	Servers  []*Server

	Stats stats.Counters

	mu  sync.Mutex
	bal Balancer
}

// Balancer chooses a server among the usable ones.
type Balancer interface {
	// Pick returns the next server, or nil when none is usable. It is
	// called with the backend's lock held.
	PickLocked(b *Backend, key uint64) *Server
}

// ServerSpec describes a server to New.
type ServerSpec struct {
	Name    string
	Addr    string
	Weight  int
	MaxConn int
	Backup  bool
}

// New builds a backend with round-robin selection.
func New(name string, http bool, t Timeouts, servers []ServerSpec) *Backend {
	b := &Backend{Name: name, HTTP: http, Timeouts: t}
	for i, ss := range servers {
		w := ss.Weight
		if w <= 0 {
			w = 1
		}
		b.Servers = append(b.Servers, &Server{
			Name: ss.Name, Addr: ss.Addr, Weight: w, MaxConn: ss.MaxConn,
			Backup: ss.Backup, Index: i, timeouts: &b.Timeouts,
		})
	}
	b.bal = &roundRobin{}
	return b
}

// ErrNoServer is returned when no server of the backend can take a stream.
var ErrNoServer = errors.New("no server available")

// Pick chooses a server for a new stream.
func (b *Backend) Pick(key uint64) (*Server, error) {
	b.mu.Lock()
	s := b.bal.PickLocked(b, key)
	b.mu.Unlock()
	if s == nil {
		return nil, ErrNoServer
	}
	return s, nil
}

// Server returns the server called name.
func (b *Backend) Server(name string) *Server {
	for _, s := range b.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Close closes the idle connections of every server.
func (b *Backend) Close() {
	for _, s := range b.Servers {
		s.CloseIdle()
	}
}

// roundRobin is smooth weighted round-robin (the nginx algorithm): with
// weights 10 and 5 the servers interleave rather than burst. Backup servers
// are used only when no active server is usable.
type roundRobin struct {
	current []int
}

func (r *roundRobin) PickLocked(b *Backend, _ uint64) *Server {
	if len(r.current) != len(b.Servers) {
		r.current = make([]int, len(b.Servers))
	}
	if s := r.pick(b, false); s != nil {
		return s
	}
	return r.pick(b, true)
}

func (r *roundRobin) pick(b *Backend, backup bool) *Server {
	total := 0
	best := -1
	for i, s := range b.Servers {
		if s.Backup != backup || !s.Usable() {
			continue
		}
		r.current[i] += s.Weight
		total += s.Weight
		if best < 0 || r.current[i] > r.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	r.current[best] -= total
	return b.Servers[best]
}
