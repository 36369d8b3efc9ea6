package stream

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/accesslog"
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
	"github.com/strata-proxy/strata/core/transport/park"
)

var exchangePool = sync.Pool{New: func() any { return &exchange{ttfb: -1} }}

// Process is what a client connection and its streams read of the process
// serving them, and the one call they make back into it (ended). Kept
// apart from Proxy so that serving a connection needs nothing else of the
// Proxy: listeners, reloads and the admin API are not the connection's
// business.
type Process struct {
	Log  *slog.Logger
	Alog *accesslog.Log // nil: no access log

	Gen atomic.Pointer[generation.Generation] // the generation new connections get

	// Slots counts the process's connections against its maxconn; a
	// connection gives its slot back when it ends.
	Slots listen.Slots

	// Idle connections on the watcher now, and parks so far (idle.go).
	Parked, Parks atomic.Int64

	Draining atomic.Bool // graceful stop under way: answers carry Connection: close
	// Kill is closed when the grace period ends: streams still waiting
	// (queue, retry delay) give up and every connection is closed.
	Kill chan struct{}

	// Ended is told when a connection is over, its socket closed: the
	// proxy gives its maxconn slots back and forgets it.
	Ended func(cc *Conn, slots *listen.Slots)
}

// Conn is one client connection and its session.
type Conn struct {
	// Immutable after NewConn (clientAddr: after the PROXY protocol
	// header), except gen, fe and l4, which the connection goroutine
	// changes between two streams when it moves to a newer generation
	// (reload.go); only that goroutine reads them (Kill reads stopL4).
	p          *Process
	gen        *generation.Generation // holds a reference on it (reload.go)
	fe         *generation.Frontend
	c          *transport.Conn
	clientAddr string
	l4         *generation.L4Frontend // TLS, PROXY protocol; nil when the frontend and its servers need none
	slots      *listen.Slots          // the frontend's maxconn slots this connection holds, with one of the process's

	// Owned by the connection goroutine:
	buf  transport.Buffer
	conn session.Conn
	sess session.Session
	// Parking while idle (idle.go): the place on the watcher (guarded by
	// the watcher while parked), and the connection goroutine's plan.
	slot      park.Slot
	parking   bool
	noPark    bool
	parkUntil time.Time

	// stopL4 is l4 for graceful stop's Kill, which runs on another
	// goroutine while the connection may be moving to a newer generation.
	stopL4 atomic.Pointer[generation.L4Frontend]
	// Idle is true while the connection waits for a request; read by
	// graceful stop.
	Idle atomic.Bool
	// sconn is the server connection of the stream in progress, closed by
	// the end of the grace period.
	sconn atomic.Pointer[backend.ServerConn]
	// h2 is the HTTP/2 connection once the client speaks HTTP/2 (h2.go):
	// graceful stop sends it GOAWAY.
	h2 atomic.Pointer[h2.Conn]
}

// NewConn makes the client connection and session of an accepted socket
// of fe, on generation g (which the caller has acquired for it), with the
// L4 state of its frontend and the frontend's maxconn slots it holds; nil
// when the socket is unusable.
func NewConn(proc *Process, g *generation.Generation, fe *generation.Frontend, l4 *generation.L4Frontend, slots *listen.Slots, nc *net.TCPConn) *Conn {
	c, err := transport.NewConn(nc)
	if err != nil {
		nc.Close()
		return nil
	}
	nc.SetNoDelay(true)
	cc := &Conn{p: proc, gen: g, fe: fe, c: c}
	cc.conn.ID = session.NextID()
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		cc.conn.Src = a.AddrPort()
	}
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		cc.conn.Dst = a.AddrPort()
	}
	cc.conn.Src = netip.AddrPortFrom(cc.conn.Src.Addr().Unmap(), cc.conn.Src.Port())
	cc.conn.Dst = netip.AddrPortFrom(cc.conn.Dst.Addr().Unmap(), cc.conn.Dst.Port())
	cc.clientAddr = cc.conn.Src.String()
	cc.sess.ID = cc.conn.ID
	cc.sess.Conn = &cc.conn
	cc.sess.Frontend = fe.Name
	cc.sess.Start = time.Now()
	cc.slots = slots
	cc.attachL4(l4)
	return cc
}

func (cc *Conn) Serve() {
	fe := cc.fe
	defer cc.end()
	fe.Cur.Add(1)
	fe.Stats.CurSessions.Add(1)
	cc.trackSessionStart() // tracker slots, for track-sc in the rules below

	// tcp-request connection and session rules: the session exists, no
	// stream yet. The PROXY protocol and TLS handshakes come between them.
	ctx := fetch.Ctx{Layers: abi.LayerConn | abi.LayerSess, Conn: &cc.conn, Sess: &cc.sess, Proc: cc.gen.Proc}
	for i, set := range [...]*rules.Set{fe.TCPConnection, fe.TCPSession} {
		if i == 1 && cc.l4 != nil && !cc.handshake() {
			return
		}
		if set == nil {
			continue
		}
		if cause := tcpRulesEnd(&ctx, set.Eval(&ctx)); cause != session.CauseNone {
			fe.Stats.Term[cause].Add(1) // no stream yet: counted, not logged
			return
		}
	}
	fe.Stats.Sessions.Add(1)
	cc.trackSessionAccepted()
	if fe.HTTP {
		cc.serveHTTP()
	} else {
		cc.serveTCP()
	}
}

// end runs when a connection goroutine returns (serve, or resume after a
// park): the connection is over, unless the goroutine is handing it to the
// watcher (idle.go).
func (cc *Conn) end() {
	if r := recover(); r != nil {
		// A bug must cost one connection, never the process.
		cc.p.Log.Error("connection handler panicked", "frontend", cc.fe.Name, "panic", r)
	} else if cc.parking {
		cc.park() // the goroutine's last act: the watcher owns the connection now
		return
	}
	cc.trackSessionEnd()
	// cc.fe: the connection may have moved to a newer generation.
	cc.fe.Cur.Add(-1)
	cc.fe.Stats.CurSessions.Add(-1)
	cc.close()
}

func (cc *Conn) close() {
	cc.c.Close()
	cc.buf.Release()
	cc.p.Ended(cc, cc.slots)
	cc.gen.Release() // the last connection of a replaced generation closes it
}

// killed reports whether the grace period is over.
func (p *Process) killed() bool {
	select {
	case <-p.Kill:
		return true
	default:
		return false
	}
}
