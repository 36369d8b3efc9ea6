package stream

import (
	"io"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// endService ends the stream's use of its StreamService, if any.
func (cc *Conn) endService(x *exchange) {
	if x.svc != nil {
		x.svc.EndStream(&x.fctx)
		x.svc = nil
	}
}

// useService serves the stream with an internal service when the route
// or a use_service entry says so. done reports that the stream has been
// answered (or ended); the HTTP answer's result is res.
func (cc *Conn) useService(x *exchange, ts []*rules.Target, es []*generation.RouteEntry) (res stepResult, done bool) {
	return cc.routeService(x, ts, es, false)
}

// useServiceTCP is useService for a TCP stream; done reports that the
// stream has ended.
func (cc *Conn) useServiceTCP(x *exchange, ts []*rules.Target, es []*generation.RouteEntry) bool {
	_, done := cc.routeService(x, ts, es, true)
	return done
}

func (cc *Conn) routeService(x *exchange, ts []*rules.Target, es []*generation.RouteEntry, tcp bool) (stepResult, bool) {
	ctx := &x.fctx
	if res, done := cc.serveRouted(x, tcp); done {
		return res, true
	}
	for i, t := range ts {
		ctx.ResetScratch()
		name, ok := t.Eval(ctx, x.name[:0])
		x.name = name // keep the storage
		if res, done := cc.endFailed(x, session.PhaseRequest, tcp); done {
			return res, true
		}
		if !ok {
			continue
		}
		e := generation.EntryAt(es, i)
		if e != nil && e.Target != nil {
			own, ok := cc.callTarget(x, e)
			if res, done := cc.endFailed(x, session.PhaseRequest, tcp); done {
				return res, true
			}
			if ok && own.Service != "" {
				if res, done := cc.serveRouted(x, tcp); done {
					return res, true
				}
			}
			continue
		}
		var svc generation.Service
		var args []string
		sname := ""
		if e != nil {
			svc, args, sname = e.Svc, e.Args, e.Name
		} else {
			if svc, ok = cc.gen.Services[string(name)]; !ok {
				x.strm.Term.Set(session.CauseInternal, session.PhaseRequest)
				if tcp {
					return closeConn, true
				}
				return cc.replyError(x, 503), true
			}
			sname = string(name)
		}
		if res, done := cc.serveWith(x, sname, svc, args, tcp); done {
			return res, true
		}
	}
	return keepOpen, false
}

// serveRouted serves the service a plugin chose for the stream, once:
// a service that fails open is not tried again at the next point.
func (cc *Conn) serveRouted(x *exchange, tcp bool) (stepResult, bool) {
	name := x.strm.Ext.Route.Service
	if name == "" {
		return keepOpen, false
	}
	x.strm.Ext.Route.Service = ""
	svc, ok := cc.gen.Services[name]
	if !ok {
		x.strm.Term.Set(session.CauseInternal, session.PhaseRequest)
		if tcp {
			return closeConn, true
		}
		return cc.replyError(x, 503), true
	}
	return cc.serveWith(x, name, svc, nil, tcp)
}

// serveWith answers the stream with svc. done false means the service failed
// open before sending anything: the caller goes on as if it had not been
// chosen.
func (cc *Conn) serveWith(x *exchange, name string, svc generation.Service, args []string, tcp bool) (stepResult, bool) {
	ss, stateful := svc.(generation.StreamService)
	var httpOK, tcpOK bool
	if stateful {
		httpOK, tcpOK = ss.Modes()
	} else {
		httpOK = true
	}
	if tcp && !tcpOK || !tcp && !httpOK {
		// A dynamic name (or a plugin's choice) naming a service of the
		// other mode: static ones are refused by Build.
		x.strm.Term.Set(session.CauseInternal, session.PhaseRequest)
		if tcp {
			return closeConn, true
		}
		return cc.replyError(x, 503), true
	}
	x.strm.Service = name
	if tcp {
		if cc.serveTCPService(x, ss, args) {
			return closeConn, true
		}
		cc.endService(x) // failed open: as above
		x.strm.Service = ""
		return keepOpen, false
	}
	var r generation.Reply
	if !stateful {
		svc.ServeHTTP(&x.fctx, &r)
	} else {
		x.svc = ss
		strm := &x.strm
		if body, complete, _, err := cc.requestBodyInBuffer(x); err == nil && complete {
			strm.Content = body
		}
		_, err := ss.Serve(&x.fctx, abi.EventRequest, args, &r)
		strm.Content = nil
		if res, done := cc.endFailed(x, session.PhaseRequest, false); done {
			return res, true
		}
		if err != nil {
			// fail_open: the service is done with the stream, which goes
			// on as if it had not been chosen.
			cc.endService(x)
			strm.Service = ""
			return keepOpen, false
		}
		if r.Status < 200 {
			// A final answer cannot be interim; 0 means the default.
			if r.Status != 0 {
				strm.Term.Set(session.CausePlugin, session.PhaseRequest)
				return cc.replyError(x, 500), true
			}
		}
		r.Headers = framingFree(r.Headers)
	}
	if r.Status == 0 {
		r.Status = 200
	}
	// Answered by the proxy, not a server: HAProxy logs LR for its
	// applets (stats, use-service) too.
	x.strm.Term.Set(session.CauseLocal, session.PhaseRequest)
	if len(r.Headers) > 0 {
		return cc.replyHeaders(x, &r), true
	}
	return cc.replyLocal(x, r.Status, r.ContentType, nil, r.Body), true
}

// framingFree removes the fields that frame a message (content-length,
// transfer-encoding, connection and its kin) from a service's reply, in
// place: the engine frames the reply itself, so a service cannot make it
// say two things.
func framingFree(hs []h1.Field) []h1.Field {
	out := hs[:0]
	for _, f := range hs {
		switch {
		case session.EqualFold(f.Name, []byte("content-length")),
			session.EqualFold(f.Name, []byte("transfer-encoding")),
			session.EqualFold(f.Name, []byte("connection")),
			session.EqualFold(f.Name, []byte("keep-alive")),
			session.EqualFold(f.Name, []byte("upgrade")),
			session.EqualFold(f.Name, []byte("trailer")):
			continue
		}
		out = append(out, f)
	}
	return out
}

// serveTCPService runs a TCP stream through ss: each read from the client
// is one event, whose reply body goes back to the client, until the
// service is done or the client has finished sending (a last event with no
// bytes tells the service). It returns false when the service failed open
// before it consumed or sent anything: the stream then goes on, its bytes
// still buffered, as if the service had not been chosen.
func (cc *Conn) serveTCPService(x *exchange, ss generation.StreamService, args []string) bool {
	strm, ctx := &x.strm, &x.fctx
	x.svc = ss
	started := false
	var r generation.Reply
	for {
		eof := false
		if cc.buf.Len() == 0 {
			if _, err := cc.c.Fill(&cc.buf); err != nil {
				switch {
				case err == io.EOF:
					eof = true
				case transport.IsTimeout(err):
					strm.Term.Set(session.CauseClientTimeout, session.PhaseData)
					return true
				default:
					strm.Term.Set(session.CauseClientAbort, session.PhaseData)
					return true
				}
			}
		}
		data := cc.buf.Data()
		strm.Content = data
		r = generation.Reply{}
		done, err := ss.Serve(ctx, abi.EventData, args, &r)
		strm.Content = nil
		if _, failed := cc.endFailed(x, session.PhaseData, true); failed {
			return true
		}
		if err != nil && started {
			strm.Term.Set(session.CausePlugin, session.PhaseData)
			return true
		}
		if err != nil {
			return false
		}
		started = true
		cc.buf.Consume(len(data))
		strm.BytesIn += int64(len(data))
		if len(r.Body) > 0 {
			if _, err := cc.c.Write(r.Body); err != nil {
				strm.Term.Set(clientCause(err), session.PhaseData)
				return true
			}
			strm.BytesOut += int64(len(r.Body))
		}
		if done || eof {
			return true
		}
	}
}
