package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// Helpers of the backend scenario tests: several named upstreams, a
// keep-alive client, parallel requests, the admin API.

// backendConfig is a proxy with one HTTP frontend and the backend app,
// whose settings are body (YAML indented by four spaces).
func backendConfig(body string) string {
	return `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    default_backend: app
backends:
  app:
    mode: http
` + body
}

// startUpstreams starts one upstream per name (-name NAME plus args) and
// returns them with the placeholders {{NAME}} → address.
func startUpstreams(t testing.TB, names []string, args ...string) (map[string]*upstream, map[string]string) {
	t.Helper()
	ups := map[string]*upstream{}
	vars := map[string]string{}
	for _, n := range names {
		u := startUpstream(t, append([]string{"-name", n}, args...)...)
		ups[n] = u
		vars[n] = u.Addr
	}
	return ups, vars
}

// client is one keep-alive client connection.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

// dial connects to addr, from local (an IP of the loopback network) when
// it is not empty.
func dial(t testing.TB, addr, local string) *client {
	t.Helper()
	c := testsupport.DialFrom(t, addr, local)
	return &client{c: c, br: bufio.NewReader(c)}
}

// reply is what a test keeps of a response.
type reply struct {
	status int
	server string // x-server: which upstream answered
	body   string
	err    error
}

// do sends a request with extra header lines and reads the response.
func (cl *client) do(method, path string, headers ...string) reply {
	cl.c.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\n", method, path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(cl.c, b.String()); err != nil {
		return reply{err: err}
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		return reply{err: err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{status: resp.StatusCode, server: resp.Header.Get("x-server"), body: string(body), err: err}
}

// get is do("GET") that fails the test on a transport error.
func (cl *client) get(t testing.TB, path string, headers ...string) reply {
	t.Helper()
	r := cl.do("GET", path, headers...)
	if r.err != nil {
		t.Fatalf("GET %s: %v", path, r.err)
	}
	return r
}

// getOnce sends one request on a new connection.
func getOnce(t testing.TB, addr, path string, headers ...string) reply {
	t.Helper()
	return dial(t, addr, "").get(t, path, headers...)
}

// parallel sends the requests at once, each on its own connection, and
// returns the replies in the order of paths.
func parallel(t testing.TB, addr string, paths []string) []reply {
	t.Helper()
	out := make([]reply, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				out[i] = reply{err: err}
				return
			}
			defer c.Close()
			out[i] = (&client{c: c, br: bufio.NewReader(c)}).do("GET", p)
		}()
	}
	wg.Wait()
	return out
}

func tally(rs []reply) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.server]++
	}
	return m
}

// timedEvent is an upstream log line with its time.
type timedEvent = upstreamEvent

// maxOverlap is the most requests a server handled at once, taking each
// request to last from its arrival for d (the server's own /delay/d).
func maxOverlap(evs []timedEvent, d time.Duration) int {
	type edge struct {
		at time.Time
		up int
	}
	var edges []edge
	for _, e := range evs {
		edges = append(edges, edge{e.Time, 1}, edge{e.Time.Add(d), -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].up < edges[j].up
		}
		return edges[i].at.Before(edges[j].at)
	})
	cur, most := 0, 0
	for _, e := range edges {
		cur += e.up
		most = max(most, cur)
	}
	return most
}

// adminAPI serves the runtime API of p on a free port with token "tok".
type adminAPI struct {
	base string
}

func startAdmin(t testing.TB, p *testProxy) *adminAPI {
	t.Helper()
	a := admin.New("tok", nil)
	p.RegisterAPI(a)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(t.Context()) })
	return &adminAPI{base: "http://" + a.Addr().String()}
}

// call sends a request with the token and decodes the JSON answer into v
// (when not nil); it returns the status.
func (a *adminAPI) call(t testing.TB, method, path, body string, v any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if v, ok := v.(*string); ok {
		*v = string(b)
	}
	return resp.StatusCode
}

// server reads one server of backend app from the proxy.
func (p *testProxy) server(t testing.TB, name string) ServerStats {
	t.Helper()
	for _, be := range p.Stats().Backends {
		for _, s := range be.Servers {
			if be.Name == "app" && s.Name == name {
				return s
			}
		}
	}
	t.Fatalf("no server app/%s", name)
	return ServerStats{}
}

// closedAddr returns a loopback address where nothing listens: connections
// are refused.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
