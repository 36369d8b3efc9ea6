package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/session"
)

func TestActions_Verdicts(t *testing.T) {
	tests := []struct {
		name     string
		p        Point
		rule     string
		req      string // request URI
		kind     VerdictKind
		status   int
		ctype    string
		body     string
		location string
	}{
		{name: "tcp accept", p: TCPConnection, rule: "accept", kind: Accept},
		{name: "tcp reject", p: TCPSession, rule: "reject", kind: Reject},
		{name: "tcp content accept", p: TCPContent, rule: "accept if { req.len gt 0 }", kind: Accept},
		{name: "allow", p: HTTPRequest, rule: "allow", kind: Allow},
		{name: "http reject", p: HTTPRequest, rule: "reject", kind: Reject},
		{name: "deny default", p: HTTPRequest, rule: "deny", kind: Deny, status: 403},
		{name: "deny status", p: HTTPRequest, rule: "deny status 429", kind: Deny, status: 429},
		{name: "deny deny_status", p: HTTPRequest, rule: "deny deny_status 401", kind: Deny, status: 401},
		{name: "deny with body", p: HTTPRequest, rule: `deny status 403 content-type text/plain string "go away"`, kind: Deny, status: 403, ctype: "text/plain", body: "go away"},
		{name: "deny lf body", p: HTTPRequest, rule: `deny content-type text/plain lf-string "no %[path] for %[src]"`, req: "/x", kind: Deny, status: 403, ctype: "text/plain", body: "no /x for 192.0.2.10"},
		{name: "http-response deny", p: HTTPResponse, rule: "deny status 502", kind: Deny, status: 502},
		{name: "return default", p: HTTPRequest, rule: "return", kind: Return, status: 200},
		{name: "return string", p: HTTPRequest, rule: `return status 200 content-type "text/plain; charset=utf-8" string ok`, kind: Return, status: 200, ctype: "text/plain; charset=utf-8", body: "ok"},
		{name: "return lf-string", p: HTTPRequest, rule: `return status 404 content-type text/html lf-string "<p>%[path,json]</p>"`, req: "/a\"b", kind: Return, status: 404, ctype: "text/html", body: `<p>\/a\"b</p>`},
		{name: "return constant lf-string", p: HTTPRequest, rule: `return content-type text/plain lf-string "100%%"`, kind: Return, status: 200, ctype: "text/plain", body: "100%"},
		{name: "redirect location", p: HTTPRequest, rule: "redirect location https://example.com/", kind: Redirect, status: 302, location: "https://example.com/"},
		{name: "redirect location lf", p: HTTPRequest, rule: "redirect code 301 location https://www.%[hdr(host)]%[url]", req: "/p?q=1", kind: Redirect, status: 301, location: "https://www.example.com/p?q=1"},
		{name: "redirect prefix", p: HTTPRequest, rule: "redirect prefix https://b.example", req: "/p/x?q=1", kind: Redirect, status: 302, location: "https://b.example/p/x?q=1"},
		{name: "redirect prefix slash", p: HTTPRequest, rule: "redirect prefix /", req: "/p/x?q=1", kind: Redirect, status: 302, location: "/p/x?q=1"},
		{name: "redirect prefix drop-query", p: HTTPRequest, rule: "redirect prefix /pre drop-query", req: "/p/x?q=1", kind: Redirect, status: 302, location: "/pre/p/x"},
		{name: "redirect append-slash", p: HTTPRequest, rule: "redirect code 301 prefix / drop-query append-slash", req: "/article?x", kind: Redirect, status: 301, location: "/article/"},
		{name: "redirect append-slash keeps query", p: HTTPRequest, rule: "redirect prefix /p append-slash", req: "/a?x=1", kind: Redirect, status: 302, location: "/p/a/?x=1"},
		{name: "redirect scheme", p: HTTPRequest, rule: "redirect scheme https code 308", req: "/a?b", kind: Redirect, status: 308, location: "https://example.com/a?b"},
		{name: "redirect scheme drop-query", p: HTTPRequest, rule: "redirect scheme https drop-query", req: "/a?b", kind: Redirect, status: 302, location: "https://example.com/a"},
		{name: "redirect ignore-empty", p: HTTPRequest, rule: "redirect location %[req.hdr(x-nope)] ignore-empty", kind: Continue},
		{name: "redirect map", p: HTTPRequest, rule: "redirect location %[hdr(host),map(hosts.map)] ignore-empty", kind: Continue},
		{name: "set-header continues", p: HTTPRequest, rule: "set-header X-A b", kind: Continue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uri := tc.req
			if uri == "" {
				uri = "/"
			}
			ctx := httpCtx(newRequest("GET", uri, "Host: example.com"))
			withResponse(ctx, 200)
			env := httpEnv()
			r := mustCompile(t, tc.p, tc.rule, env)
			v := (&Set{Rules: []*Rule{r}}).Eval(ctx)
			if v.Kind != tc.kind {
				t.Fatalf("verdict %s, want %s", v.Kind, tc.kind)
			}
			if v.Kind != Continue && v.Rule != r {
				t.Error("verdict does not point at its rule")
			}
			if v.Status != tc.status || string(v.ContentType) != tc.ctype || string(v.Body) != tc.body || string(v.Location) != tc.location {
				t.Errorf("verdict = status %d type %q body %q location %q; want %d %q %q %q",
					v.Status, v.ContentType, v.Body, v.Location, tc.status, tc.ctype, tc.body, tc.location)
			}
		})
	}
}

