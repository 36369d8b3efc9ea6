package fetch

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

// newRequest builds a request head by hand: uri is split into path and
// query, hdrs are "Name: value" lines.
func newRequest(method, uri string, hdrs ...string) h1.Request {
	r := h1.Request{Method: []byte(method), URI: []byte(uri), Minor: 1}
	path, query, hasQuery := strings.Cut(uri, "?")
	r.Path = []byte(path)
	if hasQuery {
		r.Query = []byte(query)
	}
	r.Fields = fields(hdrs...)
	return r
}

func fields(hdrs ...string) []h1.Field {
	var fs []h1.Field
	for _, h := range hdrs {
		n, v, _ := strings.Cut(h, ":")
		fs = append(fs, h1.Field{Name: []byte(n), Value: []byte(strings.TrimLeft(v, " "))})
	}
	return fs
}

// testCtx returns a context with all four layers: a client 192.0.2.10:51234
// connected to 198.51.100.1:443, frontend "web", backend "app", server
// "app1", and the given request.
func testCtx(req h1.Request) *Ctx {
	c := &session.Conn{
		Src: netip.MustParseAddrPort("192.0.2.10:51234"),
		Dst: netip.MustParseAddrPort("198.51.100.1:443"),
	}
	s := &session.Session{Conn: c, Frontend: "web"}
	st := &session.Stream{Sess: s, Backend: "app", Server: "app1", Content: []byte("\x16\x03\x01hello")}
	t := &session.Txn{Req: req}
	st.Txn = t
	ctx := &Ctx{Proc: &sample.SharedVars{}}
	ctx.Bind(c, s, st, t)
	return ctx
}

func defaultReq() h1.Request {
	return newRequest("GET", "/a/b.png?x=1&y=2;z=3",
		"Host: www.Example.com",
		"X-A: 1, \"2,3\" , 4",
		"x-a: 5",
		"Cookie: c=1; d=2",
		"Cookie: c=3, e=",
		"X-Fwd: 10.1.2.3:8080, [2001:db8::1]:443, junk",
		"X-Num: 42abc",
		"X-Empty:",
	)
}

