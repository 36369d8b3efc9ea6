package generation

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
)

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

// RouteEntry is what a static use_backend or use_service entry resolves to
// when it does not simply name a backend: a routing target, or a service
// with its arguments. Immutable after Build.
type RouteEntry struct {
	Name   string      // the target or service name, without arguments
	Target RouteTarget // a routing target; nil for a service
	Svc    Service     // a service (use_service entries)
	Args   []string
}

// EntryAt returns the routing entry of position i of a target list, or
// nil when it is an ordinary name.
func EntryAt(es []*RouteEntry, i int) *RouteEntry {
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
func (g *Generation) compileRouted(p rules.Point, rs config.Rules, env *rules.Env, http bool, fail func(string, error), check func(*rules.Target) error) ([]*rules.Target, []*RouteEntry) {
	var ts []*rules.Target
	var es []*RouteEntry
	for i, src := range rs.List {
		path := rs.Path + "[" + strconv.Itoa(i) + "]"
		t, err := rules.CompileTarget(p, src, env)
		if err != nil {
			fail(path, err)
			continue
		}
		var e *RouteEntry
		if !t.Dynamic() {
			e, err = g.resolveEntry(p, t, http, check)
			if err != nil {
				fail(path, err)
				continue
			}
		}
		if e != nil && es == nil {
			es = make([]*RouteEntry, len(ts), len(rs.List))
		}
		ts = append(ts, t)
		if es != nil {
			es = append(es, e)
		}
	}
	return ts, es
}

// resolveEntry resolves the static name of entry t.
func (g *Generation) resolveEntry(p rules.Point, t *rules.Target, http bool, check func(*rules.Target) error) (*RouteEntry, error) {
	name, args, err := splitCall(t.Name)
	if err != nil {
		return nil, err
	}
	rt, isTarget := g.targets[name]
	var other string // what else the name names
	if p == rules.UseBackend {
		if _, ok := g.ByName[name]; ok && args == nil {
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
			return &RouteEntry{Name: name, Svc: svc, Args: args}, nil
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
	return &RouteEntry{Name: name, Target: rt, Args: args}, nil
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

// HasBackend reports whether name is a backend of the given mode: one that
// selectBackend would take for a stream of that mode.
func (g *Generation) HasBackend(name string, http bool) bool {
	be := g.ByName[name]
	return be != nil && be.HTTP == http
}

// HasServer reports whether backend (the default backend of frontend
// when "") has a server called server.
func (g *Generation) HasServer(frontend, backend, server string) bool {
	be := g.ByName[backend]
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