func TestActions_HeaderEdits(t *testing.T) {
	tests := []struct {
		name   string
		p      Point
		rules  []string
		hdrs   []string // request fields (response fields for response points)
		check  string   // header to inspect
		want   string   // its values joined with "|"
		edited bool
	}{
		{name: "set-header replaces", p: HTTPRequest, rules: []string{"set-header X-A new"}, hdrs: []string{"X-A: 1", "x-a: 2"}, check: "x-a", want: "new", edited: true},
		{name: "set-header from sample", p: HTTPRequest, rules: []string{"set-header X-Host %[req.hdr(host),lower]-%[src]"}, hdrs: []string{"Host: WWW.Example.com"}, check: "x-host", want: "www.example.com-192.0.2.10", edited: true},
		{name: "set-header missing sample is empty", p: HTTPRequest, rules: []string{"set-header X-M %[req.hdr(nope)]"}, check: "x-m", want: "", edited: true},
		{name: "set-header sanitises", p: HTTPRequest, rules: []string{"set-header X-V %[req.hdr(x-in)]"}, hdrs: []string{"X-In: a\r\nInjected: 1"}, check: "x-v", want: "a  Injected: 1", edited: true},
		{name: "add-header appends", p: HTTPRequest, rules: []string{"add-header X-A 3"}, hdrs: []string{"X-A: 1"}, check: "x-a", want: "1|3", edited: true},
		{name: "del-header", p: HTTPRequest, rules: []string{"del-header x-a"}, hdrs: []string{"X-A: 1", "X-B: 2", "x-A: 3"}, check: "x-a", want: "", edited: true},
		{name: "del-header absent not edited", p: HTTPRequest, rules: []string{"del-header x-zz"}, hdrs: []string{"X-A: 1"}, check: "x-a", want: "1", edited: false},
		{name: "del-header -m beg", p: HTTPRequest, rules: []string{"del-header x-debug- -m beg", "set-header X-Left %[req.hdr_cnt]"}, hdrs: []string{"X-Debug-A: 1", "x-debug-b: 2", "X-A: 3"}, check: "x-left", want: "1", edited: true},
		{name: "del-header -m reg", p: HTTPRequest, rules: []string{`del-header ^X-[0-9]+$ -m reg`, "set-header X-Left %[req.fhdr_cnt]"}, hdrs: []string{"X-1: a", "X-22: b", "X-A: c"}, check: "x-left", want: "1", edited: true},
		{name: "replace-header whole value", p: HTTPRequest, rules: []string{`replace-header X-R ^a(.*)$ X\1Y`}, hdrs: []string{"X-R: abc, ade", "X-R: b"}, check: "x-r", want: "Xbc, adeY|b", edited: true},
		{name: "replace-header cookie example", p: HTTPRequest, rules: []string{`replace-header Cookie foo=([^;]*);(.*) foo=\1;ip=%[src];\2`}, hdrs: []string{"Cookie: foo=1;bar=2"}, check: "cookie", want: "foo=1;ip=192.0.2.10;bar=2", edited: true},
		{name: "replace-header no match", p: HTTPRequest, rules: []string{`replace-header X-R ^z(.*)$ \1`}, hdrs: []string{"X-R: abc"}, check: "x-r", want: "abc", edited: false},
		{name: "replace-value per value", p: HTTPRequest, rules: []string{`replace-value X-V ^a(.*)$ X\1Y`}, hdrs: []string{"X-V: abc, ade, b"}, check: "x-v", want: "XbcY,XdeY, b", edited: true},
		{name: "replace-value forwarded-for", p: HTTPRequest, rules: []string{`replace-value X-Forwarded-For ^192\.168\.(.*)$ 172.16.\1`}, hdrs: []string{"X-Forwarded-For: 192.168.10.1, 192.168.13.24, 10.0.0.37"}, check: "x-forwarded-for", want: "172.16.10.1,172.16.13.24, 10.0.0.37", edited: true},
		{name: "response set-header", p: HTTPResponse, rules: []string{"set-header Server strata"}, hdrs: []string{"Server: x"}, check: "server", want: "strata", edited: true},
		{name: "after-response add-header", p: HTTPAfterResponse, rules: []string{"add-header Strict-Transport-Security max-age=31536000"}, check: "strict-transport-security", want: "max-age=31536000", edited: true},
		{name: "response hdr reads response", p: HTTPResponse, rules: []string{"set-header X-Echo %[hdr(x-src)]"}, hdrs: []string{"X-Src: from-server"}, check: "x-echo", want: "from-server", edited: true},
		{name: "response del-header", p: HTTPResponse, rules: []string{"del-header X-Powered-By"}, hdrs: []string{"X-Powered-By: php"}, check: "x-powered-by", want: "", edited: true},
		{name: "response replace-value", p: HTTPAfterResponse, rules: []string{"replace-value Cache-Control ^public$ private"}, hdrs: []string{"Cache-Control: public, max-age=60"}, check: "cache-control", want: "private, max-age=60", edited: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := httpEnv()
			set, err := CompileSet(tc.p, tc.rules, env)
			if err != nil {
				t.Fatal(err)
			}
			var ctx *fetch.Ctx
			if tc.p.isResponse() {
				ctx = withResponse(httpCtx(newRequest("GET", "/")), 200, tc.hdrs...)
			} else {
				ctx = httpCtx(newRequest("GET", "/", tc.hdrs...))
			}
			if v := set.Eval(ctx); v.Kind != Continue {
				t.Fatalf("verdict %s", v.Kind)
			}
			fs, edited := ctx.Txn.Req.Fields, ctx.Txn.ReqEdited
			if tc.p.isResponse() {
				fs, edited = ctx.Txn.Resp.Fields, ctx.Txn.RespEdited
			}
			if got := header(fs, tc.check); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.check, got, tc.want)
			}
			if edited != tc.edited {
				t.Errorf("edited = %v, want %v", edited, tc.edited)
			}
		})
	}
}

