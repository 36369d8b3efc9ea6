package proxy

import (
	"fmt"
	"io"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// Internal services at the two use-service points, in HTTP and TCP mode.
//
// At each point the engine first serves the service a plugin chose for the
// stream (session.Route.Service), then walks the use_service list: the
// first entry whose condition holds answers the stream. An entry may name
// a service or a routing target (which may choose a service). A
// StreamService that fails under on_error fail_open is skipped as if its
// entry were not there, when it has sent nothing yet; under fail_closed
// the stream ends with termination cause "plugin".
//
// A StreamService keeps what it needs for the stream (a plugin instance)
// from its first event to EndStream, which the engine calls once when the
// stream ends, whatever happened (finishStream, finishTCP).

// StreamService is a Service that follows its stream: it may answer TCP
// streams as well as HTTP transactions, may fail, takes arguments, and
// keeps state from its first event until EndStream (a plugin service).
// Implementations are shared by every goroutine.
type StreamService interface {
	Service
	// Modes reports whether the service answers HTTP transactions and
	// TCP streams.
	Modes() (http, tcp bool)
	// CheckArgs validates an entry's arguments (`NAME(arg,...)`) when the
	// configuration is built.
	CheckArgs(args []string) error
	// Serve sends the service one event of the stream and fills r.
	// abi.EventRequest (HTTP): the request head is in ctx.Txn, and
	// ctx.Strm.Content holds the body when the proxy has it all. Status,
	// headers and body of r make the response. abi.EventData (TCP):
	// ctx.Strm.Content holds the bytes received since the last event
	// (none: the client has finished sending); r.Body goes to the client.
	// done asks for no more events. On failure it returns an error, and
	// has recorded it with ctx.Fail when the stream must end.
	Serve(ctx *fetch.Ctx, ev abi.ServiceEvent, args []string, r *Reply) (done bool, err error)
	// EndStream ends the stream's use of the service; the engine calls it
	// once per stream that called Serve, when the stream ends.
	EndStream(ctx *fetch.Ctx)
}

// BuiltinService reports whether name is a built-in service (welcome),
// which plugins may not replace.
func BuiltinService(name string) bool {
	_, ok := builtinServices[name]
	return ok
}

// serviceFits checks at Build that svc answers the mode of the frontend or
// backend that names it.
func serviceFits(name string, svc Service, http bool) error {
	h, t := true, false
	if ss, ok := svc.(StreamService); ok {
		h, t = ss.Modes()
	}
	switch {
	case http && !h:
		return fmt.Errorf("service %s answers TCP streams only; this is an http proxy", name)
	case !http && !t:
		return fmt.Errorf("service %s answers HTTP only; this is a tcp proxy (mode: tcp)", name)
	}
	return nil
}

// endService ends the stream's use of its StreamService, if any.
func (cc *clientConn) endService(x *exchange) {
	if x.svc != nil {
		x.svc.EndStream(&x.fctx)
		x.svc = nil
	}
}

// useService serves the stream with an internal service when the route
// or a use_service entry says so. done reports that the stream has been
// answered (or ended); the HTTP answer's result is res.
func (cc *clientConn) useService(x *exchange, ts []*rules.Target, es []*routeEntry) (res stepResult, done bool) {
	return cc.routeService(x, ts, es, false)
}

// useServiceTCP is useService for a TCP stream; done reports that the
// stream has ended.
func (cc *clientConn) useServiceTCP(x *exchange, ts []*rules.Target, es []*routeEntry) bool {
	_, done := cc.routeService(x, ts, es, true)
	return done
}

func (cc *clientConn) routeService(x *exchange, ts []*rules.Target, es []*routeEntry, tcp bool) (stepResult, bool) {
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
		e := entryAt(es, i)
		if e != nil && e.target != nil {
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
		var svc Service
		var args []string
		sname := ""
		if e != nil {
			svc, args, sname = e.svc, e.args, e.name
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
func (cc *clientConn) serveRouted(x *exchange, tcp bool) (stepResult, bool) {
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
func (cc *clientConn) serveWith(x *exchange, name string, svc Service, args []string, tcp bool) (stepResult, bool) {
	ss, stateful := svc.(StreamService)
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
	var r Reply
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
func (cc *clientConn) serveTCPService(x *exchange, ss StreamService, args []string) bool {
	strm, ctx := &x.strm, &x.fctx
	x.svc = ss
	started := false
	var r Reply
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
		r = Reply{}
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
