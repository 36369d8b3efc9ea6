package rules

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/fetch"
)

// matches compiles `allow if { acl }` at p and reports whether it allows.
func matches(t *testing.T, p Point, acl string, ctx *fetch.Ctx) bool {
	t.Helper()
	r := mustCompile(t, p, "allow if { "+acl+" }", httpEnv())
	return r.Eval(ctx).Kind == Allow
}

func aclReq() *fetch.Ctx {
	return httpCtx(newRequest("GET", "/api/v1/Users.JSON?id=42&debug",
		"Host: API.example.com:8080",
		"X-Forwarded-For: 203.0.113.9, 10.0.0.1",
		"X-Forwarded-For: 192.0.2.1",
		"Cookie: session=abc; theme=dark",
		"Content-Length: 12",
		"X-Empty:",
	))
}

func TestACL_Match(t *testing.T) {
	tests := []struct {
		name string
		acl  string
		want bool
	}{
		// exact
		{"path exact", "path /api/v1/Users.JSON", true},
		{"path exact case", "path /api/v1/users.json", false},
		{"path exact -i", "path -i /API/v1/users.json", true},
		{"several patterns", "path /x /y /api/v1/Users.JSON", true},
		{"many patterns use a map", "method A B C D E F G H GET", true},
		// derived keywords
		{"path_beg", "path_beg /api/", true},
		{"path_beg miss", "path_beg /static/ /img/", false},
		{"path_beg -i", "path_beg -i /API/", true},
		{"path_end", "path_end .JSON", true},
		{"path_end -i", "path_end -i .json", true},
		{"path_sub", "path_sub v1/U", true},
		{"path_reg", `path_reg ^/api/v[0-9]+/`, true},
		{"path_reg -i", `path_reg -i ^/API/`, true},
		{"path_dir", "path_dir v1", true},
		{"path_dir not a word", "path_dir api/v", false},
		{"path_len", "path_len 18", true},
		{"path_len range", "path_len 1:10", false},
		{"url_beg", "url_beg /api", true},
		{"url_sub query", "url_sub debug", true},
		{"base_beg", "base_beg API.example.com:8080/api", true},
		{"base_sub", "base_sub -i example.COM", true},
		{"hdr exact -i", "hdr(host) -i api.example.com:8080", true},
		{"hdr_beg", "hdr_beg(host) -i api.", true},
		{"hdr_end", "hdr_end(host) :8080", true},
		{"hdr_sub", "hdr_sub(host) example", true},
		{"hdr_reg", `hdr_reg(host) ^API\.`, true},
		{"hdr_dom", "hdr_dom(host) -i example.com", true},
		{"hdr -m dom", "req.hdr(host) -m dom -i EXAMPLE", true},
		{"hdr_dom partial", "hdr_dom(host) exam", false},
		{"hdr_cnt", "hdr_cnt(x-forwarded-for) eq 3", true},
		{"hdr_cnt gt", "hdr_cnt(x-forwarded-for) gt 3", false},
		{"req.hdr_cnt absent", "req.hdr_cnt(x-nope) 0", true},
		{"hdr_val", "hdr_val(content-length) gt 10", true},
		{"hdr_ip", "hdr_ip(x-forwarded-for) 10.0.0.0/8", true},
		{"hdr_len", "hdr_len(host) 20", true},
		// every occurrence is tried
		{"hdr tests every value", "hdr(x-forwarded-for) 10.0.0.1", true},
		{"hdr tests later field", "hdr(x-forwarded-for) 192.0.2.1", true},
		{"hdr with position", "hdr(x-forwarded-for,1) 10.0.0.1", false},
		{"hdr last position", "hdr(x-forwarded-for,-1) 192.0.2.1", true},
		{"hdr -m ip on strings", "req.hdr(x-forwarded-for) -m ip 203.0.113.0/24", true},
		{"fhdr is the whole line", "req.fhdr(x-forwarded-for) 10.0.0.1", false},
		{"fhdr whole line matches", "req.fhdr(x-forwarded-for) -m beg 203.0.113.9,", true},
		{"cookie", "req.cook(theme) dark", true},
		{"cook_beg", "cook_beg(session) ab", true},
		{"urlp", "urlp(id) 42", true},
		{"urlp_val", "urlp_val(id) ge 40", true},
		{"converter then default str match", "req.hdr(host),lower api.example.com:8080", true},
		{"converter resets keyword method", "hdr_beg(host),lower api.example.com:8080", true},
		// found, bool, int
		{"found", "req.hdr(x-empty) -m found", true},
		{"found absent", "req.hdr(x-nope) -m found", false},
		{"found cookie", "req.cook(session) -m found", true},
		{"bool fetch alone", "always_true", true},
		{"bool false", "always_false", false},
		{"-m bool on int", "req.hdr_cnt(host) -m bool", true},
		{"-m int on str", "req.hdr(content-length) -m int 12", true},
		{"-m len", "req.hdr(host) -m len gt 5", true},
		{"-m str on int", "req.hdr_cnt(host) -m str 1", true},
		{"int ops", "dst_port ge 443", true},
		{"int range", "src_port 1024:65535", true},
		{"int list", "dst_port 80 8080", false},
		// ip
		{"src cidr", "src 192.0.2.0/24", true},
		{"src miss", "src 10.0.0.0/8 172.16.0.0/12", false},
		{"src host", "src 192.0.2.10", true},
		{"src v6 pattern v4-mapped", "src ::ffff:192.0.2.0/120", true},
		{"src file", "src -f blocked.lst", false},
		{"dst_port", "dst_port 443", true},
		// bin
		{"payload bin", "req.payload(0,5) -m bin 68656c6c6f", true},
		{"payload sub", "req.payload(0,0) -m sub ell", true},
		// flags
		{"-- ends flags", "path -- -i", false},
		{"-n ignored", "src -n 192.0.2.0/24", true},
		// variables
		{"var str", "var(txn.role) admin", true},
		{"var int op", "var(txn.n) gt 5", true},
		{"var -m found", "var(txn.none) -m found", false},
		{"var -m beg", "var(txn.role) -m beg adm", true},
		// methods
		{"method", "method GET HEAD", true},
		{"method -i", "method -i get", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := aclReq()
			ctx.Strm.Vars.Set("role", sampleStr("admin"))
			ctx.Strm.Vars.Set("n", sampleInt(7))
			if got := matches(t, HTTPRequest, tc.acl, ctx); got != tc.want {
				t.Errorf("{ %s } = %v, want %v", tc.acl, got, tc.want)
			}
		})
	}
}

