package fetch

import (
	"github.com/strata-proxy/strata/core/sample"
	"testing"
)

// The run path must not allocate: every fetch and converter below is
// evaluated repeatedly with a reset scratch arena.
func TestExpr_EvalAllocs(t *testing.T) {
	exprs := []string{
		"req.hdr(host),lower", "req.hdr(x-a,2)", "req.fhdr(x-a)", "req.hdr_cnt(x-a)", "base", "base,lower",
		"url_param(y)", "req.cook(c)", "src", "src,ipmask(24)", "src,ipmask(24),hex", "src_port,upper",
		"path,map(hosts.map,x)", "path,map_beg(paths.map,x)", "src,map_ip(nets.map,x)",
		"req.hdr(host),upper,base64", "req.hdr(host),json(utf8)", "req.payload(0,3),hex",
		"var(txn.user)", "var(txn.none,dflt)", "fe_name,length", "req.hdr_ip(x-fwd,1)", "str(x),map_str_int(ports.map,0)",
	}
	r := NewRegistry()
	cache := NewMapCache()
	ctx := testCtx(defaultReq())
	ctx.Strm.Vars.Set("user", sample.Str([]byte("bob")))
	for _, src := range exprs {
		t.Run(src, func(t *testing.T) {
			e, err := r.ParseExpr(src, ParseOptions{Dir: "testdata", Maps: cache})
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(200, func() {
				ctx.ResetScratch()
				e.Eval(ctx)
				var cur uint64
				for {
					_, next, _, more := e.EvalNext(ctx, cur)
					if !more {
						break
					}
					cur = next
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocs per evaluation, want 0", src, allocs)
			}
		})
	}
}

func BenchmarkExprEval(b *testing.B) {
	benches := []struct{ name, src string }{
		{"req.hdr(host),lower", "req.hdr(host),lower"},
		{"base", "base"},
		{"src,ipmask(24)", "src,ipmask(24)"},
		{"path,map_beg", "path,map_beg(paths.map,x)"},
		{"req.hdr(host),map", "req.hdr(host),lower,map(hosts.map,x)"},
	}
	r := NewRegistry()
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			e, err := r.ParseExpr(bc.src, ParseOptions{Dir: "testdata", Maps: NewMapCache()})
			if err != nil {
				b.Fatal(err)
			}
			ctx := testCtx(defaultReq())
			b.ReportAllocs()
			for b.Loop() {
				ctx.ResetScratch()
				if _, ok := e.Eval(ctx); !ok {
					b.Fatal("no sample")
				}
			}
		})
	}
}
