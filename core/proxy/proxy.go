// Package proxy is strata's engine: it accepts client connections, gives
// each a session, runs its streams through the rules of the configuration
// generation it started on, and relays them to servers or services.
//
// Goroutines and ownership:
//
//   - one accept loop per bind address;
//   - one goroutine per client connection, which owns the Conn and the
//     Session; on HTTP/1.1 and in TCP mode it also owns every Stream and
//     Txn (HTTP/1.1 streams follow one another; TCP mode has one stream);
//     an HTTP/1.1 connection idle for 25 ms has none: it waits on the park
//     watcher, which starts a new goroutine for it when it is readable
//     (idle.go);
//   - on HTTP/2 that goroutine runs the connection's frame loop (core/h2),
//     which parks the same way after 25 ms with no stream (idle.go),
//     and each stream runs on a goroutine of its own, which owns the
//     stream's exchange (Stream, Txn, scratch). The streams share the
//     Session read-only, except its variables, which are locked. Two
//     fields of an exchange are touched from elsewhere: sconn and upStream,
//     taken by the frame loop's OnAbort callback (closeServerConn) when
//     the client resets the stream;
//   - a paused filter's stream waits for Resume, Reply or Close, which a
//     filter may call from any goroutine (filter.go: guarded by a lock);
//   - a tunnel (TCP mode, WebSocket) adds one goroutine for the server to
//     client direction while it lasts.
//
// States of a client connection: accepted → (tcp-request connection rules)
// → session → idle ⇄ busy (one stream at a time on HTTP/1.1, any number
// on HTTP/2) → closed, idle including parked. Graceful stop closes idle connections at once, sends
// GOAWAY on HTTP/2, and lets busy ones finish their streams.
//
// The engine writes to the client through a front (front.go), one per
// protocol: response heads, bodies and replies — values, which the front
// encodes — never bytes of one protocol parsed again for another.
//
// A stream on its way to a server: backend chosen → server chosen and a
// slot of it taken (possibly after waiting in a queue: core/backend) →
// connection (pooled or new, retried and redispatched as in HAProxy: see
// connect.go) → request → response → slot given back. The stream's
// goroutine owns the slot; the graceful stop may close the stream's server
// connection when the grace period ends.
//
// Pieces that touch no state of the Proxy, a connection or a stream live
// in packages of their own, called from here: core/listen (TLS
// configuration, the handshake record, PROXY headers, maxconn counters and
// the accept loops' gate), core/handover (what a binary upgrade passes
// between processes) and core/accesslog (the log record and its writer).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
	"github.com/strata-proxy/strata/core/transport/park"
)

var exchangePool = sync.Pool{New: func() any { return &exchange{ttfb: -1} }}

// Proxy is a running strata instance.
type Proxy struct {
	log  *slog.Logger
	alog *accesslog.Log

	gen     atomic.Pointer[Generation]
	rl      reloadState  // configuration reloads and upgrades (reload.go)
	metrics metricsState // GET /metrics and global.metrics (metrics.go)
	flushes flushes      // last exports of tracers and metrics (flush.go)

	// Connection limits (maxconn.go): the process's slots, its limit
	// (global.maxconn or derived) and the gate its accept loops wait at.
	slots   listen.Slots
	maxConn atomic.Int64
	gate    listen.Gate

	// Idle connections on the watcher now, and parks so far (idle.go).
	parked, parks atomic.Int64

	mu        sync.Mutex
	listeners []*listener
	conns     map[*clientConn]struct{}
	wg        sync.WaitGroup

	draining atomic.Bool
	closed   chan struct{}
	// kill is closed when the grace period ends: streams still waiting
	// (queue, retry delay) give up and every connection is closed.
	kill     chan struct{}
	killOnce sync.Once
	finished sync.Once
}

type listener struct {
	addr string // as configured
	ln   *net.TCPListener
	// done is closed with ln (close): an accept loop waiting for a
	// connection slot (maxconn.go) stops.
	done      chan struct{}
	closeOnce sync.Once
	// bind is what a connection accepted now gets: the generation, the
	// frontend and its L4 state. A reload that keeps the address replaces
	// it (reload.go).
	bind atomic.Pointer[binding]
}

func newListener(addr string, ln *net.TCPListener) *listener {
	return &listener{addr: addr, ln: ln, done: make(chan struct{})}
}

// close stops the listener and its accept loop.
func (l *listener) close() {
	l.closeOnce.Do(func() { close(l.done) })
	l.ln.Close()
}

