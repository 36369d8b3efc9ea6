package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// The scenario suite: each stream-level behaviour is one row of
// scenarios, and every row runs over HTTP/1.1 and HTTP/2, in clear text
// (HTTP/2 with prior knowledge) and over TLS (HTTP/2 chosen by ALPN)
// (testsupport.Modes), with Go's net/http client, to an HTTP/1.1 server
// (the real upstream process) and to an HTTP/2 server (Go's, with prior
// knowledge: testsupport.EchoOrigin): one proxy per server protocol. A
// row checks what the client gets and the stream's access-log line
// (status, termination cause); a behaviour that differs between the
// protocols is a failing row in one combination.

// scenarioRules are the frontends' rules (both frontends run them).
const scenarioRules = `
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    http_request:
      - "track-sc0 req.hdr(x-key) table scen if { req.hdr(x-key) -m found }"
      - "set-header x-seen %[path]"
      - "del-header x-secret"
      - "deny if { path_beg /deny }"
      - "deny status 429 content-type text/plain string slow-down if { path_beg /limited }"
      - "return status 200 content-type text/plain string pong if { path /ping }"
      - "redirect location https://example.test/moved code 301 if { path /old }"
      - "return status 200 content-type text/plain lf-string gpc=%[sc_get_gpc(0,0)],req=%[sc0_http_req_cnt] if { path /count }"
      - "set-path %[req.hdr(x-new-path)] if { req.hdr(x-new-path) -m found }"
      - "scenario.fail if { path_beg /plugin-fail }"
      - "sc-inc-gpc(0,0) if { req.hdr(x-count) -m found }"
    http_response: ["set-header x-proxy strata"]
    use_backend: ["retry if { path_beg /retry }"]
    default_backend: app
`

// scenarioConfig is the proxy's configuration, its servers spoken to over
// server.
func scenarioConfig(site testsupport.Leaf, server testsupport.ServerProto) string {
	opts := ", " + server.ServerOptions()
	return testsupport.JSONAccessLog + `
stick_tables:
  scen:
    type: string
    len: 64
    size: 1000
    expire: 10m
    store: ["http_req_cnt", "gpc(1)"]
` + testsupport.DualFrontends(site, scenarioRules) + `
backends:
` + testsupport.Backend("app", []string{"app: {{app}}" + opts}) +
		// first: always the dead server first, so that every stream
		// needs its retry (redispatched to live).
		testsupport.Backend("retry", []string{"dead: {{dead}}" + opts, "live: {{app}}" + opts},
			"balance: first", "retries: 3", "redispatch: true", "timeouts: { connect: 1s, server: 5s }")
}

// scenarioActions are the built-in actions and scenario.fail, an
// extension action that fails the way a plugin under on_error fail_closed
// does (the hook plugins attach through, as cmd/strata/internal/assemble
// wires them): it records the failure on the stream and denies with 500.
func scenarioActions(t testing.TB) *rules.Actions {
	acts := rules.NewActions()
	fail := rules.ActionFunc(func(ctx *fetch.Ctx) rules.Verdict {
		ctx.Fail(session.CausePlugin)
		return rules.Verdict{Kind: rules.Deny, Status: 500}
	})
	err := acts.Register("scenario.fail", []rules.Point{rules.HTTPRequest}, func([]string, *rules.Env) (rules.Action, error) { return fail, nil })
	if err != nil {
		t.Fatal(err)
	}
	return acts
}

// scenarioServer is the server behind the proxy: the upstream process
// (HTTP/1.1) or an EchoOrigin (HTTP/2).
type scenarioServer interface {
	Received(tb testing.TB, uri string) int
}

// scenarioEnv is what a row's steps use: the mode's client, the proxy and
// the server.
type scenarioEnv struct {
	t      *testing.T
	mode   testsupport.Mode
	server testsupport.ServerProto
	c      *http.Client
	p      *testProxy
	up     scenarioServer
}

// url is path on the mode's frontend, tagged with the mode so that the
// access-log line of the request is found by its uri.
func (e *scenarioEnv) url(path string) string {
	return e.mode.Proto.Scheme() + "://a.test" + e.uri(path)
}