func TestFetch_Builtins(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		setup  func(*Ctx)
		want   string
		typ    sample.Type
		absent bool
	}{
		{name: "src", expr: "src", want: "192.0.2.10", typ: sample.TypeIP},
		{name: "src unmaps v4-in-v6", expr: "src", setup: func(c *Ctx) {
			c.Conn.Src = netip.MustParseAddrPort("[::ffff:192.0.2.99]:1")
		}, want: "192.0.2.99", typ: sample.TypeIP},
		{name: "src invalid", expr: "src", setup: func(c *Ctx) { c.Conn.Src = netip.AddrPort{} }, absent: true},
		{name: "src_port", expr: "src_port", want: "51234", typ: sample.TypeInt},
		{name: "dst", expr: "dst", want: "198.51.100.1", typ: sample.TypeIP},
		{name: "dst_port", expr: "dst_port", want: "443", typ: sample.TypeInt},
		{name: "fe_name", expr: "fe_name", want: "web", typ: sample.TypeStr},
		{name: "be_name", expr: "be_name", want: "app", typ: sample.TypeStr},
		{name: "be_name unset", expr: "be_name", setup: func(c *Ctx) { c.Strm.Backend = "" }, absent: true},
		{name: "srv_name", expr: "srv_name", want: "app1", typ: sample.TypeStr},
		{name: "req.len", expr: "req.len", want: "8", typ: sample.TypeInt},
		{name: "req.payload", expr: "req.payload(0,3),hex", want: "160301", typ: sample.TypeStr},
		{name: "req.payload rest", expr: "req.payload(3,0)", want: "hello", typ: sample.TypeBin},
		{name: "req.payload short", expr: "req.payload(3,6)", absent: true},
		{name: "req.payload offset past end", expr: "req.payload(9,0)", absent: true},
		{name: "method", expr: "method", want: "GET", typ: sample.TypeStr},
		{name: "path", expr: "path", want: "/a/b.png", typ: sample.TypeStr},
		{name: "url", expr: "url", want: "/a/b.png?x=1&y=2;z=3", typ: sample.TypeStr},
		{name: "query", expr: "query", want: "x=1&y=2;z=3", typ: sample.TypeStr},
		{name: "query absent", expr: "query", setup: func(c *Ctx) { c.Txn.Req = newRequest("GET", "/") }, absent: true},
		{name: "query empty", expr: "query", setup: func(c *Ctx) { c.Txn.Req = newRequest("GET", "/?") }, want: ""},
		{name: "url_param", expr: "url_param(y)", want: "2"},
		{name: "url_param semicolon", expr: "url_param(z)", want: "3"},
		{name: "url_param first", expr: "url_param", want: "1"},
		{name: "url_param missing", expr: "url_param(w)", absent: true},
		{name: "url_param delim", expr: "url_param(x,;)", setup: func(c *Ctx) {
			c.Txn.Req = newRequest("GET", "/p;x=9?a=1")
		}, want: "9?a=1"},
		{name: "urlp alias", expr: "urlp(x)", want: "1"},
		{name: "req.ver", expr: "req.ver", want: "1.1"},
		{name: "req.hdr last", expr: "req.hdr(x-a)", want: "5"},
		{name: "req.hdr first", expr: "req.hdr(X-A,1)", want: "1"},
		{name: "req.hdr quoted comma", expr: "req.hdr(x-a,2)", want: `"2,3"`},
		{name: "req.hdr trims", expr: "req.hdr(x-a,3)", want: "4"},
		{name: "req.hdr from end", expr: "req.hdr(x-a,-2)", want: "4"},
		{name: "req.hdr beyond", expr: "req.hdr(x-a,9)", absent: true},
		{name: "req.hdr missing", expr: "req.hdr(nope)", absent: true},
		{name: "req.hdr empty value", expr: "req.hdr(x-empty)", want: ""},
		{name: "hdr alias", expr: "hdr(host)", want: "www.Example.com"},
		{name: "req.hdr_cnt", expr: "req.hdr_cnt(x-a)", want: "4", typ: sample.TypeInt},
		{name: "req.hdr_cnt absent", expr: "req.hdr_cnt(nope)", want: "0"},
		{name: "hdr_cnt alias", expr: "hdr_cnt(cookie)", want: "3"},
		{name: "req.fhdr last", expr: "req.fhdr(x-a)", want: "5"},
		{name: "req.fhdr whole", expr: "req.fhdr(x-a,1)", want: `1, "2,3" , 4`},
		{name: "req.fhdr_cnt", expr: "req.fhdr_cnt(x-a)", want: "2"},
		{name: "req.hdr_ip", expr: "req.hdr_ip(x-fwd,1)", want: "10.1.2.3", typ: sample.TypeIP},
		{name: "req.hdr_ip v6", expr: "req.hdr_ip(x-fwd,2)", want: "2001:db8::1"},
		{name: "req.hdr_ip junk", expr: "req.hdr_ip(x-fwd)", absent: true},
		{name: "req.hdr_val", expr: "req.hdr_val(x-num)", want: "42", typ: sample.TypeInt},
		{name: "req.cook last", expr: "req.cook(c)", want: "3"},
		{name: "req.cook first when unnamed", expr: "req.cook", want: "1"},
		{name: "req.cook comma", expr: "cook(e)", want: ""},
		{name: "req.cook missing", expr: "req.cook(zz)", absent: true},
		{name: "req.cook_cnt", expr: "req.cook_cnt(c)", want: "2"},
		{name: "base", expr: "base", want: "www.Example.com/a/b.png"},
		{name: "base without host", expr: "base", setup: func(c *Ctx) { c.Txn.Req = newRequest("GET", "/x?q") }, want: "/x"},
		{name: "status before response", expr: "status", absent: true},
		{name: "status", expr: "status", setup: func(c *Ctx) { c.Txn.Resp.Status = 404 }, want: "404", typ: sample.TypeInt},
		{name: "res.hdr", expr: "res.hdr(server)", setup: func(c *Ctx) {
			c.Txn.Resp = h1.Response{Status: 200, Fields: fields("Server: a, b", "Server: c")}
		}, want: "c"},
		{name: "res.hdr before response", expr: "res.hdr(server)", absent: true},
		{name: "res.hdr_cnt", expr: "res.hdr_cnt(server)", setup: func(c *Ctx) {
			c.Txn.Resp = h1.Response{Status: 200, Fields: fields("Server: a, b", "Server: c")}
		}, want: "3"},
		{name: "shdr", expr: "shdr(server,1)", setup: func(c *Ctx) {
			c.Txn.Resp = h1.Response{Status: 200, Fields: fields("Server: a, b")}
		}, want: "a"},
		{name: "always_true", expr: "always_true", want: "1", typ: sample.TypeBool},
		{name: "always_false", expr: "always_false", want: "0", typ: sample.TypeBool},
		{name: "int", expr: "int(-12)", want: "-12", typ: sample.TypeInt},
		{name: "str", expr: "str(hello world)", want: "hello world", typ: sample.TypeStr},
		{name: "bin", expr: "bin(414243)", want: "ABC", typ: sample.TypeBin},
		{name: "ipv4", expr: "ipv4(10.0.0.1)", want: "10.0.0.1", typ: sample.TypeIP},
		{name: "var txn", expr: "var(txn.user)", setup: func(c *Ctx) { c.Strm.Vars.Set("user", sample.Str([]byte("bob"))) }, want: "bob"},
		{name: "var sess", expr: "var(sess.n)", setup: func(c *Ctx) { c.Sess.Vars.Set("n", sample.Int(7)) }, want: "7", typ: sample.TypeInt},
		{name: "var req scope is separate", expr: "var(req.user)", setup: func(c *Ctx) { c.Strm.Vars.Set("user", sample.Str([]byte("bob"))) }, absent: true},
		{name: "var proc", expr: "var(proc.p)", setup: func(c *Ctx) { c.Proc.Set("p", sample.Str([]byte("pv"))) }, want: "pv"},
		{name: "var missing", expr: "var(txn.none)", absent: true},
		{name: "var default", expr: "var(txn.none,dflt)", want: "dflt", typ: sample.TypeStr},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.expr, ParseOptions{})
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.expr, err)
			}
			ctx := testCtx(defaultReq())
			if tc.setup != nil {
				tc.setup(ctx)
			}
			v, ok := e.Eval(ctx)
			if tc.absent {
				if ok {
					t.Fatalf("Eval = %q (%s), want no sample", v.String(), v.Type)
				}
				return
			}
			if !ok {
				t.Fatalf("Eval: no sample, want %q", tc.want)
			}
			if got := v.String(); got != tc.want {
				t.Errorf("Eval = %q, want %q", got, tc.want)
			}
			if tc.typ != sample.TypeNone && v.Type != tc.typ {
				t.Errorf("type = %s, want %s", v.Type, tc.typ)
			}
		})
	}
}

