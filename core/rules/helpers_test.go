package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/fetch"
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

// httpCtx returns a context with all four layers around req.
func httpCtx(req h1.Request) *fetch.Ctx {
	c := &session.Conn{
		Src: netip.MustParseAddrPort("192.0.2.10:51234"),
		Dst: netip.MustParseAddrPort("198.51.100.1:443"),
	}
	s := &session.Session{Conn: c, Frontend: "web"}
	st := &session.Stream{Sess: s, Content: []byte("hello")}
	t := &session.Txn{Req: req}
	st.Txn = t
	ctx := &fetch.Ctx{Proc: &sample.SharedVars{}}
	ctx.Bind(c, s, st, t)
	return ctx
}

// tcpCtx returns a context with only CONN and SESS (tcp-request
// connection).
func tcpCtx() *fetch.Ctx {
	c := &session.Conn{Src: netip.MustParseAddrPort("192.0.2.10:51234"), Dst: netip.MustParseAddrPort("198.51.100.1:443")}
	s := &session.Session{Conn: c, Frontend: "web"}
	ctx := &fetch.Ctx{}
	ctx.Bind(c, s, nil, nil)
	return ctx
}

// withResponse adds a response to ctx's transaction.
func withResponse(ctx *fetch.Ctx, status int, hdrs ...string) *fetch.Ctx {
	ctx.Txn.Resp = h1.Response{Minor: 1, Status: status, Reason: []byte("OK"), Fields: fields(hdrs...)}
	return ctx
}

func httpEnv() *Env { return &Env{HTTP: true, Dir: "testdata", Maps: fetch.NewMapCache()} }

func mustCompile(t testing.TB, p Point, src string, env *Env) *Rule {
	t.Helper()
	r, err := Compile(p, src, env)
	if err != nil {
		t.Fatalf("Compile(%s, %q): %v", p, src, err)
	}
	return r
}

// header returns every value of the request (or response) fields called
// name, joined with "|".
func header(fs []h1.Field, name string) string {
	var vals []string
	for _, f := range fs {
		if session.EqualFold(f.Name, []byte(name)) {
			vals = append(vals, string(f.Value))
		}
	}
	return strings.Join(vals, "|")
}

func sampleStr(s string) sample.Value { return sample.Str([]byte(s)) }
func sampleInt(n int64) sample.Value  { return sample.Int(n) }