func TestActions_RequestLineAndStatus(t *testing.T) {
	tests := []struct {
		name   string
		p      Point
		rule   string
		uri    string
		method string
		path   string
		query  string
		status int
		reason string
	}{
		{name: "set-path", p: HTTPRequest, rule: "set-path /v2%[path]", uri: "/x?a=1", method: "GET", path: "/v2/x", query: "a=1"},
		{name: "set-query", p: HTTPRequest, rule: "set-query b=%[url_param(a)]", uri: "/x?a=1", method: "GET", path: "/x", query: "b=1"},
		{name: "set-query empty removes", p: HTTPRequest, rule: `set-query ""`, uri: "/x?a=1", method: "GET", path: "/x"},
		{name: "set-method", p: HTTPRequest, rule: "set-method POST", uri: "/x", method: "POST", path: "/x"},
		{name: "set-path refuses spaces", p: HTTPRequest, rule: "set-path %[req.hdr(x-p)]", uri: "/x", method: "GET", path: "/x"},
		{name: "set-status", p: HTTPResponse, rule: "set-status 503", uri: "/", method: "GET", path: "/", status: 503, reason: "Service Unavailable"},
		{name: "set-status reason", p: HTTPAfterResponse, rule: `set-status 299 reason "All Good"`, uri: "/", method: "GET", path: "/", status: 299, reason: "All Good"},
		{name: "set-status unknown code", p: HTTPResponse, rule: "set-status 299", uri: "/", method: "GET", path: "/", status: 299, reason: "Success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := withResponse(httpCtx(newRequest("GET", tc.uri, "X-P: /a b")), 200)
			r := mustCompile(t, tc.p, tc.rule, httpEnv())
			r.Eval(ctx)
			req := ctx.Txn.Req
			if string(req.Method) != tc.method || string(req.Path) != tc.path || string(req.Query) != tc.query {
				t.Errorf("request line = %s %s ? %s, want %s %s ? %s", req.Method, req.Path, req.Query, tc.method, tc.path, tc.query)
			}
			if tc.status != 0 && (ctx.Txn.Resp.Status != tc.status || string(ctx.Txn.Resp.Reason) != tc.reason || !ctx.Txn.RespEdited) {
				t.Errorf("status = %d %q (edited %v), want %d %q", ctx.Txn.Resp.Status, ctx.Txn.Resp.Reason, ctx.Txn.RespEdited, tc.status, tc.reason)
			}
		})
	}
}

