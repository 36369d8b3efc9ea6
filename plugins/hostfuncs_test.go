package plugins

import (
	"context"
	"fmt"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

// Every host function of the ABI has an implementation, and nothing else
// is implemented.
func TestHostImpls_MatchABI(t *testing.T) {
	for _, f := range abi.HostFuncs {
		if hostImpls[f.Name] == nil {
			t.Errorf("host function %s has no implementation", f.Name)
		}
	}
	if len(hostImpls) != len(abi.HostFuncs) {
		t.Errorf("%d implementations for %d host functions", len(hostImpls), len(abi.HostFuncs))
	}
}

// A Go guest fits in the configuration's default memory limit (32 MiB).
func TestLoad_GoGuestIn32MiB(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass"), MemoryLimit: 32 << 20})
	if v, ok := e.eval(t, "ua_class", httpCtx("user-agent", "curl/8")); !ok || v.String() != "cli" {
		t.Fatalf("ua_class = %v %v", v, ok)
	}
	p.Close(context.Background())
	if _, ok := e.eval(t, "ua_class", httpCtx()); ok {
		t.Error("a closed plugin answered")
	}
}

// The ABI's value types are numbered as the core's sample types, so values
// cross without translation.
func TestTypes_MatchSampleTypes(t *testing.T) {
	pairs := []struct {
		a abi.Type
		s sample.Type
	}{
		{abi.TypeNone, sample.TypeNone}, {abi.TypeBool, sample.TypeBool}, {abi.TypeInt, sample.TypeInt},
		{abi.TypeIP, sample.TypeIP}, {abi.TypeStr, sample.TypeStr}, {abi.TypeBin, sample.TypeBin},
	}
	for _, p := range pairs {
		if sample.Type(p.a) != p.s || p.a.String() != p.s.String() {
			t.Errorf("abi %v (%d) vs sample %v (%d)", p.a, p.a, p.s, p.s)
		}
	}
}

// routeSet is the RouteNames of a generation with fixed names (both modes).
type routeSet map[string]bool

func (r routeSet) HasBackend(name string, _ bool) bool { return r["be:"+name] }
func (r routeSet) HasServer(_, backend, server string) bool {
	return r["srv:"+backend+"/"+server]
}
func (r routeSet) HasService(name string, _ bool) bool { return r["svc:"+name] }

// Names route_set refuses as unknown never enter the instance's bounded
// intern table: a plugin trying name after unknown name cannot fill it
// and make every later valid name allocate.
func TestInstance_SetRoute_UnknownNamesNotInterned(t *testing.T) {
	p := &Plugin{}
	p.UseRoutes(routeSet{"be:api": true, "srv:api/s1": true, "svc:stats": true})
	in := &instance{p: p, names: map[string]string{}}
	ctx := httpCtx()
	for i := range 2 * maxInterned {
		for _, c := range []struct {
			kind abi.RouteKind
			name string
		}{
			{abi.RouteBackend, fmt.Sprintf("nobe%d", i)},
			{abi.RouteServer, fmt.Sprintf("nosrv%d", i)},
			{abi.RouteServer, fmt.Sprintf("api/nosrv%d", i)},
			{abi.RouteServer, fmt.Sprintf("nobe%d/s1", i)},
			{abi.RouteService, fmt.Sprintf("nosvc%d", i)},
		} {
			if st := in.setRoute(ctx, c.kind, []byte(c.name)); st != abi.ErrNotFound {
				t.Fatalf("route_set(%v, %q) = %v, want ERR_NOT_FOUND", c.kind, c.name, st)
			}
		}
	}
	if len(in.names) != 0 {
		t.Fatalf("%d unknown names interned", len(in.names))
	}
	if rt := RouteOf(ctx.Strm); rt != nil {
		t.Fatalf("refused names left a route: %+v", *rt)
	}
	for _, c := range []struct {
		kind abi.RouteKind
		name string
	}{{abi.RouteBackend, "api"}, {abi.RouteServer, "api/s1"}, {abi.RouteServer, "s1"}, {abi.RouteService, "stats"}} {
		if st := in.setRoute(ctx, c.kind, []byte(c.name)); st != abi.OK {
			t.Fatalf("route_set(%v, %q) = %v", c.kind, c.name, st)
		}
	}
	if rt := RouteOf(ctx.Strm); rt == nil || rt.Backend != "api" || rt.Server != "s1" || rt.Service != "stats" {
		t.Fatalf("route = %+v", rt)
	}
	if len(in.names) != 3 {
		t.Errorf("interned %v, want api, s1 and stats", in.names)
	}
	// Valid names, now interned, cost nothing however many were refused.
	name := []byte("api/s1")
	if n := testing.AllocsPerRun(100, func() { in.setRoute(ctx, abi.RouteServer, name) }); n != 0 {
		t.Errorf("route_set of an interned name: %v allocs", n)
	}
}