func (e *scenarioEnv) uri(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "mode=" + e.mode.Name
}

// do sends one request and checks that it went over the mode's protocol.
func (e *scenarioEnv) do(method, path string, body io.Reader, hdr ...string) testsupport.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url(path), body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := testsupport.Do(e.c, req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	want := "HTTP/1.1"
	if e.mode.Proto == testsupport.H2C || e.mode.Proto == testsupport.H2TLS {
		want = "HTTP/2.0"
	}
	if r.Proto != want {
		e.t.Fatalf("%s %s answered over %s, want %s", method, path, r.Proto, want)
	}
	return r
}

// key is a stick-table key of the row and mode alone (short: the table
// keeps 64 bytes of a key).
func (e *scenarioEnv) key() string {
	sum := sha256.Sum256([]byte(e.t.Name()))
	return hex.EncodeToString(sum[:8])
}

// logOf returns the access-log line of the request for path, waiting
// (boundedly) for it to be written.
func (e *scenarioEnv) logOf(path string) map[string]any {
	e.t.Helper()
	return scenarioLog(e.t, e.p, "uri", e.uri(path))
}

// scenarioLog returns the JSON access-log line of p whose field key is
// value, waiting (boundedly) for it to be written.
func scenarioLog(t testing.TB, p *testProxy, key, value string) map[string]any {
	t.Helper()
	var line map[string]any
	testsupport.WaitFor(t, 10*time.Second, "the access-log line of "+key+" "+value, func() bool {
		p.Proxy.Alog.Flush()
		for _, l := range strings.Split(p.logbuf.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m[key] == value {
				line = m
				return true
			}
		}
		return false
	})
	return line
}

// expectLog checks the access-log line of path: its status and
// termination cause.
func (e *scenarioEnv) expectLog(path string, status int, cause string) map[string]any {
	e.t.Helper()
	l := e.logOf(path)
	if l["status"] != float64(status) || l["termination_cause"] != cause {
		e.t.Errorf("%s logged status %v cause %v, want %d %s (%v)", path, l["status"], l["termination_cause"], status, cause, l)
	}
	return l
}

// echo decodes the server's echo of a request and checks that the
// request reached it over the server protocol.
func (e *scenarioEnv) echo(r testsupport.Response) testsupport.Echoed {
	e.t.Helper()
	echo := testsupport.DecodeEcho(e.t, r.Body)
	if want := e.server.HTTPVersion(); echo.Proto != want {
		e.t.Errorf("the server got %s %s over %s, want %s", echo.Method, echo.URI, echo.Proto, want)
	}
	return echo
}

func (e *scenarioEnv) expectStatus(r testsupport.Response, status int) {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d; body %q", r.Status, status, r.Body)
	}
}

// abortingBody sends a first part of a request body, then fails the
// upload once the upstream has received the request head: the client
// gives up mid-body, after the stream has reached its server.
type abortingBody struct {
	first []byte
	sent  bool
	ready func() bool
}

func (b *abortingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, b.first), nil
	}
	for deadline := time.Now().Add(10 * time.Second); !b.ready() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return 0, errors.New("the client gives up")
}

