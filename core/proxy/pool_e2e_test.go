package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Pooled server connections that the server closes: a request never goes
// out on one (POST included), and the pool does not keep them in
// CLOSE-WAIT. HTTP/2 servers are in pool_h2_e2e_test.go.

// postOn sends a POST with body on cl and reads the response.
func (cl *client) postOn(path, body string) reply {
	cl.c.SetDeadline(time.Now().Add(15 * time.Second))
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	if _, err := io.WriteString(cl.c, req); err != nil {
		return reply{err: err}
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: "POST"})
	if err != nil {
		return reply{err: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{status: resp.StatusCode, server: resp.Header.Get("x-server"), body: string(b), err: err}
}

// tcpStates counts this machine's TCP sockets (IPv4 and IPv6) whose peer
// port is port, by state as /proc/net/tcp writes it ("01" ESTABLISHED,
// "08" CLOSE_WAIT). The sockets strata opened to a server have the
// server's port as their peer port.
func tcpStates(t testing.TB, port int) map[string]int {
	t.Helper()
	out := map[string]int{}
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || !strings.HasSuffix(fs[2], suffix) {
				continue
			}
			out[fs[3]]++
		}
	}
	return out
}

const (
	tcpEstablished = "01"
	tcpCloseWait   = "08"
)

// portOf returns the port of a host:port address.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// uriCounts counts the requests the upstream received, by URI.
func uriCounts(t testing.TB, u *upstream) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, e := range u.Events(t, "request") {
		n[e.URI]++
	}
	return n
}

// TestPool_ServerClosedIdle is the bug of a server whose keep-alive
// timeout (50ms here) is shorter than strata's (10s): 100 POSTs, each
// sent after the server closed the pooled connection the previous one
// left, all get 200 and each reaches the server exactly once. Before each
// POST strata's side of the connection is in CLOSE-WAIT (or already
// reaped): the close was visible, and strata must see it before writing,
// so no request needed a retry.
func TestPool_ServerClosedIdle(t *testing.T) {
	// A keep-alive timeout, not an idle one: see TestPool_DifferentialHAProxy.
	ups, vars := startUpstreams(t, []string{"s1"}, "-keep-alive-timeout", "50ms")
	u := ups["s1"]
	port := portOf(t, u.Addr)
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	const n = 100
	for i := range n {
		if i > 0 {
			testsupport.WaitFor(t, 10*time.Second, "the server closing the pooled connection", func() bool {
				return len(u.Events(t, "close")) >= i &&
					(tcpStates(t, port)[tcpCloseWait] == 1 || p.server(t, "s1").IdleConns == 0)
			})
		}
		r := cl.postOn(fmt.Sprintf("/p%d", i), "hello")
		if r.err != nil || r.status != 200 {
			t.Fatalf("POST %d of %d: %+v (%v)", i+1, n, r, r.err)
		}
	}
	got := uriCounts(t, u)
	for i := range n {
		if c := got[fmt.Sprintf("/p%d", i)]; c != 1 {
			t.Fatalf("the server received POST /p%d %d times, want 1", i, c)
		}
	}
	for _, l := range p.logLines(t, n) {
		if l["status"] != float64(200) || l["retries"] != nil { // logged when not 0
			t.Fatalf("log %v: a request went out on a closed connection", l)
		}
	}
}

// resetServer is an in-test HTTP/1.1 server that answers the first
// request of each connection and then, when the next request arrives,
// resets the connection without reading it (close with SO_LINGER 0): a
// server closing the connection at the moment strata reuses it.
type resetServer struct {
	ln     net.Listener
	mu     sync.Mutex
	seen   map[string]int // requests read whole, by path
	resets int
}

func startResetServer(t *testing.T) *resetServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &resetServer{ln: ln, seen: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c.(*net.TCPConn))
		}
	}()
	return s
}

// expectEachPostOnce checks, with s.mu held by the caller, that the
// server handled each of POST /post0../post9 once, and that the access
// log of p shows each answered 200 after one retry (the reset connection).
func (s *resetServer) expectEachPostOnce(t *testing.T, p *testProxy) {
	t.Helper()
	for i := range 10 {
		if c := s.seen[fmt.Sprintf("/post%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /post%d %d times, want 1", i, c)
		}
	}
	retried := 0
	for _, l := range p.logLines(t, 20) {
		if strings.HasPrefix(fmt.Sprint(l["uri"]), "/post") && l["retries"] == float64(1) && l["status"] == float64(200) {
			retried++
		}
	}
	if retried != 10 {
		t.Fatalf("%d POSTs logged 200 after one retry, want 10", retried)
	}
}

func (s *resetServer) serve(c *net.TCPConn) {
	defer c.Close()
	req, body, br, ok := readWholeRequest(c)
	if !ok {
		return
	}
	if req.Method == "POST" && string(body) != "payload" {
		return // a body not whole: not counted, the client gets no answer
	}
	s.mu.Lock()
	s.seen[req.URL.Path]++
	s.mu.Unlock()
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if _, err := br.Peek(1); err != nil { // the next request is here, unread
		return
	}
	s.mu.Lock()
	s.resets++
	s.mu.Unlock()
	c.SetLinger(0)
}

