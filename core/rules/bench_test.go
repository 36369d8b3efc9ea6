package rules

import (
	"testing"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
)

// benchSet is the 3-rule http-request set of the benchmark.
var benchRules = []string{
	"set-header X-Path %[path]",
	"deny if { path_beg /admin }",
	"allow",
}

// resetRequest starts a new transaction on ctx the way the engine does,
// reusing storage.
func resetRequest(ctx *fetch.Ctx, tmpl h1.Request) {
	t := ctx.Txn
	t.Reset()
	fs := append(t.Req.Fields[:0], tmpl.Fields...)
	t.Req = tmpl
	t.Req.Fields = fs
}

func benchCtx() (*fetch.Ctx, h1.Request) {
	tmpl := newRequest("GET", "/api/users?id=7", "Host: www.example.com", "User-Agent: bench", "Accept: */*")
	ctx := httpCtx(tmpl)
	ctx.Txn.Req.Fields = make([]h1.Field, 0, 16)
	return ctx, tmpl
}

func TestSet_EvalAllocs(t *testing.T) {
	set, err := CompileSet(HTTPRequest, benchRules, httpEnv())
	if err != nil {
		t.Fatal(err)
	}
	ctx, tmpl := benchCtx()
	allocs := testing.AllocsPerRun(500, func() {
		resetRequest(ctx, tmpl)
		if v := set.Eval(ctx); v.Kind != Allow {
			t.Fatalf("verdict %s", v.Kind)
		}
	})
	if allocs != 0 {
		t.Errorf("Set.Eval allocates %v times per request, want 0", allocs)
	}
	if got := header(ctx.Txn.Req.Fields, "x-path"); got != "/api/users" {
		t.Errorf("x-path = %q", got)
	}
}

// Conditions, targets and the zero-allocation actions on the plain path.
func TestRules_EvalAllocs(t *testing.T) {
	env := httpEnv()
	if err := env.DefineACL("is_api", "path_beg /api/ /v2/"); err != nil {
		t.Fatal(err)
	}
	if err := env.DefineACL("static", "path_end .png .css .js"); err != nil {
		t.Fatal(err)
	}
	rules := []string{
		"deny if !is_api static",
		"deny if { hdr(host) -i -m dom blocked.example }",
		"deny if { src -f blocked.lst }",
		"deny if { req.hdr(user-agent) -m reg -i (curl|wget) }",
		"add-header X-Client %[src]",
		"set-header X-Host %[req.hdr(host),lower]",
		"del-header X-Debug",
		"set-var(txn.host) req.hdr(host),lower",
		"set-var-fmt(txn.tag) %[src]-%[path]",
		"return status 200 content-type text/plain lf-string %[path] if { path /health }",
		"allow if { method GET HEAD } { var(txn.host) -m end .example.com }",
	}
	set, err := CompileSet(HTTPRequest, rules, env)
	if err != nil {
		t.Fatal(err)
	}
	target, err := CompileTarget(UseBackend, "be_%[req.hdr(host),lower,map(hosts.map)] if is_api", env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, tmpl := benchCtx()
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(500, func() {
		resetRequest(ctx, tmpl)
		if v := set.Eval(ctx); v.Kind != Allow {
			t.Fatalf("verdict %s", v.Kind)
		}
		if out, ok := target.Eval(ctx, dst[:0]); !ok || string(out) != "be_be_www" {
			t.Fatalf("target = %q %v", out, ok)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per request, want 0", allocs)
	}
}

func BenchmarkSetEval(b *testing.B) {
	set, err := CompileSet(HTTPRequest, benchRules, httpEnv())
	if err != nil {
		b.Fatal(err)
	}
	ctx, tmpl := benchCtx()
	b.ReportAllocs()
	for b.Loop() {
		resetRequest(ctx, tmpl)
		if v := set.Eval(ctx); v.Kind != Allow {
			b.Fatalf("verdict %s", v.Kind)
		}
	}
}

func BenchmarkExprEval(b *testing.B) {
	x, err := httpEnv().parseExpr("req.hdr(host),lower", HTTPRequest)
	if err != nil {
		b.Fatal(err)
	}
	ctx, _ := benchCtx()
	ctx.Txn.Req.Fields = fields("Host: WWW.Example.com", "User-Agent: bench", "Accept: */*")
	b.ReportAllocs()
	for b.Loop() {
		ctx.ResetScratch()
		if _, ok := x.Eval(ctx); !ok {
			b.Fatal("no sample")
		}
	}
}

func BenchmarkTargetSelect(b *testing.B) {
	env := httpEnv()
	var ts []*Target
	for _, src := range []string{"be_static if { path_beg /static/ }", "%[req.hdr(host),lower,map(hosts.map)]", "be_default"} {
		t, err := CompileTarget(UseBackend, src, env)
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, t)
	}
	ctx, _ := benchCtx()
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := SelectTarget(ts, ctx, dst[:0]); !ok {
			b.Fatal("no target")
		}
	}
}
