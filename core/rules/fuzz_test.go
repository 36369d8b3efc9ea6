package rules

import (
	"testing"

	"github.com/strata-proxy/strata/core/fetch"
)

// FuzzCompile feeds untrusted configuration text to every parser of this
// package: no input may make it panic, and what compiles must evaluate
// without panicking in the contexts of its point. Seeds live in
// testdata/fuzz/FuzzCompile.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"deny status 429 if { sc0_http_req_rate gt 100 }",
		"set-header X-Host %[req.hdr(host),lower] if !{ path_beg /static/ } || METH_POST",
		`redirect scheme https code 301 drop-query if { hdr(host) -i -m dom example.com }`,
		`replace-header Cookie foo=([^;]*);(.*) foo=\1;ip=%[src];\2`,
		"set-var(txn.x) req.hdr(x-a,-1),map_beg(hosts.map,none)",
		"return status 200 content-type text/plain lf-string \"%[path] %ci\"",
	} {
		f.Add(s)
	}
	ctxs := func() []*fetch.Ctx {
		return []*fetch.Ctx{
			tcpCtx(),
			httpCtx(newRequest("GET", "/api/x?y=1", "Host: www.example.com", "Cookie: a=1", "X-A: 1, 2")),
			withResponse(httpCtx(newRequest("POST", "/", "Host: h")), 503, "Server: s"),
			{},
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		for p := Point(0); p < numPoints; p++ {
			for _, mode := range []bool{true, false} {
				env := &Env{HTTP: mode, Dir: "testdata", Maps: fetch.NewMapCache()}
				_ = env.DefineACL("fz", src)
				if r, err := Compile(p, src, env); err == nil {
					for _, ctx := range ctxs() {
						r.Eval(ctx)
					}
				}
				if tg, err := CompileTarget(p, src, env); err == nil {
					for _, ctx := range ctxs() {
						tg.Eval(ctx, nil)
					}
				}
				if lf, err := ParseLogFormat(src, p, env); err == nil {
					for _, ctx := range ctxs() {
						lf.Append(nil, ctx)
					}
				}
			}
		}
	})
}