func TestActions_Vars(t *testing.T) {
	env := &Env{HTTP: true}
	// tcp-request connection sees the session.
	ctx := tcpCtx()
	set, err := CompileSet(TCPConnection, []string{
		"set-var(sess.client) src",
		"set-var(sess.port) src_port",
		"set-var-fmt(sess.tag) %[src]:%[src_port]",
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	set.Eval(ctx)
	for name, want := range map[string]string{"client": "192.0.2.10", "port": "51234", "tag": "192.0.2.10:51234"} {
		if v, ok := ctx.Sess.Vars.Get(name); !ok || v.String() != want {
			t.Errorf("sess.%s = %q %v, want %q", name, v.String(), ok, want)
		}
	}

	// http-request: txn vars, unset, and vars feeding later rules.
	hctx := httpCtx(newRequest("GET", "/api/x", "Host: a.example"))
	hset, err := CompileSet(HTTPRequest, []string{
		"set-var(txn.host) req.hdr(host),upper",
		"set-var(req.path) path",
		"set-var(proc.seen) int(1)",
		"set-var(txn.gone) str(x)",
		"unset-var(txn.gone)",
		"set-var(txn.none) req.hdr(nope)",
		"set-header X-Host %[var(txn.host)]",
		"deny if { var(txn.host) -m end .EXAMPLE } { var(req.path) -m beg /api }",
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	if v := hset.Eval(hctx); v.Kind != Deny {
		t.Errorf("verdict %s, want deny", v.Kind)
	}
	if got := header(hctx.Txn.Req.Fields, "x-host"); got != "A.EXAMPLE" {
		t.Errorf("x-host = %q", got)
	}
	if _, ok := hctx.Strm.Vars.Get("gone"); ok {
		t.Error("unset-var left txn.gone")
	}
	if _, ok := hctx.Strm.Vars.Get("none"); ok {
		t.Error("set-var with no sample set a variable")
	}
	if v, ok := hctx.Proc.Get("seen"); !ok || v.Int != 1 {
		t.Error("proc variable not set")
	}
}

func TestActions_Errors(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		rule string
		http bool
		want string
		is   error
	}{
		{"unknown action", HTTPRequest, "frobnicate", true, `unknown action "frobnicate" at http-request (known here:`, ErrUnknownAction},
		{"typo suggests", HTTPRequest, "set-heder X y", true, "did you mean set-header?", ErrUnknownAction},
		{"wrong point", HTTPResponse, "redirect location /", true, `"redirect" is not accepted at http-response; it is accepted at http-request`, ErrActionPoint},
		{"set-status at request", HTTPRequest, "set-status 200", true, "it is accepted at http-response, http-after-response", ErrActionPoint},
		{"accept at http", HTTPRequest, "accept", true, "it is accepted at tcp-request connection, tcp-request session, tcp-request content", ErrActionPoint},
		{"http rules need http mode", HTTPRequest, "allow", false, "http-request rules need mode http", ErrMode},
		{"target point", UseBackend, "allow", true, "use CompileTarget", ErrSyntax},
		{"empty", HTTPRequest, "   ", true, "empty rule", ErrSyntax},
		{"allow args", HTTPRequest, "allow now", true, "takes no arguments", ErrSyntax},
		{"deny bad status", HTTPRequest, "deny status 99", true, "from 200 to 599", ErrSyntax},
		{"deny body without type", HTTPRequest, "deny string nope", true, "content-type must be given", ErrSyntax},
		{"return 204 body", HTTPRequest, "return status 204 content-type text/plain string x", true, "has no body", ErrSyntax},
		{"return errorfile", HTTPRequest, "return errorfile /x", true, `option "errorfile"`, ErrUnsupported},
		{"return two bodies", HTTPRequest, "return content-type a string x lf-string y", true, "only one of", ErrSyntax},
		{"deny_status on return", HTTPRequest, "return deny_status 403", true, "unknown option", ErrSyntax},
		{"redirect no kind", HTTPRequest, "redirect code 301", true, "want location", ErrSyntax},
		{"redirect bad code", HTTPRequest, "redirect location / code 304", true, "want 301, 302, 303, 307 or 308", ErrSyntax},
		{"redirect cookie", HTTPRequest, "redirect location / set-cookie A=1", true, "set-cookie", ErrUnsupported},
		{"set-header arity", HTTPRequest, "set-header X", true, "want NAME FORMAT", ErrSyntax},
		{"set-header bad name", HTTPRequest, "set-header X:Y v", true, "not a valid header name", ErrSyntax},
		{"set-header log-format", HTTPRequest, "set-header X %[nope]", true, `unknown fetch "nope"`, fetch.ErrUnknownFetch},
		{"set-header bad alias", HTTPRequest, "set-header X %Z", true, "unknown variable %Z", ErrSyntax},
		{"set-header dangling percent", HTTPRequest, "set-header X 5%", true, "ends with '%'", ErrSyntax},
		{"set-header unclosed", HTTPRequest, "set-header X %[path", true, "missing ']'", ErrSyntax},
		{"replace-header bad regex", HTTPRequest, "replace-header X ( y", true, "regex", ErrSyntax},
		{"del-header bad method", HTTPRequest, "del-header X -m dom", true, "str, beg, end, sub or reg", ErrSyntax},
		{"set-var no parens", HTTPRequest, "set-var txn.x path", true, "in parentheses", ErrSyntax},
		{"set-var no expr", HTTPRequest, "set-var(txn.x)", true, "want set-var(scope.name) EXPR", ErrSyntax},
		{"set-var bad scope", HTTPRequest, "set-var(foo.x) path", true, `unknown scope "foo"`, fetch.ErrArgs},
		{"set-var condition", HTTPRequest, "set-var(txn.x,ifexists) path", true, "conditions", ErrUnsupported},
		{"set-var unclosed", HTTPRequest, "set-var(txn.x path", true, "missing ')'", ErrSyntax},
		{"set-status range", HTTPResponse, "set-status 1000", true, "from 100 to 999", ErrSyntax},
		{"set-method bad", HTTPRequest, `set-method "GE T"`, true, "not a valid method", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{HTTP: tc.http}
			_, err := Compile(tc.p, tc.rule, env)
			if err == nil {
				t.Fatal("compiled, want error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestActions_Register(t *testing.T) {
	acts := NewActions().Clone()
	var calls int
	check := func(args []string, env *Env) (Action, error) {
		list, rest, _ := ParenArgs(args)
		if len(rest) > 0 {
			return nil, errors.New("waf.check takes no words")
		}
		mode := "default"
		if len(list) > 0 {
			mode = list[0]
		}
		return ActionFunc(func(ctx *fetch.Ctx) Verdict {
			calls++
			if mode == "strict" {
				return Verdict{Kind: Deny, Status: 406}
			}
			return Verdict{}
		}), nil
	}
	if err := acts.Register("waf.check", []Point{HTTPRequest, TCPContent}, check); err != nil {
		t.Fatal(err)
	}
	if err := acts.Register("waf.check", []Point{HTTPRequest}, check); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate registration: %v", err)
	}
	if err := acts.Register("bad name", []Point{HTTPRequest}, check); err == nil {
		t.Error("bad name accepted")
	}
	if err := acts.Register("x", []Point{UseBackend}, check); !errors.Is(err, ErrActionPoint) {
		t.Errorf("registration at a target point: %v", err)
	}
	if _, err := Compile(HTTPRequest, "waf.check", &Env{HTTP: true}); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("plugin action leaked into the built-ins: %v", err)
	}
	env := &Env{HTTP: true, Actions: acts}
	set, err := CompileSet(HTTPRequest, []string{"waf.check", "waf.check(strict) if { path /admin }"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if v := set.Eval(httpCtx(newRequest("GET", "/admin"))); v.Kind != Deny || v.Status != 406 || calls != 2 {
		t.Errorf("verdict %v %d after %d calls", v.Kind, v.Status, calls)
	}
	if ps := acts.Points("waf.check"); len(ps) != 2 {
		t.Errorf("Points = %v", ps)
	}
}

func TestParenArgs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		list, rest string
		ok         bool
	}{
		{"list and rest", []string{"(txn.x,ifexists)", "path"}, "txn.x|ifexists", "path", true},
		{"empty list", []string{"()"}, "", "", true},
		{"no list", []string{"path"}, "", "path", false},
		{"nothing", nil, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, rest, ok := ParenArgs(tc.args)
			if ok != tc.ok || strings.Join(list, "|") != tc.list || strings.Join(rest, "|") != tc.rest {
				t.Errorf("ParenArgs = %q %q %v", list, rest, ok)
			}
		})
	}
}

func TestSet_EvalOrder(t *testing.T) {
	env := httpEnv()
	set, err := CompileSet(HTTPRequest, []string{
		"set-header X-1 a",
		"allow if { path /ok }",
		"set-header X-2 b",
		"deny",
		"set-header X-3 c",
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpCtx(newRequest("GET", "/ok"))
	if v := set.Eval(ctx); v.Kind != Allow || v.Rule != set.Rules[1] {
		t.Errorf("verdict %s by %v", v.Kind, v.Rule)
	}
	if header(ctx.Txn.Req.Fields, "x-1") != "a" || header(ctx.Txn.Req.Fields, "x-2") != "" {
		t.Error("rules after the final verdict ran, or before it did not")
	}
	ctx = httpCtx(newRequest("GET", "/no"))
	if v := set.Eval(ctx); v.Kind != Deny || v.Status != 403 {
		t.Errorf("verdict %s", v.Kind)
	}
	if header(ctx.Txn.Req.Fields, "x-3") != "" {
		t.Error("rule after deny ran")
	}
	var nilSet *Set
	if v := nilSet.Eval(ctx); v.Kind != Continue {
		t.Error("nil set did not continue")
	}
	if v := (&Set{}).Eval(ctx); v.Kind != Continue {
		t.Error("empty set did not continue")
	}
	_, err = CompileSet(HTTPRequest, []string{"allow", "bogus"}, env)
	if err == nil || !strings.HasPrefix(err.Error(), "rule 1: ") {
		t.Errorf("CompileSet error = %v", err)
	}
}

// Actions whose layer is missing at run time do nothing rather than panic.
func TestActions_AbsentLayers(t *testing.T) {
	env := httpEnv()
	rules := []struct {
		p    Point
		rule string
	}{
		{HTTPRequest, "set-header X %[path]"}, {HTTPRequest, "add-header X y"}, {HTTPRequest, "del-header X"},
		{HTTPRequest, "del-header X -m beg"}, {HTTPRequest, "replace-header X (.*) y"}, {HTTPRequest, "replace-value X (.*) y"},
		{HTTPRequest, "set-path /x"}, {HTTPRequest, "set-query x"}, {HTTPRequest, "set-method GET"},
		{HTTPRequest, "redirect prefix /x"}, {HTTPRequest, "return content-type a lf-string %[path]"},
		{HTTPRequest, "set-var(txn.x) path"}, {HTTPRequest, "set-var-fmt(sess.x) %[src]"}, {HTTPRequest, "unset-var(txn.x)"},
		{HTTPResponse, "set-status 500"}, {HTTPResponse, "set-header X y"}, {HTTPResponse, "set-var(proc.x) status"},
		{HTTPRequest, "allow if { req.hdr(x) y } || { src 10.0.0.0/8 } || { var(txn.x) -m found }"},
	}
	ctxs := map[string]*fetch.Ctx{"empty": {}, "tcp": tcpCtx(), "no response": httpCtx(newRequest("GET", "/"))}
	for _, r := range rules {
		rule := mustCompile(t, r.p, r.rule, env)
		for name, ctx := range ctxs {
			t.Run(r.rule+"/"+name, func(t *testing.T) { rule.Eval(ctx) })
		}
	}
}

// A rewrite that fails (a relative path would break the request line)
// ends the evaluation like a plugin failure: no later rule runs, so none
// can edit the head further, count in a table or call a plugin for a
// stream that is answered 500 anyway.
func TestSet_EvalStopsAtFailedRewrite(t *testing.T) {
	set, err := CompileSet(HTTPRequest, []string{
		"set-header X-1 a",
		`set-path %[req.hdr(x-in)]`,
		"set-header X-2 b",
		"deny",
	}, httpEnv())
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpCtx(newRequest("GET", "/p", "X-In: relative"))
	v := set.Eval(ctx)
	if header(ctx.Txn.Req.Fields, "x-1") != "a" {
		t.Error("the rule before the failed rewrite did not run")
	}
	if got := string(ctx.Txn.Req.URI); got != "/p" {
		t.Errorf("the invalid rewrite was applied: %q", got)
	}
	if header(ctx.Txn.Req.Fields, "x-2") != "" || v.Kind == Deny {
		t.Errorf("rules after the failed rewrite ran (verdict %s)", v.Kind)
	}
	if v.Rule != set.Rules[1] {
		t.Errorf("verdict names rule %v, want the failed rewrite", v.Rule)
	}
	if c := ctx.Failure(); c != session.CauseRewrite {
		t.Errorf("failure recorded: %s, want rewrite_failed", c)
	}
}
