package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/session"
)

// L4 handshakes: TLS and the PROXY protocol.
//
// A client connection of a frontend with accept_proxy or tls goes through
// its handshakes between the tcp-request connection rules and the
// tcp-request session rules: first the PROXY protocol header, then the TLS
// handshake, together bounded by the frontend's client timeout. The
// connection rules therefore see the real addresses and no TLS (ssl_*
// fetches give no sample there); the session rules and everything after
// see the addresses of the PROXY header and the TLS state. A failure
// closes the connection before any stream exists, nothing is logged in the
// access log (no stream was born), and it is counted in the frontend's
// stats: proxy_protocol_errors, tls_handshake_errors.
//
// A new connection to a server with send_proxy gets a PROXY header
// describing the client (after its own PROXY header, if any), then, with
// tls, a TLS handshake bounded by the backend's connect timeout. A failure
// is a failed connection attempt, retried as any other. Connections to a
// send_proxy server are private to the client they describe: they are
// never taken from the idle pool, and those a stream returns to it are
// closed when the stream releases the server (HAProxy does not share them
// across clients either). Pooling of TLS connections is unchanged.
//
// The L4 state of a generation (l4Gen) is built when the generation starts
// serving (Proxy.Start): certificates are loaded then; a reload that swaps
// generations must build the new one's with buildL4 the same way and hand
// it to the listeners of the new frontends. A plain
// configuration has none, and the request path then checks one nil
// pointer. The ALPN protocol negotiated with a client is recorded on the
// connection (session.TLS.ALPN); the HTTP layer serves HTTP/2 when it is
// h2 (h2.go) and HTTP/1.1 otherwise.

// l4Gen is the L4 state of one generation. Immutable once built.
type l4Gen struct {
	frontends map[*Frontend]*l4Frontend
	servers   map[*backend.Server]*l4Server
}

// l4Frontend is what the binds of one frontend need below the session.
// Immutable once built; shared by every connection of the frontend.
type l4Frontend struct {
	tls         *tls.Config // nil: plain TCP
	acceptProxy bool
	// servers holds every server of the generation with send_proxy or
	// tls; nil when there is none.
	servers map[*backend.Server]*l4Server
}

// l4Server is what new connections to one server need.
type l4Server struct {
	tls       *tls.Config     // nil: plain TCP
	sendProxy int             // PROXY protocol version sent, 0 for none
	h2        *backend.H2Pool // the server speaks HTTP/2 (h2up.go); nil: HTTP/1.1
}

// buildL4 prepares the TLS configurations and PROXY protocol settings of
// g. It returns nil when g needs none, so that plain configurations pay
// nothing.
func buildL4(g *Generation, log *slog.Logger) (*l4Gen, error) {
	cfg := g.Config
	l := &l4Gen{frontends: map[*Frontend]*l4Frontend{}, servers: map[*backend.Server]*l4Server{}}
	for _, be := range g.Backends {
		bc := cfg.Backend(be.Name)
		if bc == nil {
			continue
		}
		for _, srv := range be.Servers {
			if srv.Index >= len(bc.Servers) || bc.Servers[srv.Index].Name != srv.Name {
				continue
			}
			sc := bc.Servers[srv.Index]
			ls := &l4Server{}
			switch sc.SendProxy {
			case "v1":
				ls.sendProxy = 1
			case "v2":
				ls.sendProxy = 2
			}
			if sc.TLS != nil {
				c, err := listen.ServerTLS(cfg, sc)
				if err != nil {
					return nil, fmt.Errorf("%s.tls: %w", sc.Path, err)
				}
				ls.tls = c
			}
			if sc.H2 && be.HTTP {
				ls.h2 = &backend.H2Pool{KeepAlive: be.Timeouts.HTTPKeepAlive}
				g.OnClose(ls.h2.Close)
				if ls.tls != nil {
					ls.tls.NextProtos = []string{"h2"}
				}
			}
			if ls.tls != nil || ls.sendProxy != 0 || ls.h2 != nil {
				l.servers[srv] = ls
			}
			if ls.tls != nil || ls.sendProxy != 0 {
				srv.CheckL4 = listen.CheckL4(ls.tls, ls.sendProxy) // before g.start starts the checks
			}
		}
	}
	if len(l.servers) == 0 {
		l.servers = nil
	}
	for _, fe := range g.Frontends {
		fc := cfg.Frontend(fe.Name)
		if fc == nil {
			continue
		}
		lf := &l4Frontend{acceptProxy: fc.AcceptProxy, servers: l.servers}
		if fc.TLS != nil {
			c, err := listen.FrontendTLS(cfg, fc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fc.TLS.Path, err)
			}
			lf.tls = c
		}
		if lf.tls != nil || lf.acceptProxy || lf.servers != nil {
			l.frontends[fe] = lf
		}
	}
	if len(l.frontends) == 0 && l.servers == nil {
		return nil, nil
	}
	return l, nil
}