var scenarios = []struct {
	name string
	run  func(e *scenarioEnv)
}{
	{name: "rules edit the request and the response", run: func(e *scenarioEnv) {
		r := e.do("GET", "/page", nil, "x-secret", "s")
		e.expectStatus(r, 200)
		echo := e.echo(r)
		if got := echo.Header("x-seen"); len(got) != 1 || got[0] != "/page" {
			e.t.Errorf("x-seen %q", got)
		}
		if got := echo.Header("x-secret"); len(got) != 0 {
			e.t.Errorf("x-secret reached the server: %q", got)
		}
		if got := r.Header.Get("x-proxy"); got != "strata" {
			e.t.Errorf("x-proxy %q", got)
		}
		e.expectLog("/page", 200, "none")
	}},
	{name: "deny", run: func(e *scenarioEnv) {
		e.expectStatus(e.do("GET", "/deny/x", nil), 403)
		if l := e.expectLog("/deny/x", 403, "denied"); l["termination_state"] != "PR" {
			e.t.Errorf("termination state %v", l["termination_state"])
		}
		if n := e.up.Received(e.t, e.uri("/deny/x")); n != 0 {
			e.t.Errorf("a denied request reached the server %d times", n)
		}
	}},
	{name: "deny with a status and a body", run: func(e *scenarioEnv) {
		r := e.do("GET", "/limited", nil)
		e.expectStatus(r, 429)
		if string(r.Body) != "slow-down" || r.Header.Get("content-type") != "text/plain" {
			e.t.Errorf("body %q, content-type %q", r.Body, r.Header.Get("content-type"))
		}
		e.expectLog("/limited", 429, "denied")
	}},
	{name: "return", run: func(e *scenarioEnv) {
		r := e.do("GET", "/ping", nil)
		e.expectStatus(r, 200)
		if string(r.Body) != "pong" {
			e.t.Errorf("body %q", r.Body)
		}
		e.expectLog("/ping", 200, "local")
	}},
	{name: "redirect", run: func(e *scenarioEnv) {
		r := e.do("GET", "/old", nil)
		e.expectStatus(r, 301)
		if got := r.Header.Get("location"); got != "https://example.test/moved" {
			e.t.Errorf("location %q", got)
		}
		e.expectLog("/old", 301, "local")
	}},
	{name: "tracking counts the stream's requests", run: func(e *scenarioEnv) {
		for i, want := range []string{"gpc=0,req=1", "gpc=0,req=2"} {
			r := e.do("GET", fmt.Sprintf("/count?n=%d", i), nil, "x-key", e.key())
			e.expectStatus(r, 200)
			if string(r.Body) != want {
				e.t.Errorf("request %d: %q, want %q", i, r.Body, want)
			}
		}
	}},
	{name: "a failed rewrite ends the evaluation with 500", run: func(e *scenarioEnv) {
		// A valid rewrite goes through and the rule after it counts.
		r := e.do("GET", "/rewrite/ok", nil, "x-key", e.key(), "x-count", "1", "x-new-path", "/fine")
		e.expectStatus(r, 200)
		if uri := e.echo(r).URI; !strings.HasPrefix(uri, "/fine?") {
			e.t.Errorf("the server got %q", uri)
		}
		// A path the request line cannot carry: 500, rewrite_failed,
		// and the rules after it do not run (the counter stays).
		e.expectStatus(e.do("GET", "/rewrite/bad", nil, "x-key", e.key(), "x-count", "1", "x-new-path", "relative"), 500)
		e.expectLog("/rewrite/bad", 500, "rewrite_failed")
		r = e.do("GET", "/count", nil, "x-key", e.key())
		if string(r.Body) != "gpc=1,req=3" {
			e.t.Errorf("after the failed rewrite: %q, want gpc=1,req=3", r.Body)
		}
	}},
	{name: "a failing extension ends the stream with cause plugin", run: func(e *scenarioEnv) {
		e.expectStatus(e.do("GET", "/plugin-fail", nil, "x-key", e.key(), "x-count", "1"), 500)
		e.expectLog("/plugin-fail", 500, "plugin")
		if r := e.do("GET", "/count", nil, "x-key", e.key()); string(r.Body) != "gpc=0,req=2" {
			e.t.Errorf("after the failure: %q, want gpc=0,req=2", r.Body)
		}
	}},
	{name: "a refused connection is retried on another server", run: func(e *scenarioEnv) {
		r := e.do("GET", "/retry/x", nil)
		e.expectStatus(r, 200)
		l := e.expectLog("/retry/x", 200, "none")
		if l["server"] != "live" || l["retries"] != float64(1) {
			e.t.Errorf("server %v after %v retries, want live after 1", l["server"], l["retries"])
		}
	}},
	{name: "large bodies both ways", run: func(e *scenarioEnv) {
		big := make([]byte, 3<<20+17)
		rand.Read(big)
		sum := sha256.Sum256(big)
		r := e.do("POST", "/upload", bytes.NewReader(big))
		e.expectStatus(r, 200)
		if echo := e.echo(r); echo.BodyLength != int64(len(big)) || echo.BodySHA256 != hex.EncodeToString(sum[:]) {
			e.t.Errorf("the server got %d bytes, sha256 %s", echo.BodyLength, echo.BodySHA256)
		}
		r = e.do("GET", "/big/5000000", nil)
		e.expectStatus(r, 200)
		if len(r.Body) != 5000000 {
			e.t.Errorf("got %d bytes of 5000000", len(r.Body))
		}
		e.expectLog("/big/5000000", 200, "none")
	}},
	{name: "a client that gives up mid-body", run: func(e *scenarioEnv) {
		uri := e.uri("/abort")
		body := &abortingBody{first: make([]byte, 16<<10), ready: func() bool { return e.up.Received(e.t, uri) > 0 }}
		req, err := http.NewRequestWithContext(context.Background(), "POST", e.url("/abort"), body)
		if err != nil {
			e.t.Fatal(err)
		}
		req.ContentLength = 1 << 20
		if _, err := testsupport.Do(e.c, req); err == nil {
			e.t.Fatal("the request succeeded")
		}
		if l := e.logOf("/abort"); l["termination_cause"] != "client_abort" {
			e.t.Errorf("logged %v", l)
		}
	}},
}

