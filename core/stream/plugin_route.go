package stream

import (
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/session"
)

// callTarget runs a routing target for the stream and merges its decision
// into the stream's route: what the target chose replaces what was chosen
// before, what it left alone stays. It returns what the target itself
// chose (ok false: nothing, or it failed).
func (cc *Conn) callTarget(x *exchange, e *generation.RouteEntry) (own session.Route, ok bool) {
	route := &x.strm.Ext.Route
	saved := *route
	*route = session.Route{}
	r, err := e.Target.Route(&x.fctx, e.Args)
	own = *route
	*route = saved
	if err != nil || r == nil || own.Empty() {
		return session.Route{}, false
	}
	if own.Backend != "" {
		route.Backend = own.Backend
	}
	if own.Server != "" {
		route.Server = own.Server
	}
	if own.Service != "" {
		route.Service = own.Service
	}
	return own, true
}

// selectBackend chooses the stream's backend: the one a plugin chose
// (session.Route), else the first use_backend entry that matches, else
// default_backend. A name that names no backend of the frontend's mode
// (dynamic, or a plugin's choice) falls through to the default, as in
// HAProxy. A routing target that chose a service ends the choice with
// service true and no backend: the caller serves it. The caller checks
// x.fctx.Failure first (endFailed).
func (cc *Conn) selectBackend(x *exchange) (be *generation.Backend, service bool) {
	g, fe, ctx := cc.gen, cc.fe, &x.fctx
	if name := x.strm.Ext.Route.Backend; name != "" {
		if be := g.ByName[name]; be != nil && be.HTTP == fe.HTTP {
			return be, false
		}
		return fe.Default, false
	}
	for i, t := range fe.UseBackend {
		e := generation.EntryAt(fe.BackendEntries, i)
		if e != nil {
			ctx.ResetScratch()
		}
		name, ok := t.Eval(ctx, x.name[:0])
		x.name = name[:0] // keep the storage
		if ctx.Failed() {
			return nil, false
		}
		if !ok {
			continue
		}
		if e == nil {
			if be := g.BackendBytes(name); be != nil && be.HTTP == fe.HTTP {
				return be, false
			}
			break
		}
		own, ok := cc.callTarget(x, e)
		switch {
		case ctx.Failed():
			return nil, false
		case !ok:
			continue
		case own.Service != "":
			return nil, true
		case own.Backend != "":
			if be := g.ByName[own.Backend]; be != nil && be.HTTP == fe.HTTP {
				return be, false
			}
			return fe.Default, false
		}
		// a server only: it applies to the backend chosen next
	}
	return fe.Default, false
}

// routeServer makes the server a plugin chose the stream's persistent
// server in be, before stick tables and balancing. A name be does not
// have is ignored: the balancer chooses.
func (cc *Conn) routeServer(x *exchange, be *generation.Backend) {
	if name := x.strm.Ext.Route.Server; name != "" && x.key.Server == nil {
		if s := be.Server(name); s != nil {
			x.key.Server = s
		}
	}
}

var _ session.RouteNames = (*generation.Generation)(nil)
