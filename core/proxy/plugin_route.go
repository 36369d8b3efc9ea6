package proxy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
)

// Routing targets, and how the engine applies routing decisions.
//
// A decision may come from three places, all of which end in the stream's
// session.Route (Stream.Ext.Route):
//
//   - an action that chose a backend, a server or a service (a plugin
//     action granted "route");
//   - a RouteTarget named in a use_backend or use_service list, called
//     when its entry's condition holds;
//   - nothing: the lists and default_backend decide, as in HAProxy.
//
// The engine reads the route at each selection point: the service at both
// use-service points (serveRoutedService), the backend at the backend
// choice before use_backend (selectBackend), the server at the server
// choice as a persistent server (routeServer, before stick tables).
//
// On failure a target returns no route; under on_error fail_closed it has
// recorded the failure (fetch.Ctx.Fail) and the stream ends with cause "plugin"
// (HTTP 500, TCP close); under fail_open the entry is skipped as if it
// were not there.

// RouteTarget is a routing target provided outside the core (a plugin's).
// A use_backend or use_service entry names it, as `NAME` or
// `NAME(arg,...)` followed by an optional condition. Implementations are
// shared by every goroutine.
type RouteTarget interface {
	// CheckArgs validates an entry's arguments when the configuration is
	// built.
	CheckArgs(args []string) error
	// Route decides for the stream of ctx and leaves its decision in
	// ctx.Strm.Ext.Route. It returns that route, or nil when it chose
	// nothing or failed (err); a failure that must end the stream has
	// recorded it with ctx.Fail.
	Route(ctx *fetch.Ctx, args []string) (*session.Route, error)
}

// routeEntry is what a static use_backend or use_service entry resolves to
// when it does not simply name a backend: a routing target, or a service
// with its arguments. Immutable after Build.
type routeEntry struct {
	name   string      // the target or service name, without arguments
	target RouteTarget // a routing target; nil for a service
	svc    Service     // a service (use_service entries)
	args   []string
}

// entryAt returns the routing entry of position i of a target list, or
// nil when it is an ordinary name.
func entryAt(es []*routeEntry, i int) *routeEntry {
	if i < len(es) {
		return es[i]
	}
	return nil
}

// splitCall splits `name(a,b)` into its name and arguments. A name without
// parentheses has none.
func splitCall(s string) (name string, args []string, err error) {
	i := strings.IndexByte(s, '(')
	if i < 0 {
		return s, nil, nil
	}
	if i == 0 || !strings.HasSuffix(s, ")") {
		return "", nil, fmt.Errorf("%w: %q: write NAME or NAME(arg,...)", rules.ErrSyntax, s)
	}
	if inner := s[i+1 : len(s)-1]; inner != "" {
		for _, a := range strings.Split(inner, ",") {
			args = append(args, strings.TrimSpace(a))
		}
	}
	return s[:i], args, nil
}

// compileRouted compiles a use_backend (p == rules.UseBackend) or
// use_service list. Static names are resolved here, once: a routing target
// (BuildOptions.Targets) or a service becomes a routeEntry; a backend name
// is checked by check and left to the per-stream lookup. The second slice
// is nil when no entry needs one.
func (g *Generation) compileRouted(p rules.Point, rs config.Rules, env *rules.Env, http bool, fail func(string, error), check func(*rules.Target) error) ([]*rules.Target, []*routeEntry) {
	var ts []*rules.Target
	var es []*routeEntry
	for i, src := range rs.List {
		path := rs.Path + "[" + strconv.Itoa(i) + "]"
		t, err := rules.CompileTarget(p, src, env)
		if err != nil {
			fail(path, err)
			continue
		}
		var e *routeEntry
		if !t.Dynamic() {
			e, err = g.resolveEntry(p, t, http, check)
			if err != nil {
				fail(path, err)
				continue
			}
		}
		if e != nil && es == nil {
			es = make([]*routeEntry, len(ts), len(rs.List))
		}
		ts = append(ts, t)
		if es != nil {
			es = append(es, e)
		}
	}
	return ts, es
}