func TestScenario(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	dead := closedAddr(t)
	type scenarioProxy struct {
		p       *testProxy
		up      scenarioServer
		clients map[string]*http.Client
	}
	proxies := map[testsupport.ServerProto]scenarioProxy{}
	for _, server := range testsupport.ServerProtos {
		var sp scenarioProxy
		var addr string
		if server == testsupport.ServerH1 {
			up := startUpstream(t, "-mode", "echo", "-name", "app")
			sp.up, addr = up, up.Addr
		} else {
			o := testsupport.StartEchoOrigin(t, server, "app")
			sp.up, addr = o, o.Addr
		}
		sp.p = startProxy(t, scenarioConfig(site, server), map[string]string{"app": addr, "dead": dead},
			generation.BuildOptions{Actions: scenarioActions(t)})
		sp.clients = map[string]*http.Client{}
		for _, m := range testsupport.Modes {
			sp.clients[m.Name] = testsupport.NewClient(sp.p.addr(m.Frontend), testsupport.Client{Proto: m.Proto, Roots: ca.Pool})
		}
		proxies[server] = sp
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, server := range testsupport.ServerProtos {
				sp := proxies[server]
				t.Run(string(server), func(t *testing.T) {
					for _, m := range testsupport.Modes {
						t.Run(m.Name, func(t *testing.T) {
							sc.run(&scenarioEnv{t: t, mode: m, server: server, c: sp.clients[m.Name], p: sp.p, up: sp.up})
						})
					}
				})
			}
		})
	}
}

// The TCP-mode rows: each runs in clear text and over TLS
// (testsupport.TCPModes) against one proxy whose mode tcp frontends relay
// to the real upstream process in its TCP echo mode. A row checks what
// the client gets, the stream's access-log line (found by the client's
// address: each row and mode dials from its own loopback address) and,
// where it says so, the server and the stick table.

const tcpScenarioRules = `
    timeouts: { client: 10s }
    tcp_request_content:
      - "reject if { req.payload(0,4),hex -m str 51554954 }"
      - "track-sc0 src table tcpscen"
    default_backend: echo
`

func tcpScenarioConfig(site testsupport.Leaf) string {
	return testsupport.JSONAccessLog + `
stick_tables:
  tcpscen:
    type: ip
    size: 1000
    expire: 10m
    store: ["conn_cnt", "conn_cur", "bytes_in_cnt", "bytes_out_cnt"]
` + testsupport.DualTCPFrontends(site, tcpScenarioRules) + `
backends:
` + testsupport.Backend("echo", []string{"e1: {{echo}}"}, "mode: tcp", "timeouts: { connect: 1s, server: 10s }")
}

