package plugins

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
)

// BenchmarkFetch measures one guest fetch call through the core registry
// (Expr.Eval → host → guest → host → back). bench_hdr makes one host call
// (req_header_get) besides setting its result; bench_const makes only the
// result call. "deadline" runs with call_timeout (the default), "nodeadline"
// with call_timeout off, to show what enforcing the deadline costs.
func BenchmarkFetch(b *testing.B) {
	for _, bc := range []struct {
		name    string
		timeout time.Duration
	}{{"deadline", 5 * time.Second}, {"nodeadline", -1}} {
		e := newEnv(b)
		e.load(b, Config{Name: "misbehave", File: wasmFile(b, "misbehave"), InstancesMax: 1, CallTimeout: bc.timeout, Grants: []string{"headers", "vars"}})
		for _, fn := range []string{"bench_hdr", "bench_const"} {
			b.Run(bc.name+"/"+fn, func(b *testing.B) {
				x, err := e.reg.ParseExpr(fn, fetch.ParseOptions{})
				if err != nil {
					b.Fatal(err)
				}
				ctx := httpCtx("host", "example.com")
				if _, ok := x.Eval(ctx); !ok {
					b.Fatal("no sample")
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					ctx.ResetScratch()
					if _, ok := x.Eval(ctx); !ok {
						b.Fatalf("no sample: %+v\n%s", e.host.Plugins()[0].Stats(), e.logs.String())
					}
				}
			})
		}
	}
}

// TestFetch_HostSideAllocations holds the host side allocation-free: a
// guest fetch call that makes a host call allocates nothing, with
// call_timeout off and on.
func TestFetch_HostSideAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a Go plugin")
	}
	for _, timeout := range []time.Duration{-1, 5 * time.Second} {
		e := newEnv(t)
		e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, CallTimeout: timeout})
		x, err := e.reg.ParseExpr("bench_hdr", fetch.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := httpCtx("host", "example.com")
		x.Eval(ctx)
		allocs := testing.AllocsPerRun(200, func() {
			ctx.ResetScratch()
			x.Eval(ctx)
		})
		if allocs != 0 {
			t.Errorf("call_timeout %v: %v allocations per call", timeout, allocs)
		}
	}
}

// BenchmarkAction_PathHeader measures one call of the pathheader example's
// action through the host (Action.Do → guest → path and header host calls
// → verdict), the unit the Go SDK's per-call cost shows in.
func BenchmarkAction_PathHeader(b *testing.B) {
	benchPathHeader(b, wasmFile(b, "pathheader"))
}

// BenchmarkAction_PathHeaderWAT is the same action in WebAssembly text,
// without an SDK or a language runtime: the host's share of the call.
func BenchmarkAction_PathHeaderWAT(b *testing.B) {
	benchPathHeader(b, pathHeaderWAT(b))
}

// pathHeaderWAT assembles examples/plugins/pathheader/pathheader.wat.
func pathHeaderWAT(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	out := filepath.Join(t.TempDir(), "pathheader-wat.wasm")
	if b, err := exec.Command("wat2wasm", "../examples/plugins/pathheader/pathheader.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	return out
}

// TestAction_PathHeaderWAT checks the WebAssembly text version of the
// action, which the benchmarks compare with the Go one: it sets the named
// header to the path.
func TestAction_PathHeaderWAT(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "pathheader", File: pathHeaderWAT(t), Grants: []string{"headers"}})
	for _, args := range [][]string{nil, {"x-p"}} {
		a, err := p.NewAction("path_header", abi.PointHTTPRequest, args...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := httpCtx("host", "example.com")
		if v, err := a.Err(ctx); err != nil || v.Kind != 0 {
			t.Fatalf("%v: verdict %+v, err %v", args, v, err)
		}
		name := "x-path"
		if args != nil {
			name = args[0]
		}
		if got := headerValue(ctx, name); got != "/api/users" {
			t.Errorf("%v: %s = %q", args, name, got)
		}
	}
}

// headerValue returns the request header called name of ctx's transaction.
func headerValue(ctx *fetch.Ctx, name string) string {
	for _, f := range ctx.Txn.Req.Fields {
		if string(f.Name) == name {
			return string(f.Value)
		}
	}
	return ""
}

func benchPathHeader(b *testing.B, file string) {
	e := newEnv(b)
	p := e.load(b, Config{Name: "pathheader", File: file, InstancesMax: 1, CallTimeout: 5 * time.Second, Grants: []string{"headers"}})
	a, err := p.NewAction("path_header", abi.PointHTTPRequest, "x-path")
	if err != nil {
		b.Fatal(err)
	}
	ctx := httpCtx("host", "example.com")
	if _, err := a.Err(ctx); err != nil {
		b.Fatal(err)
	}
	if got := headerValue(ctx, "x-path"); got != "/api/users" {
		b.Fatalf("x-path %q", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a.Err(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSDK_GuestAllocations holds the Go SDK's common paths allocation-free
// inside the guest: an action that reads an argument, the path and a
// header with the append-style calls and sets a header from bytes
// allocates nothing per call (the guest runtime's own malloc count).
func TestSDK_GuestAllocations(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1})
	a, err := p.NewAction("bench_append", abi.PointHTTPRequest, "x-p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpCtx("host", "example.com")
	for range 10 { // grows the guest's buffers once
		if _, err := a.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before, ok := e.eval(t, "mallocs", ctx)
	if !ok {
		t.Fatal("mallocs failed")
	}
	for range 100 {
		if _, err := a.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := e.eval(t, "mallocs", ctx)
	if n := after.Int - before.Int; n != 0 {
		t.Errorf("%d guest allocations in 100 calls", n)
	}
	if got := headerValue(ctx, "x-p"); got != "/api/users example.com" {
		t.Errorf("x-p %q", got)
	}
}