func TestFetch_Needs(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want abi.Layers
	}{
		{"src", "src", abi.LayerConn},
		{"fe_name", "fe_name", abi.LayerSess},
		{"be_name", "be_name", abi.LayerStrm},
		{"req.payload", "req.payload(0,1)", abi.LayerStrm},
		{"req.hdr", "req.hdr(host)", abi.LayerTxn},
		{"status", "status", abi.LayerTxn},
		{"var proc", "var(proc.x)", 0},
		{"var sess", "var(sess.x)", abi.LayerSess},
		{"var txn", "var(txn.x)", abi.LayerStrm},
		{"var res", "var(res.x)", abi.LayerStrm},
		{"int", "int(1)", 0},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.expr, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Needs() != tc.want {
				t.Errorf("Needs = %s, want %s", e.Needs(), tc.want)
			}
		})
	}
}

// A fetch whose layer is absent gives no sample and does not panic, even
// when Layers lies about a nil pointer.
func TestFetch_AbsentLayers(t *testing.T) {
	r := NewRegistry()
	ctxs := map[string]*Ctx{
		"empty":              {},
		"conn only":          {Layers: abi.LayerConn, Conn: &session.Conn{}},
		"layers without ptr": {Layers: abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn},
	}
	for _, name := range r.FetchNames() {
		f, _ := r.Fetch(name)
		args := make([]string, f.MinArgs)
		for i := range args {
			args[i] = "1"
			if i < len(f.ArgKinds) && f.ArgKinds[i] == ArgVar {
				args[i] = "txn.x"
			}
			if name == "ipv6" {
				args[i] = "::1"
			}
			if name == "ipv4" {
				args[i] = "1.2.3.4"
			}
			if name == "bin" {
				args[i] = "00"
			}
		}
		src := name
		if len(args) > 0 {
			src += "(" + strings.Join(args, ",") + ")"
		}
		e, err := r.ParseExpr(src, ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for cname, ctx := range ctxs {
			t.Run(name+"/"+cname, func(t *testing.T) {
				e.Eval(ctx)
				for cur, n := uint64(0), 0; n < 100; n++ {
					_, next, _, more := e.EvalNext(ctx, cur)
					if !more {
						break
					}
					cur = next
				}
			})
		}
	}
}

func TestExpr_EvalNext(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"req.hdr every value", "req.hdr(x-a)", []string{"1", `"2,3"`, "4", "5"}},
		{"req.hdr with position", "req.hdr(x-a,2)", []string{`"2,3"`}},
		{"req.fhdr every field", "req.fhdr(x-a)", []string{`1, "2,3" , 4`, "5"}},
		{"cookies", "req.cook(c)", []string{"1", "3"}},
		{"all cookies", "req.cook", []string{"1", "2", "3", ""}},
		{"url params", "url_param", []string{"1", "2", "3"}},
		{"hdr_ip skips junk", "req.hdr_ip(x-fwd)", []string{"10.1.2.3", "2001:db8::1"}},
		{"converter per occurrence", "req.hdr(x-a),length", []string{"1", "5", "1", "1"}},
		{"single valued", "path", []string{"/a/b.png"}},
		{"absent", "req.hdr(nope)", nil},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.expr, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(defaultReq())
			var got []string
			var cur uint64
			for i := 0; i < 50; i++ {
				v, next, ok, more := e.EvalNext(ctx, cur)
				if !more {
					break
				}
				if ok {
					got = append(got, v.String())
				}
				cur = next
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("occurrences = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseVarRef(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		scope    VarScope
	}{
		{"txn", "txn.a.b_c", true, ScopeTxn},
		{"sess", "sess.x", true, ScopeSess},
		{"proc", "proc.x", true, ScopeProc},
		{"req", "req.x", true, ScopeReq},
		{"res", "res.x", true, ScopeRes},
		{"no scope", "x", false, 0},
		{"bad scope", "foo.x", false, 0},
		{"empty name", "txn.", false, 0},
		{"bad char", "txn.a-b", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseVarRef(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (r.Scope != tc.scope || r.String() != tc.in) {
				t.Errorf("got %v %q", r.Scope, r.String())
			}
		})
	}
}
