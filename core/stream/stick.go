package stream

import (
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/track"
	"github.com/strata-proxy/strata/core/transport"
)

// trackEngine returns the engine when anything can be tracked.
func (cc *Conn) trackEngine() *track.Engine {
	if st := cc.gen.Stick; st != nil && st.Eng.Active() {
		return st.Eng
	}
	return nil
}

func (cc *Conn) trackSessionStart() {
	if e := cc.trackEngine(); e != nil {
		e.StartSession(&cc.sess)
	}
}

func (cc *Conn) trackSessionAccepted() {
	if e := cc.trackEngine(); e != nil {
		e.CountSession(&cc.sess)
	}
}

func (cc *Conn) trackSessionEnd() {
	if st := cc.gen.Stick; st != nil {
		st.Eng.EndSession(&cc.sess)
	}
}

// trackNoRequest counts a connection that ended before its first request
// arrived, as HAProxy 2.6 does: a request, and an error unless it timed
// out. A graceful stop closing it does not count.
func (cc *Conn) trackNoRequest(err error) {
	if e := cc.trackEngine(); e != nil && !cc.p.Draining.Load() {
		e.CountNoRequest(&cc.sess, transport.IsTimeout(err))
	}
}

func (cc *Conn) trackRequest(x *exchange) {
	if e := cc.trackEngine(); e != nil {
		e.CountRequest(&x.strm)
	}
}

func (cc *Conn) trackDenied(x *exchange) {
	if e := cc.trackEngine(); e != nil {
		e.CountDenied(&x.strm)
	}
}

func (cc *Conn) trackResponse(x *exchange, status int) {
	if e := cc.trackEngine(); e != nil {
		e.CountResponse(&x.strm, status)
	}
}

// trackStreamEnd runs once per stream, before the stream is reset. The
// request was counted when the fetch context got its transaction, which
// happens right after trackRequest.
func (cc *Conn) trackStreamEnd(x *exchange) {
	if st := cc.gen.Stick; st != nil {
		st.Eng.EndStream(&x.strm, x.fctx.Txn != nil)
	}
}

// stickMatch designates the server stored for the stream's key, before
// the backend chooses one (the backend uses it when it is usable, and
// balances otherwise).
func (cc *Conn) stickMatch(x *exchange, be *generation.Backend) {
	st := cc.gen.Stick
	if st == nil || len(st.On) == 0 || x.key.Server != nil {
		return
	}
	if on := st.On[be]; on != nil {
		if id := on.Match(&x.fctx); id > 0 && id <= len(be.Servers) {
			x.key.Server = be.Servers[id-1]
		}
	}
}

// stickStore records the stream's server for its key once connected.
func (cc *Conn) stickStore(x *exchange, be *generation.Backend) {
	st := cc.gen.Stick
	if st == nil || len(st.On) == 0 || x.srv == nil {
		return
	}
	if on := st.On[be]; on != nil {
		on.Store(&x.fctx, x.srv.Index+1)
	}
}
