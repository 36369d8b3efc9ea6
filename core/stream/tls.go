package stream

import (
	"context"
	"log/slog"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/session"
)

// attachL4 gives a new client connection the L4 state of its frontend.
// Called by the accept loop before the connection's goroutine starts.
func (cc *Conn) attachL4(l *generation.L4Frontend) {
	cc.l4 = l
	cc.stopL4.Store(l)
	if l != nil && l.TLS != nil {
		// A TLS state with Version 0: the handshake has not happened, so
		// ssl_* fetches give no sample in tcp-request connection rules.
		cc.conn.TLS = new(session.TLS)
	}
}

// handshake runs the PROXY protocol and TLS handshakes of a client
// connection, bounded together by the client timeout. It reports false
// when the connection must close (the failure is counted).
func (cc *Conn) handshake() bool {
	l, fe, c := cc.l4, cc.fe, cc.c
	if l.TLS == nil && !l.AcceptProxy {
		return true
	}
	c.ReadDeadline = time.Now().Add(fe.Timeouts.Client)
	c.WriteTimeout = fe.Timeouts.Client
	defer func() { c.ReadDeadline = time.Time{} }()
	if l.AcceptProxy {
		if err := cc.readProxyHeader(); err != nil {
			fe.Stats.ProxyErrors.Add(1)
			cc.debugL4("PROXY protocol header refused", err)
			return false
		}
	}
	if l.TLS != nil {
		c.StartTLS(l.TLS, true, &cc.buf)
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
func (cc *Conn) debugL4(msg string, err error) {
	if log := cc.p.Log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug(msg, "frontend", cc.fe.Name, "client", cc.conn.Src.String(), "error", err)
	}
}

// pooled returns an idle connection to srv from its pool, or nil. The
// connections of a send_proxy server are private to their client and
// never taken from the pool.
func (cc *Conn) pooled(srv *backend.Server) *backend.ServerConn {
	if cc.l4 != nil && cc.l4.Servers != nil {
		if ls := cc.l4.Servers[srv]; ls != nil && ls.SendProxy != 0 {
			return nil
		}
	}
	return srv.Get(time.Now())
}

// dial opens a new connection to srv, then sends the PROXY header and runs
// the TLS handshake its configuration asks for, within the backend's
// connect timeout. A failure closes the connection and counts as a failed
// connection attempt of srv.
func (cc *Conn) dial(be *generation.Backend, srv *backend.Server) (*backend.ServerConn, error) {
	sc, err := srv.Dial()
	if err != nil || cc.l4 == nil || cc.l4.Servers == nil {
		return sc, err
	}
	ls := cc.l4.Servers[srv]
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
func (cc *Conn) startServerL4(sc *backend.ServerConn, ls *generation.L4Server, timeout time.Duration) error {
	if ls.SendProxy != 0 {
		if err := cc.sendProxyHeader(sc, ls.SendProxy); err != nil {
			return err
		}
	}
	if ls.TLS == nil {
		return nil
	}
	c := sc.Conn
	c.ReadDeadline = time.Now().Add(timeout)
	c.StartTLS(ls.TLS, false, nil)
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
func (cc *Conn) dropPrivate(srv *backend.Server) {
	if srv == nil || cc.l4 == nil || cc.l4.Servers == nil {
		return
	}
	if ls := cc.l4.Servers[srv]; ls != nil && ls.SendProxy != 0 {
		srv.CloseIdle()
	}
}