// frontend returns the L4 state of fe's connections, nil when they need
// none.
func (l *l4Gen) frontend(fe *Frontend) *l4Frontend {
	if l == nil {
		return nil
	}
	return l.frontends[fe]
}

// attachL4 gives a new client connection the L4 state of its frontend.
// Called by the accept loop before the connection's goroutine starts.
func (cc *clientConn) attachL4(l *l4Frontend) {
	cc.l4 = l
	if l != nil && l.tls != nil {
		// A TLS state with Version 0: the handshake has not happened, so
		// ssl_* fetches give no sample in tcp-request connection rules.
		cc.conn.TLS = new(session.TLS)
	}
}

// handshake runs the PROXY protocol and TLS handshakes of a client
// connection, bounded together by the client timeout. It reports false
// when the connection must close (the failure is counted).
func (cc *clientConn) handshake() bool {
	l, fe, c := cc.l4, cc.fe, cc.c
	if l.tls == nil && !l.acceptProxy {
		return true
	}
	c.ReadDeadline = time.Now().Add(fe.Timeouts.Client)
	c.WriteTimeout = fe.Timeouts.Client
	defer func() { c.ReadDeadline = time.Time{} }()
	if l.acceptProxy {
		if err := cc.readProxyHeader(); err != nil {
			fe.Stats.ProxyErrors.Add(1)
			cc.debugL4("PROXY protocol header refused", err)
			return false
		}
	}
	if l.tls != nil {
		c.StartTLS(l.tls, true, &cc.buf)
		if err := c.Handshake(); err != nil {
			fe.Stats.HandshakeErrors.Add(1)
			cc.debugL4("TLS handshake failed", err)
			return false
		}
		listen.RecordTLS(cc.conn.TLS, c.TLS())
	}
	return true
}

// debugL4 logs a failed handshake at debug level.
func (cc *clientConn) debugL4(msg string, err error) {
	if log := cc.p.log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug(msg, "frontend", cc.fe.Name, "client", cc.conn.Src.String(), "error", err)
	}
}

// pooled returns an idle connection to srv from its pool, or nil. The
// connections of a send_proxy server are private to their client and
// never taken from the pool.
func (cc *clientConn) pooled(srv *backend.Server) *backend.ServerConn {
	if cc.l4 != nil && cc.l4.servers != nil {
		if ls := cc.l4.servers[srv]; ls != nil && ls.sendProxy != 0 {
			return nil
		}
	}
	return srv.Get(time.Now())
}

// dial opens a new connection to srv, then sends the PROXY header and runs
// the TLS handshake its configuration asks for, within the backend's
// connect timeout. A failure closes the connection and counts as a failed
// connection attempt of srv.
func (cc *clientConn) dial(be *Backend, srv *backend.Server) (*backend.ServerConn, error) {
	sc, err := srv.Dial()
	if err != nil || cc.l4 == nil || cc.l4.servers == nil {
		return sc, err
	}
	ls := cc.l4.servers[srv]
	if ls == nil {
		return sc, nil
	}
	if err := cc.startServerL4(sc, ls, be.Timeouts.Connect); err != nil {
		sc.Close()
		srv.Stats.ConnErrors.Add(1)
		return nil, err
	}
	return sc, nil
}

// startServerL4 writes the PROXY header and runs the TLS handshake of a new
// server connection.
func (cc *clientConn) startServerL4(sc *backend.ServerConn, ls *l4Server, timeout time.Duration) error {
	if ls.sendProxy != 0 {
		if err := cc.sendProxyHeader(sc, ls.sendProxy); err != nil {
			return err
		}
	}
	if ls.tls == nil {
		return nil
	}
	c := sc.Conn
	c.ReadDeadline = time.Now().Add(timeout)
	c.StartTLS(ls.tls, false, nil)
	err := c.Handshake()
	c.ReadDeadline = time.Time{}
	if err != nil {
		sc.Srv.Stats.HandshakeErrors.Add(1)
		return &tlsServerError{err}
	}
	return nil
}

// tlsServerError is a failed TLS handshake with a server.
type tlsServerError struct{ err error }

func (e *tlsServerError) Error() string { return "tls handshake with server: " + e.err.Error() }
func (e *tlsServerError) Unwrap() error { return e.err }

// dropPrivate closes the idle connections of a send_proxy server when a
// stream releases it: they describe one client and are never reused.
func (cc *clientConn) dropPrivate(srv *backend.Server) {
	if srv == nil || cc.l4 == nil || cc.l4.servers == nil {
		return
	}
	if ls := cc.l4.servers[srv]; ls != nil && ls.sendProxy != 0 {
		srv.CloseIdle()
	}
}