// TestPool_ResetBeforeAnswerReplays: a POST written to a reused
// connection that the server resets without reading it (nothing of a
// response came) provably never reached the server's application: strata
// sends it again on a fresh connection, whatever its method, and the
// server handles it exactly once. (A POST the server read and then closed
// on without answering gets 502 and is not sent again: TestRetry_NoReplay.)
func TestPool_ResetBeforeAnswerReplays(t *testing.T) {
	s := startResetServer(t)
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}" }
`), map[string]string{"s1": s.ln.Addr().String()})
	cl := dial(t, p.addr("web"), "")
	for i := range 10 {
		if r := cl.get(t, fmt.Sprintf("/warm%d", i)); r.status != 200 {
			t.Fatalf("warm-up: %+v", r)
		}
		testsupport.WaitFor(t, 5*time.Second, "a pooled connection", func() bool { return p.server(t, "s1").IdleConns == 1 })
		r := cl.postOn(fmt.Sprintf("/post%d", i), "payload")
		if r.err != nil || r.status != 200 {
			t.Fatalf("POST %d: %+v", i, r)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Each POST met a reset; a warm-up GET sent on the connection a retry
	// opened meets one too.
	if s.resets < 10 {
		t.Fatalf("the server reset %d connections, want at least 10", s.resets)
	}
	s.expectEachPostOnce(t, p)
}

// TestPool_ReapsServerClosed: after a burst of 200 concurrent requests the
// pool holds many connections; the server closes them all (keep-alive
// timeout 300ms) and, with no further request to pop them, strata closes
// its side: no socket to the server stays in CLOSE-WAIT and the pool is
// empty. The server's timeout runs from its answers only, as a keep-alive
// timeout does: an idle timeout that also ran on a connection strata had
// just dialed, before a loaded machine let it write, would fail the burst
// on a fresh connection, which no proxy replays.
func TestPool_ReapsServerClosed(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"}, "-keep-alive-timeout", "300ms")
	u := ups["s1"]
	port := portOf(t, u.Addr)
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 60s }
    servers:
      s1: { address: "{{s1}}" }
`), vars)
	paths := make([]string, 200)
	for i := range paths {
		paths[i] = fmt.Sprintf("/b%d", i)
	}
	for i, r := range parallel(t, p.addr("web"), paths) {
		if r.err != nil || r.status != 200 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	accepted := len(u.Events(t, "accept"))
	if accepted < 2 {
		t.Fatalf("the burst opened %d server connections: nothing to reap", accepted)
	}
	testsupport.WaitFor(t, 15*time.Second, "the server closing every connection", func() bool {
		return len(u.Events(t, "close")) == accepted
	})
	testsupport.WaitFor(t, 15*time.Second, "no CLOSE-WAIT left", func() bool {
		st := tcpStates(t, port)
		return st[tcpCloseWait] == 0 && st[tcpEstablished] == 0 && p.server(t, "s1").IdleConns == 0
	})
	if n := u.Requests(t); n != 200 {
		t.Fatalf("the server saw %d requests, want 200: something else emptied the pool", n)
	}
}

// TestPool_IdleTimeout: connections idle for longer than the backend's
// http_keep_alive are closed by strata even when no request comes to pop
// them (the server keeps connections for 60s).
func TestPool_IdleTimeout(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"})
	u := ups["s1"]
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 200ms }
    servers:
      s1: { address: "{{s1}}" }
`), vars)
	paths := make([]string, 20)
	for i := range paths {
		paths[i] = fmt.Sprintf("/i%d", i)
	}
	for i, r := range parallel(t, p.addr("web"), paths) {
		if r.err != nil || r.status != 200 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	accepted := len(u.Events(t, "accept"))
	testsupport.WaitFor(t, 15*time.Second, "strata closing its idle connections", func() bool {
		return len(u.Events(t, "close")) == accepted && p.server(t, "s1").IdleConns == 0
	})
}

// TestPool_MaxConn: pool_max_conn bounds the idle connections kept per
// server (HAProxy's pool-max-conn); a server's own setting overrides the
// backend's, and 0 keeps none.
func TestPool_MaxConn(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 60s }
    pool_max_conn: 3
    balance: uri
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}", pool_max_conn: 0 }
`), vars)
	paths := make([]string, 60)
	for i := range paths {
		paths[i] = fmt.Sprintf("/m%d", i)
	}
	for i, r := range parallel(t, p.addr("web"), paths) {
		if r.err != nil || r.status != 200 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	for name, want := range map[string]int{"s1": 3, "s2": 0} {
		u := ups[name]
		accepted := len(u.Events(t, "accept"))
		if accepted == 0 {
			t.Fatalf("%s got no request", name)
		}
		keep := min(accepted, want)
		testsupport.WaitFor(t, 10*time.Second, name+" connections beyond the pool closed", func() bool {
			return len(u.Events(t, "close")) == accepted-keep
		})
		if idle := p.server(t, name).IdleConns; idle != keep {
			t.Fatalf("%s: %d idle connections, want %d", name, idle, keep)
		}
	}
}