// resolveEntry resolves the static name of entry t.
func (g *Generation) resolveEntry(p rules.Point, t *rules.Target, http bool, check func(*rules.Target) error) (*routeEntry, error) {
	name, args, err := splitCall(t.Name)
	if err != nil {
		return nil, err
	}
	rt, isTarget := g.targets[name]
	var other string // what else the name names
	if p == rules.UseBackend {
		if _, ok := g.backends[name]; ok && args == nil {
			if isTarget {
				return nil, fmt.Errorf("%q names both a backend and a routing target; rename one of them", name)
			}
			return nil, check(t)
		}
		other = "backend"
	} else {
		if svc, ok := g.Services[name]; ok {
			if isTarget {
				return nil, fmt.Errorf("%q names both a service and a routing target; rename one of them", name)
			}
			if err := serviceFits(name, svc, http); err != nil {
				return nil, err
			}
			if ss, ok := svc.(StreamService); ok {
				if err := ss.CheckArgs(args); err != nil {
					return nil, fmt.Errorf("service %s: %w", name, err)
				}
			} else if args != nil {
				return nil, fmt.Errorf("service %s takes no arguments", name)
			}
			return &routeEntry{name: name, svc: svc, args: args}, nil
		}
		other = "service"
	}
	if !isTarget {
		if len(g.targets) == 0 && check != nil {
			return nil, check(t) // the error of a configuration without plugins
		}
		return nil, fmt.Errorf("unknown %s or routing target %q%s", other, name, knownTargets(g.targets))
	}
	if err := rt.CheckArgs(args); err != nil {
		return nil, fmt.Errorf("routing target %s: %w", name, err)
	}
	return &routeEntry{name: name, target: rt, args: args}, nil
}

func knownTargets(m map[string]RouteTarget) string {
	if len(m) == 0 {
		return ""
	}
	s := "; known routing targets:"
	for n := range m {
		s += " " + n
	}
	return s
}

// callTarget runs a routing target for the stream and merges its decision
// into the stream's route: what the target chose replaces what was chosen
// before, what it left alone stays. It returns what the target itself
// chose (ok false: nothing, or it failed).
func (cc *clientConn) callTarget(x *exchange, e *routeEntry) (own session.Route, ok bool) {
	route := &x.strm.Ext.Route
	saved := *route
	*route = session.Route{}
	r, err := e.target.Route(&x.fctx, e.args)
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
func (cc *clientConn) selectBackend(x *exchange) (be *Backend, service bool) {
	g, fe, ctx := cc.gen, cc.fe, &x.fctx
	if name := x.strm.Ext.Route.Backend; name != "" {
		if be := g.backends[name]; be != nil && be.HTTP == fe.HTTP {
			return be, false
		}
		return fe.Default, false
	}
	for i, t := range fe.UseBackend {
		e := entryAt(fe.backendEntries, i)
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
			if be := g.backendBytes(name); be != nil && be.HTTP == fe.HTTP {
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
			if be := g.backends[own.Backend]; be != nil && be.HTTP == fe.HTTP {
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
func (cc *clientConn) routeServer(x *exchange, be *Backend) {
	if name := x.strm.Ext.Route.Server; name != "" && x.key.Server == nil {
		if s := be.Server(name); s != nil {
			x.key.Server = s
		}
	}
}

var _ session.RouteNames = (*Generation)(nil)

// HasBackend reports whether name is a backend of the given mode: one that
// selectBackend would take for a stream of that mode.
func (g *Generation) HasBackend(name string, http bool) bool {
	be := g.backends[name]
	return be != nil && be.HTTP == http
}

// HasServer reports whether backend (the default backend of frontend
// when "") has a server called server.
func (g *Generation) HasServer(frontend, backend, server string) bool {
	be := g.backends[backend]
	if backend == "" {
		for _, fe := range g.Frontends {
			if fe.Name == frontend {
				be = fe.Default
			}
		}
	}
	return be != nil && be.Server(server) != nil
}

// HasService reports whether name is a service answering streams of the
// given mode.
func (g *Generation) HasService(name string, http bool) bool {
	svc, ok := g.Services[name]
	if !ok {
		return false
	}
	h, t := true, false
	if ss, ok := svc.(StreamService); ok {
		h, t = ss.Modes()
	}
	return (http && h) || (!http && t)
}
