// Package proxy is the running strata process: it opens the listeners of a
// generation's frontends and runs their accept loops, holds the process's
// and frontends' maxconn slots and the gate that pauses accepting
// (maxconn.go), swaps generations on reload and moves listeners and idle
// connections to the new one (reload.go), hands sockets and stick tables
// to a new binary (upgrade.go, on core/handover), stops gracefully
// (Shutdown), and serves the runtime API, the metrics and the stats pages
// of what it runs (api.go, metrics.go, exporter.go).
//
// Each accepted connection is handed to core/stream, which serves its
// session and streams on the generation it was accepted on
// (core/generation). What a connection reads of the process —
// logger, access log, current generation, slots, drain and kill signals —
// is a stream.Process embedded in Proxy; the connection's one call back is
// Process.Ended, when it is over.
//
// Goroutines: one accept loop per bind address; Shutdown and Reload run on
// their caller's goroutine and touch connections only through
// stream.Conn's Idle flag and its CloseFromStop, GoAway and Kill; a reload's
// connections move to the new generation themselves, between two streams.
//
// Pieces that touch no state of the Proxy live in packages of their own,
// called from here: core/listen (TLS configuration, the handshake record,
// PROXY headers, maxconn counters and the accept loops' gate),
// core/handover (what a binary upgrade passes between processes) and
// core/accesslog (the log record and its writer).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/stream"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/accesslog"
	"github.com/strata-proxy/strata/core/listen"
)

// Proxy is a running strata instance.
type Proxy struct {
	stream.Process // what its connections read of it

	rl      reloadState        // configuration reloads and upgrades (reload.go)
	metrics metricsState       // GET /metrics and global.metrics (metrics.go)
	flushes generation.Flushes // last exports of tracers and metrics (core/generation/flush.go)

	// Connection limits (maxconn.go): the process's limit (global.maxconn
	// or derived) and the gate its accept loops wait at; the slots are
	// the process's.
	maxConn atomic.Int64
	gate    listen.Gate

	mu        sync.Mutex
	listeners []*listener
	conns     map[*stream.Conn]struct{}
	wg        sync.WaitGroup

	closed   chan struct{}
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
func New(g *generation.Generation, opt Options) (*Proxy, error) {
	p := &Proxy{conns: map[*stream.Conn]struct{}{}, closed: make(chan struct{})}
	p.Log, p.Kill, p.Ended = opt.Logger, make(chan struct{}), p.forget
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	alog, err := accesslog.Open(g.Config.Global.AccessLog, opt.AccessLog)
	if err != nil {
		return nil, err
	}
	if alog != nil {
		p.Alog = alog
		p.AddGatherer(alog.Gather)
	}
	p.adopt(g)
	p.applyMaxConn(g)
	p.applyMetricsExport(g)
	return p, nil
}

// Generation returns the configuration generation new connections get.
func (p *Proxy) Generation() *generation.Generation { return p.Gen.Load() }

// Start opens every bind of every frontend and starts accepting. It fails
// without listening at all when one address cannot be bound.
func (p *Proxy) Start() error {
	g := p.Gen.Load()
	l4, err := generation.BuildL4(g, p.Log)
	if err != nil {
		return err
	}
	g.Life.L4 = l4
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
			l.bind.Store(&binding{g: g, fe: fe, l4: l4.Frontend(fe)})
			lns = append(lns, l)
		}
	}
	p.closeUnusedInherited() // sockets handed over that the configuration no longer binds (upgrade.go)
	p.mu.Lock()
	p.listeners = lns
	p.mu.Unlock()
	g.Start()
	for _, l := range lns {
		p.Log.Info("listening", "frontend", l.bind.Load().fe.Name, "address", l.ln.Addr().String())
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
			p.Log.Warn("accept failed", "address", l.addr, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		b := l.acquire() // the binding, with a reference on its generation
		// Slots are taken at once, unless loops of other listeners
		// filled a limit while this one was blocked in accept.
		if !p.waitSlots(l, b.fe) {
			nc.Close()
			b.g.Release()
			return
		}
		cc := p.newClientConn(b.g, b.fe, b.l4, b.fe.Slots, nc)
		if cc == nil {
			b.g.Release()
			p.releaseSlots(b.fe.Slots)
			continue
		}
		p.wg.Add(1)
		go cc.Serve()
	}
}

// newClientConn makes a client connection of an accepted socket and
// counts it among the proxy's, which Shutdown waits for; nil when the
// socket is unusable.
func (p *Proxy) newClientConn(g *generation.Generation, fe *generation.Frontend, l4 *generation.L4Frontend, slots *listen.Slots, nc *net.TCPConn) *stream.Conn {
	cc := stream.NewConn(&p.Process, g, fe, l4, slots, nc)
	if cc == nil {
		return nil
	}
	p.mu.Lock()
	p.conns[cc] = struct{}{}
	p.mu.Unlock()
	return cc
}

// forget is a connection's last call into the proxy (process.ended): its
// maxconn slots are given back, so an accept loop stopped at maxconn
// resumes, and Shutdown no longer waits for it.
func (p *Proxy) forget(cc *stream.Conn, slots *listen.Slots) {
	p.releaseSlots(slots)
	p.mu.Lock()
	delete(p.conns, cc)
	p.mu.Unlock()
	p.wg.Done()
}

// Shutdown stops accepting, closes idle keep-alive connections, lets busy
// streams finish until ctx ends (each response then carries "Connection:
// close"), then ends what is left — queued streams, retries in their
// turn-around delay, streams waiting for a server — with termination cause
// "killed", and closes every connection. It returns ctx.Err() when it had
// to end streams, nil when they all finished.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.Draining.Store(true)
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
			if cc.Idle.Load() && !time.Now().Before(lingerUntil) {
				cc.CloseFromStop()
			}
			cc.GoAway() // HTTP/2: open streams finish, no new one starts
		}
		p.mu.Unlock()
		select {
		case <-done:
			p.finish(ctx)
			return nil
		case <-ctx.Done():
			p.killOnce.Do(func() { close(p.Kill) })
			p.mu.Lock()
			for cc := range p.conns {
				cc.Kill()
			}
			p.mu.Unlock()
			<-done
			p.finish(ctx)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// finish closes the current generation and the access log, and waits for
// the last telemetry exports until the grace period of ctx ends (at least
// stopFlushMin): the spans of the last streams are sent before strata
// exits.
func (p *Proxy) finish(ctx context.Context) {
	p.finished.Do(func() {
		g := p.Gen.Load()
		g.Life.Current.Store(false)
		g.Release() // the current generation's own reference: it closes now

		if p.Alog != nil {
			if err := p.Alog.Close(); err != nil {
				p.Log.Warn("stopping: access log not fully written", "error", err)
			}
		}
		p.stopMetricsExport()
		p.closeStickStore() // shared tables push their last counts and leave the fleet
		if !p.flushes.Wait(generation.StopFlushDeadline(ctx)) {
			p.Log.Warn("stopping: spans or metrics not delivered to the collector in time")
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