// TestPool_TLSServerClosedIdle: the same over TLS to the server, whose
// idle close comes with a close_notify alert: 30 POSTs, each after the
// server closed the pooled connection, all get 200 and each is handled
// once; no socket to the server stays in CLOSE-WAIT.
func TestPool_TLSServerClosedIdle(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, "app", testsupport.CN("app.internal"), false, "app.internal")
	var mu sync.Mutex
	seen := map[string]int{}
	var closed atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, err := io.ReadAll(r.Body); err != nil || string(b) != "hello" {
			http.Error(w, "bad body", 400)
			return
		}
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	s.Config.IdleTimeout = 50 * time.Millisecond
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	origin := s.Listener.Addr().String()
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}", tls: { verify: required, ca: "{{ca}}", sni: app.internal } }
`), map[string]string{"s1": origin, "ca": ca.File})
	cl := dial(t, p.addr("web"), "")
	const n = 30
	for i := range n {
		if i > 0 {
			testsupport.WaitFor(t, 10*time.Second, "the server closing its idle connection", func() bool {
				return closed.Load() >= int64(i)
			})
		}
		if r := cl.postOn(fmt.Sprintf("/t%d", i), "hello"); r.err != nil || r.status != 200 {
			t.Fatalf("POST %d of %d: %+v (%v)", i+1, n, r, r.err)
		}
	}
	mu.Lock()
	for i := range n {
		if c := seen[fmt.Sprintf("/t%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /t%d %d times, want 1", i, c)
		}
	}
	mu.Unlock()
	port := portOf(t, origin)
	testsupport.WaitFor(t, 15*time.Second, "no connection to the server left", func() bool {
		st := tcpStates(t, port)
		return st[tcpCloseWait] == 0 && st[tcpEstablished] == 0 && p.server(t, "s1").IdleConns == 0
	})
}

// TestPool_ReapedCounted: each pooled connection the server closes is
// closed by strata's sweep (no request comes to pop it) and counted, in
// GET /v1/stats (idle_reaped) and GET /metrics
// (strata_server_idle_reaped_total), read over the admin listener. One
// request per round finds the pool empty and leaves one connection in
// it, so after round k exactly k connections were reaped.
func TestPool_ReapedCounted(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"}, "-keep-alive-timeout", "50ms")
	u := ups["s1"]
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 60s }
    servers:
      s1: { address: "{{s1}}" }
`), vars)
	adm := startAdminAPI(t, p)
	const series = `strata_server_idle_reaped_total{backend="app",server="s1"}`
	if got := metric(t, adm, series); got != 0 {
		t.Fatalf("%s = %v before any request, want 0", series, got)
	}
	for k := 1; k <= 3; k++ {
		if r := dial(t, p.addr("web"), "").get(t, fmt.Sprintf("/r%d", k)); r.err != nil || r.status != 200 {
			t.Fatalf("round %d: %+v", k, r)
		}
		testsupport.WaitFor(t, 15*time.Second, "the sweep closing the connection the server closed", func() bool {
			s := adminServerStats(t, adm, "app", "s1")
			return s.IdleReaped == int64(k) && s.IdleConns == 0
		})
		if n := len(u.Events(t, "accept")); n != k {
			t.Fatalf("round %d: the server accepted %d connections, want %d", k, n, k)
		}
		if got := metric(t, adm, series); got != float64(k) {
			t.Fatalf("round %d: %s = %v, want %d", k, series, got, k)
		}
	}
}

// adminServerStats reads one server's stats through GET /v1/stats on the
// admin listener adm.
func adminServerStats(t *testing.T, adm, be, srv string) ServerStats {
	t.Helper()
	code, body := adminGet(t, adm, "/v1/stats")
	if code != 200 {
		t.Fatalf("GET /v1/stats: %d %s", code, body)
	}
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /v1/stats: %v in %s", err, body)
	}
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			if b.Name == be && s.Name == srv {
				return s
			}
		}
	}
	t.Fatalf("no server %s/%s in GET /v1/stats", be, srv)
	return ServerStats{}
}

// readWholeRequest reads the first request of an in-test server's
// connection c, body and all, within 30s; ok is false when c broke
// first. br holds what c sent after it.
func readWholeRequest(c net.Conn) (req *http.Request, body []byte, br *bufio.Reader, ok bool) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br = bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, nil, false
	}
	if body, err = io.ReadAll(req.Body); err != nil {
		return nil, nil, nil, false
	}
	return req, body, br, true
}
