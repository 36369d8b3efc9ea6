package rules

import (
	"strings"
	"testing"
)

func TestTarget_Eval(t *testing.T) {
	env := httpEnv()
	if err := env.DefineACL("is_api", "hdr(host) -i api.example.com"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     string
		host    string
		dynamic bool
		want    string
		ok      bool
	}{
		{"static", "be_main", "x", false, "be_main", true},
		{"static if true", "be_api if is_api", "API.example.com", false, "be_api", true},
		{"static if false", "be_api if is_api", "www.example.com", false, "", false},
		{"static unless", "be_api unless is_api", "www.example.com", false, "be_api", true},
		{"dynamic", "be_%[req.hdr(host),lower]", "WWW", true, "be_www", true},
		{"dynamic map", "%[req.hdr(host),lower,map(hosts.map)]", "Api.Example.com", true, "be_api", true},
		{"dynamic map miss", "%[req.hdr(host),lower,map(hosts.map)]", "other", true, "", false},
		{"dynamic no sample", "be_%[req.hdr(nope)]", "x", true, "", false},
		{"dynamic with cond", "%[req.hdr(host)] if { path /x }", "h", true, "", false},
		{"constant log-format is static", "be_100%%", "x", false, "be_100%", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := CompileTarget(UseBackend, tc.src, env)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Dynamic() != tc.dynamic {
				t.Errorf("Dynamic = %v", tg.Dynamic())
			}
			ctx := httpCtx(newRequest("GET", "/", "Host: "+tc.host))
			got, ok := tg.Eval(ctx, []byte("prefix:"))
			if ok != tc.ok || string(got) != "prefix:"+tc.want {
				t.Errorf("Eval = %q %v, want %q %v", got, ok, "prefix:"+tc.want, tc.ok)
			}
		})
	}
}

func TestSelectTarget(t *testing.T) {
	env := httpEnv()
	var ts []*Target
	for _, src := range []string{
		"be_static if { path_beg /static/ }",
		"%[req.hdr(host),lower,map(hosts.map)]",
		"be_default",
	} {
		tg, err := CompileTarget(UseBackend, src, env)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tg)
	}
	tests := []struct{ name, path, host, want string }{
		{"first", "/static/a", "api.example.com", "be_static"},
		{"map", "/x", "API.example.com", "be_api"},
		{"default", "/x", "unknown", "be_default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := SelectTarget(ts, httpCtx(newRequest("GET", tc.path, "Host: "+tc.host)), nil)
			if !ok || string(got) != tc.want {
				t.Errorf("SelectTarget = %q %v, want %q", got, ok, tc.want)
			}
		})
	}
	if _, ok := SelectTarget(ts[:1], httpCtx(newRequest("GET", "/")), nil); ok {
		t.Error("no target should match")
	}
}

func TestCompileTarget_Errors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"empty", "", "empty target"},
		{"condition first", "if { path /x }", "must come before"},
		{"two names", "a b if TRUE", "got 2 words"},
		{"bad format", "be_%[nope]", `unknown fetch "nope"`},
		{"bad cond", "be if nope_acl", `unknown ACL "nope_acl"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileTarget(UseBackend, tc.src, httpEnv())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLogFormat(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    string
		isConst bool
	}{
		{"literal", "hello", "hello", true},
		{"empty", "", "", true},
		{"percent", "100%%", "100%", true},
		{"sample", "x-%[req.hdr(host),lower]-%[src]", "x-www.example.com-192.0.2.10", false},
		{"missing sample is empty", "[%[req.hdr(nope)]]", "[]", false},
		{"int sample", "%[dst_port]", "443", false},
		{"aliases", "%ci:%cp %HM %HU %HP %f", "192.0.2.10:51234 GET /p?q=1 /p web", false},
		{"alias then text", "%ci-x", "192.0.2.10-x", false},
		{"brackets in args", "%[req.hdr(x-b),map_reg(brackets.map,none)]", "none", false},
		{"quoted bracket", `%[str(']'),length]`, "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lf, err := ParseLogFormat(tc.src, HTTPRequest, &Env{HTTP: true, Dir: t.TempDir()})
			if tc.name == "brackets in args" {
				if err == nil || !strings.Contains(err.Error(), "brackets.map") {
					t.Fatalf("err = %v, want the map file to be looked up", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := lf.Const(); ok != tc.isConst {
				t.Errorf("Const ok = %v", ok)
			}
			ctx := httpCtx(newRequest("GET", "/p?q=1", "Host: WWW.Example.com"))
			if got := string(lf.Append([]byte(nil), ctx)); got != tc.want {
				t.Errorf("Append = %q, want %q", got, tc.want)
			}
			if lf.String() != tc.src {
				t.Errorf("String = %q", lf.String())
			}
		})
	}
	if _, err := ParseLogFormat("%[req.hdr(host)]", TCPConnection, &Env{}); err == nil ||
		!strings.Contains(err.Error(), `fetch "req.hdr" needs layer TXN, which does not exist at tcp-request connection`) {
		t.Errorf("layer check: %v", err)
	}
	if _, err := ParseLogFormat("%{+Q}[src]", HTTPRequest, &Env{HTTP: true}); err == nil {
		t.Error("options accepted")
	}
}