func TestACL_PatternFile(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      bool
	}{
		{"v4 network", "203.0.113.77", true},
		{"trimmed host", "198.51.100.7", true},
		{"v6", "2001:db8:bad::1", true},
		{"other", "192.0.2.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := aclReq()
			ctx.Conn.Src = netip.AddrPortFrom(netip.MustParseAddr(tc.src), 1)
			if got := matches(t, HTTPRequest, "src -f blocked.lst", ctx); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Map keys as patterns.
	if !matches(t, HTTPRequest, "req.hdr(x-h) -M -f hosts.map", httpCtx(newRequest("GET", "/", "X-H: www.example.com"))) {
		t.Error("-M -f did not use the map keys")
	}
}

func TestACL_Errors(t *testing.T) {
	tests := []struct {
		name, acl, want string
		is              error
	}{
		{"unknown fetch", "pth_beg /a", `unknown fetch "pth_beg"; did you mean path_beg?`, fetch.ErrUnknownFetch},
		{"unknown fetch far", "zzzzzzzz /a", `unknown fetch "zzzzzzzz"`, fetch.ErrUnknownFetch},
		{"unknown flag", "path -x a", `unknown flag "-x"`, ErrSyntax},
		{"unknown method", "path -m foo a", `unknown match method "foo"`, ErrSyntax},
		{"no pattern", "path", "no pattern to match", ErrSyntax},
		{"bool with pattern", "always_true -m bool x", "takes no pattern", fetch.ErrArgs},
		{"bad int", "dst_port abc", `"abc" is not an integer`, fetch.ErrArgs},
		{"bad ip", "src example.com", "host names are not resolved", fetch.ErrArgs},
		{"bad regex", "path_reg (", "regex", fetch.ErrSyntax},
		{"ip on bin", "req.payload(0,1) -m int 3", "cannot match bin samples", fetch.ErrType},
		{"missing file", "src -f nope.lst", "nope.lst: no such file", nil},
		{"-m needs value", "path -m", "needs an argument", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(HTTPRequest, "allow if { "+tc.acl+" }", httpEnv())
			if err == nil {
				t.Fatal("compiled, want error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestACL_Direction(t *testing.T) {
	ctx := withResponse(httpCtx(newRequest("GET", "/", "X-T: reqv")), 200, "X-T: resp")
	tests := []struct {
		name string
		p    Point
		acl  string
		want bool
	}{
		{"hdr reads the request in http-request", HTTPRequest, "hdr(x-t) reqv", true},
		{"hdr reads the response in http-response", HTTPResponse, "hdr(x-t) resp", true},
		{"hdr_* always reads the request", HTTPResponse, "hdr_beg(x-t) req", true},
		{"res.hdr", HTTPResponse, "res.hdr(x-t) resp", true},
		{"shdr_beg", HTTPAfterResponse, "shdr_beg(x-t) res", true},
		{"status", HTTPResponse, "status 200", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matches(t, tc.p, tc.acl, ctx); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// status is a response fetch: allowed wherever TXN exists, no sample
	// before the response.
	if matches(t, HTTPRequest, "status -m found", httpCtx(newRequest("GET", "/"))) {
		t.Error("status found before the response")
	}
}
