package stream

import (
	"errors"
	"net"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/session"
)

// acquire chooses a server for the stream and takes one of its slots. On
// failure it sets the stream's termination.
func (cc *Conn) acquire(x *exchange, be *generation.Backend, avoid *backend.Server) error {
	x.wait.Cancel = cc.p.Kill
	srv, err := be.Acquire(&x.key, &x.wait, avoid)
	if err != nil {
		strm := &x.strm
		switch {
		case errors.Is(err, backend.ErrQueueTimeout):
			strm.Term.Set(session.CauseServerTimeout, session.PhaseQueue)
		case errors.Is(err, backend.ErrBackendFull):
			strm.Term.Set(session.CauseNoServer, session.PhaseQueue)
		case errors.Is(err, backend.ErrCanceled):
			strm.Term.Set(session.CauseKilled, session.PhaseQueue)
		default:
			strm.Term.Set(session.CauseNoServer, session.PhaseConnect)
		}
		return err
	}
	x.srv = srv
	x.strm.Server = srv.Name
	x.obsBe, x.obsSrv = be, srv // whose latency the stream counts in (telemetry.go)
	return nil
}

// releaseServer gives back the stream's slot, if it holds one.
func (cc *Conn) releaseServer(x *exchange, be *generation.Backend) {
	x.fr.serverConn(cc, x).Store(nil)
	if x.srv != nil {
		cc.dropPrivate(x.srv)
		be.Release(x.srv)
		x.srv = nil
	}
}

// connect returns a connection to the stream's server, choosing the server
// first when the stream has none: a pooled connection unless fresh, else a
// new one, retrying failed connections (see above). On failure it sets the
// stream's termination. For a server spoken to in HTTP/2 it returns a nil
// connection and gives the HTTP/2 connector its connection (x.h2s.up;
// h2up.go).
func (cc *Conn) connect(x *exchange, be *generation.Backend, fresh bool) (*backend.ServerConn, error) {
	strm := &x.strm
	if x.srv == nil {
		cc.routeServer(x, be) // a server a plugin chose (plugin_route.go)
		cc.stickMatch(x, be)  // stick on: the server stored for the key, if any (stick.go)
		var t0 time.Time
		if cc.fe.LogsTimers() {
			t0 = time.Now()
		}
		if err := cc.acquire(x, be, nil); err != nil {
			return nil, err
		}
		if !t0.IsZero() {
			x.rec.HX.Tw = time.Since(t0) // HAProxy's Tw, for the log
		}
	}
	for attempt := 0; ; attempt++ {
		srv := x.srv
		up := cc.h2Upstream(srv)
		if up != nil {
			// A fresh connection is asked for after a refused stream: any
			// usable one will do, as the refusal was the old one's.
			if cl := up.Get(); cl != nil {
				x.h2s.up = cl
				cc.stickStore(x, be)
				return nil, nil
			}
		} else if !fresh {
			if sc := cc.pooled(srv); sc != nil {
				x.rec.HX.Tc = 0 // a reused connection: HAProxy's Tc is 0
				if err := cc.track(x, sc); err != nil {
					return nil, err
				}
				cc.stickStore(x, be)
				return sc, nil
			}
		}
		var t0 time.Time
		if cc.fe.LogsTimers() {
			t0 = time.Now()
		}
		sc, err := cc.dial(be, srv) // TCP, then PROXY header and TLS when configured
		if !t0.IsZero() {
			x.rec.HX.Tc = time.Since(t0) // HAProxy's Tc
		}
		if up != nil && err != nil {
			up.Dialed()
		}
		if err == nil && up != nil {
			if t := sc.TLS(); t != nil && t.ConnectionState().NegotiatedProtocol != "h2" {
				sc.Close()
				up.Dialed()
				err = errNoH2
			} else {
				be.ObserveConnect(srv, true)
				x.h2s.up = up.Add(sc)
				cc.stickStore(x, be)
				return nil, nil
			}
		}
		if err == nil {
			be.ObserveConnect(srv, true)
			if err := cc.track(x, sc); err != nil {
				return nil, err
			}
			cc.stickStore(x, be)
			return sc, nil
		}
		be.Stats.ConnErrors.Add(1)
		be.ObserveConnect(srv, false)
		if attempt >= be.Retries || cc.p.killed() {
			strm.Term.Set(session.CauseConnectFailed, session.PhaseConnect)
			return nil, err
		}
		strm.Retries++
		srv.Retries.Add(1)
		cc.traceConnectRetry(x, err)
		if cc.redispatchNow(x, be, srv, attempt+1 == be.Retries) {
			be.Release(srv)
			x.srv = nil
			if err := cc.acquire(x, be, srv); err != nil {
				return nil, err
			}
			if x.srv != srv {
				srv.Redispatches.Add(1)
				be.Redispatches.Add(1)
			}
			continue
		}
		if !isTimeout(err) {
			// Turn-around: give a restarting server a moment.
			t := time.NewTimer(min(be.Timeouts.Connect, time.Second))
			select {
			case <-t.C:
			case <-cc.p.Kill:
			}
			t.Stop()
		}
	}
}

// track makes sc the stream's server connection, which the end of the
// grace period closes. A connection made after that moment (the stream got
// a slot as others were being closed) is closed here instead: either this
// check or the closing loop sees the other.
func (cc *Conn) track(x *exchange, sc *backend.ServerConn) error {
	x.fr.serverConn(cc, x).Store(sc)
	if x.fr.clientErr(x) != nil { // an HTTP/2 reset before clientAborted could see the connection
		sc.Close()
	}
	if cc.p.killed() {
		sc.Close()
		x.strm.Term.Set(session.CauseKilled, session.PhaseConnect)
		return errKilled
	}
	return nil
}

var errKilled = errors.New("the grace period is over")

// errNoH2 is a TLS server configured with h2 that did not choose it.
var errNoH2 = errors.New("the server did not negotiate h2 by ALPN")

// redispatchNow decides whether a retry after a failed connection to srv
// goes to another server (HAProxy's rule, with redispatch on the last
// retry).
func (cc *Conn) redispatchNow(x *exchange, be *generation.Backend, srv *backend.Server, last bool) bool {
	if !be.Redispatch {
		return false
	}
	if !srv.Running() || last {
		return true
	}
	return x.key.Server == nil && !be.Deterministic() && be.Candidates() > 1
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