// Options configure a Proxy.
type Options struct {
	Logger    *slog.Logger // nil: discard
	AccessLog io.Writer    // nil: from the configuration (stdout, stderr, file or none)
}

// New builds a proxy serving g. Nothing listens until Start.
func New(g *Generation, opt Options) (*Proxy, error) {
	p := &Proxy{log: opt.Logger, conns: map[*clientConn]struct{}{}, closed: make(chan struct{}), kill: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	alog, err := accesslog.Open(g.Config.Global.AccessLog, opt.AccessLog)
	if err != nil {
		return nil, err
	}
	if alog != nil {
		p.alog = alog
		p.AddGatherer(alog.Gather)
	}
	p.adopt(g)
	p.applyMaxConn(g)
	p.applyMetricsExport(g)
	return p, nil
}

// Generation returns the configuration generation new connections get.
func (p *Proxy) Generation() *Generation { return p.gen.Load() }

// Start opens every bind of every frontend and starts accepting. It fails
// without listening at all when one address cannot be bound.
func (p *Proxy) Start() error {
	g := p.gen.Load()
	l4, err := buildL4(g, p.log)
	if err != nil {
		return err
	}
	g.life.l4 = l4
	var lns []*listener
	for _, fe := range g.Frontends {
		for _, addr := range fe.Binds {
			ln, err := p.listen(addr) // a socket handed over by an upgrade, or a new one (upgrade.go)
			if err != nil {
				for _, l := range lns {
					l.close()
				}
				return fmt.Errorf("frontend %s: bind %s: %w", fe.Name, addr, err)
			}
			l := newListener(addr, ln)
			l.bind.Store(&binding{g: g, fe: fe, l4: l4.frontend(fe)})
			lns = append(lns, l)
		}
	}
	p.closeUnusedInherited() // sockets handed over that the configuration no longer binds (upgrade.go)
	p.mu.Lock()
	p.listeners = lns
	p.mu.Unlock()
	g.start()
	for _, l := range lns {
		p.log.Info("listening", "frontend", l.bind.Load().fe.Name, "address", l.ln.Addr().String())
		p.wg.Add(1)
		go p.acceptLoop(l)
	}
	return nil
}

// Addrs returns the bound address of every listener of frontend fe, in
// configuration order (useful when a bind asked for port 0).
func (p *Proxy) Addrs(fe string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.listeners {
		if l.bind.Load().fe.Name == fe {
			out = append(out, l.ln.Addr().String())
		}
	}
	return out
}

// acceptLoop accepts the connections of l while the process and the
// frontend are below their maxconn (maxconn.go).
func (p *Proxy) acceptLoop(l *listener) {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		if !p.waitSlots(l, nil) {
			return
		}
		nc, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: wait a little, like net/http.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("accept failed", "address", l.addr, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		b := l.acquire() // the binding, with a reference on its generation
		// Slots are taken at once, unless loops of other listeners
		// filled a limit while this one was blocked in accept.
		if !p.waitSlots(l, b.fe) {
			nc.Close()
			b.g.release()
			return
		}
		cc := p.newClientConn(b.g, b.fe, nc)
		if cc == nil {
			b.g.release()
			p.releaseSlots(b.fe.slots)
			continue
		}
		cc.slots = b.fe.slots
		cc.attachL4(b.l4)
		p.wg.Add(1)
		go cc.serve()
	}
}

// clientConn is one client connection and its session.
type clientConn struct {
	// Immutable after newClientConn (l4: after attachL4; clientAddr:
	// after the PROXY protocol header), except gen, fe and l4, which the
	// connection goroutine changes between two streams when it moves to
	// a newer generation (reload.go); only that goroutine reads them.
	p          *Proxy
	gen        *Generation // holds a reference on it (reload.go)
	fe         *Frontend
	c          *transport.Conn
	clientAddr string
	l4         *l4Frontend   // TLS, PROXY protocol; nil when the frontend and its servers need none
	slots      *listen.Slots // the frontend's maxconn slots this connection holds, with one of the process's

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

	// idle is true while the connection waits for a request; read by
	// graceful stop.
	idle atomic.Bool
	// sconn is the server connection of the stream in progress, closed by
	// the end of the grace period.
	sconn atomic.Pointer[backend.ServerConn]
	// h2 is the HTTP/2 connection once the client speaks HTTP/2 (h2.go):
	// graceful stop sends it GOAWAY.
	h2 atomic.Pointer[h2.Conn]
}

func (p *Proxy) newClientConn(g *Generation, fe *Frontend, nc *net.TCPConn) *clientConn {
	c, err := transport.NewConn(nc)
	if err != nil {
		nc.Close()
		return nil
	}
	nc.SetNoDelay(true)
	cc := &clientConn{p: p, gen: g, fe: fe, c: c}
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
	p.mu.Lock()
	p.conns[cc] = struct{}{}
	p.mu.Unlock()
	return cc
}

func (cc *clientConn) serve() {
	fe := cc.fe
	defer cc.end()
	fe.cur.Add(1)
	fe.Stats.CurSessions.Add(1)
	cc.trackSessionStart() // tracker slots, for track-sc in the rules below

	// tcp-request connection and session rules: the session exists, no
	// stream yet. The PROXY protocol and TLS handshakes come between them.
	ctx := fetch.Ctx{Layers: abi.LayerConn | abi.LayerSess, Conn: &cc.conn, Sess: &cc.sess, Proc: cc.gen.proc}
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
func (cc *clientConn) end() {
	if r := recover(); r != nil {
		// A bug must cost one connection, never the process.
		cc.p.log.Error("connection handler panicked", "frontend", cc.fe.Name, "panic", r)
	} else if cc.parking {
		cc.park() // the goroutine's last act: the watcher owns the connection now
		return
	}
	cc.trackSessionEnd()
	// cc.fe: the connection may have moved to a newer generation.
	cc.fe.cur.Add(-1)
	cc.fe.Stats.CurSessions.Add(-1)
	cc.close()
	cc.p.wg.Done()
}

func (cc *clientConn) close() {
	cc.c.Close()
	cc.p.releaseSlots(cc.slots) // an accept loop stopped at maxconn resumes
	cc.buf.Release()
	cc.p.mu.Lock()
	delete(cc.p.conns, cc)
	cc.p.mu.Unlock()
	cc.gen.release() // the last connection of a replaced generation closes it
}

// Shutdown stops accepting, closes idle keep-alive connections, lets busy
// streams finish until ctx ends (each response then carries "Connection:
// close"), then ends what is left — queued streams, retries in their
// turn-around delay, streams waiting for a server — with termination cause
// "killed", and closes every connection. It returns ctx.Err() when it had
// to end streams, nil when they all finished.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.draining.Store(true)
	p.mu.Lock()
	for _, l := range p.listeners {
		l.close()
	}
	p.mu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	lingerUntil := time.Now().Add(p.idleLinger()) // SetIdleLinger (upgrade.go)
	for {
		p.mu.Lock()
		for cc := range p.conns {
			if cc.idle.Load() && !time.Now().Before(lingerUntil) {
				cc.closeFromStop()
			}
			if h := cc.h2.Load(); h != nil {
				h.Shutdown() // GOAWAY: open streams finish, no new one starts
			}
		}
		p.mu.Unlock()
		select {
		case <-done:
			p.finish(ctx)
			return nil
		case <-ctx.Done():
			p.killOnce.Do(func() { close(p.kill) })
			p.mu.Lock()
			for cc := range p.conns {
				cc.closeFromStop()
				if sc := cc.sconn.Load(); sc != nil {
					sc.Close()
				}
				if cc.l4 != nil {
					for _, ls := range cc.l4.servers {
						if ls.h2 != nil {
							ls.h2.close() // streams waiting on HTTP/2 servers end now
						}
					}
				}
			}
			p.mu.Unlock()
			<-done
			p.finish(ctx)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// killed reports whether the grace period is over.
func (p *Proxy) killed() bool {
	select {
	case <-p.kill:
		return true
	default:
		return false
	}
}

// finish closes the current generation and the access log, and waits for
// the last telemetry exports until the grace period of ctx ends (at least
// stopFlushMin): the spans of the last streams are sent before strata
// exits.
func (p *Proxy) finish(ctx context.Context) {
	p.finished.Do(func() {
		g := p.gen.Load()
		g.life.current.Store(false)
		g.release() // the current generation's own reference: it closes now

		if p.alog != nil {
			if err := p.alog.Close(); err != nil {
				p.log.Warn("stopping: access log not fully written", "error", err)
			}
		}
		p.stopMetricsExport()
		p.closeStickStore() // shared tables push their last counts and leave the fleet
		if !p.flushes.wait(stopFlushDeadline(ctx)) {
			p.log.Warn("stopping: spans or metrics not delivered to the collector in time")
		}
	})
}

// Close stops at once.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Shutdown(ctx)
	return nil
}