// tcpScenarioEnv is what a TCP row's steps use.
type tcpScenarioEnv struct {
	t     *testing.T
	mode  testsupport.Mode
	src   string // the loopback address the row dials from
	roots *x509.CertPool
	p     *testProxy
	up    *upstream
	api   *stickAPI
}

// dial opens a connection to the mode's frontend from e.src, over TLS
// when the mode says so; its deadline bounds the row.
func (e *tcpScenarioEnv) dial() net.Conn {
	e.t.Helper()
	c := testsupport.DialMode(e.t, e.mode.Proto, e.p.addr(e.mode.Frontend), e.src, e.roots, "a.test")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// logOf returns the access-log line of the stream of c.
func (e *tcpScenarioEnv) logOf(c net.Conn) map[string]any {
	e.t.Helper()
	return scenarioLog(e.t, e.p, "client", c.LocalAddr().String())
}

// relay sends msg on a new connection, shuts its write side and returns
// what came back until the proxy closed, with the connection.
func (e *tcpScenarioEnv) relay(msg []byte) ([]byte, net.Conn) {
	e.t.Helper()
	c := e.dial()
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		e.t.Fatalf("reading the relayed bytes: %v (after %d bytes)", err, len(got))
	}
	return got, c
}

var tcpScenarios = []struct {
	name string
	run  func(e *tcpScenarioEnv)
}{
	{name: "a relay both ways, half-closed", run: func(e *tcpScenarioEnv) {
		msg := make([]byte, 1<<20)
		rand.Read(msg)
		got, c := e.relay(msg)
		if !bytes.Equal(got, msg) {
			e.t.Fatalf("echoed %d bytes, not the %d sent", len(got), len(msg))
		}
		l := e.logOf(c)
		if l["mode"] != "tcp" || l["termination_state"] != "--" || l["termination_cause"] != "none" ||
			l["backend"] != "echo" || l["server"] != "e1" ||
			l["bytes_in"] != float64(len(msg)) || l["bytes_out"] != float64(len(msg)) {
			e.t.Errorf("logged %v", l)
		}
	}},
	{name: "tcp-request content reject", run: func(e *tcpScenarioEnv) {
		before := len(e.up.Events(e.t, "accept"))
		got, c := e.relay([]byte("QUIT\r\n"))
		if len(got) != 0 {
			e.t.Errorf("a rejected stream got %q", got)
		}
		if l := e.logOf(c); l["termination_cause"] != "denied" || l["bytes_in"] != float64(0) {
			e.t.Errorf("logged %v", l)
		}
		if n := len(e.up.Events(e.t, "accept")) - before; n != 0 {
			e.t.Errorf("a rejected stream opened %d connections to the server", n)
		}
	}},
	{name: "tracking counts the connections and their bytes", run: func(e *tcpScenarioEnv) {
		msg := []byte("hello, tracked tunnel")
		for i := range 2 {
			if got, _ := e.relay(msg); !bytes.Equal(got, msg) {
				e.t.Fatalf("connection %d: echoed %q", i, got)
			}
		}
		n := int64(2 * len(msg))
		e.api.expect(e.t, "tcpscen", e.src, want{use: 0, data: map[string]int64{
			"conn_cnt": 2, "conn_cur": 0, "bytes_in_cnt": n, "bytes_out_cnt": n}})
	}},
}

func TestScenario_TCP(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "tcp")
	p := startProxy(t, tcpScenarioConfig(site), map[string]string{"echo": up.Addr})
	api := startStickAPI(t, p.Proxy)
	for i, sc := range tcpScenarios {
		t.Run(sc.name, func(t *testing.T) {
			for j, m := range testsupport.TCPModes {
				t.Run(m.Name, func(t *testing.T) {
					src := fmt.Sprintf("127.0.%d.%d", 10+i, 1+j)
					sc.run(&tcpScenarioEnv{t: t, mode: m, src: src, roots: ca.Pool, p: p, up: up, api: api})
				})
			}
		})
	}
}
