package rules

import (
	"fmt"
	"sync"
	"testing"

	"github.com/strata-proxy/strata/core/h1"
)

// Compiled rules, ACLs, maps and targets are shared by every connection
// goroutine; each goroutine has its own Ctx. Run under -race.
func TestSet_Hammer(t *testing.T) {
	env := httpEnv()
	if err := env.DefineACL("is_api", "path_beg /api/"); err != nil {
		t.Fatal(err)
	}
	set, err := CompileSet(HTTPRequest, []string{
		"set-var(txn.host) req.hdr(host),lower",
		"set-header X-Backend %[var(txn.host),map(hosts.map,none)]",
		"replace-value X-List ^a(.*)$ b\\1",
		"deny status 429 if is_api { req.hdr(x-n),length gt 3 }",
		"allow",
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	target, err := CompileTarget(UseBackend, "%[req.hdr(host),lower,map(hosts.map)]", env)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := "api.example.com"
			if g%2 == 1 {
				host = "WWW.example.com"
			}
			tmpl := newRequest("GET", "/api/x", "Host: "+host, "X-N: "+fmt.Sprint(g*500), "X-List: a1, a2")
			ctx := httpCtx(tmpl)
			ctx.Txn.Req.Fields = make([]h1.Field, 0, 8)
			var dst []byte
			for i := 0; i < 2000; i++ {
				resetRequest(ctx, tmpl)
				v := set.Eval(ctx)
				wantDeny := g*500 >= 1000
				if (v.Kind == Deny) != wantDeny {
					t.Errorf("goroutine %d: verdict %s", g, v.Kind)
					return
				}
				if !wantDeny && header(ctx.Txn.Req.Fields, "x-list") != "b1,b2" {
					t.Errorf("goroutine %d: x-list %q", g, header(ctx.Txn.Req.Fields, "x-list"))
					return
				}
				var ok bool
				if dst, ok = target.Eval(ctx, dst[:0]); !ok {
					t.Errorf("goroutine %d: no target", g)
					return
				}
			}
		}()
	}
	wg.Wait()
}
