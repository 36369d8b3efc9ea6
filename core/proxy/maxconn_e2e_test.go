package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/internal/sockstat"
)

// maxconnConfig has two HTTP frontends, web and other, on one backend;
// {{global}} and {{web}} add keys to global and to frontend web.
const maxconnConfig = `
global:
  access_log: { output: none }
{{global}}
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 30s, http_request: 30s, http_keep_alive: 30s }
    default_backend: app
{{web}}
  other:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 30s, http_request: 30s, http_keep_alive: 30s }
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { connect: 1s, server: 10s }
    servers:
      s1: { address: "{{up}}" }
`

// startAdminAPI serves p's runtime API on a port of its own with token
// "tok" and returns its address.
func startAdminAPI(t *testing.T, p *testProxy) string {
	t.Helper()
	a := admin.New("tok", nil)
	p.RegisterAPI(a)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(t.Context()) })
	return a.Addr().String()
}

// adminGet calls the runtime API and returns the status and body.
func adminGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer tok")
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample series (a metric name with its
// labels, as written in the Prometheus text, e.g.
// `strata_frontend_maxconn{frontend="web"}`) read through GET /metrics.
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	code, body := adminGet(t, addr, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in GET /metrics:\n%s", series, body)
	return 0
}

// waitMetric waits until series reads want (bounded).
func waitMetric(t *testing.T, addr, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metric(t, addr, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAcceptQueue waits until n connections wait, not accepted, in the
// backlog of the listener on addr (bounded).
func waitAcceptQueue(t *testing.T, addr string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := sockstat.AcceptQueue(addr)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue of %s: %d connections, want %d", addr, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialN opens n connections to addr that send nothing; they close when
// the test ends.
func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	cs := make([]net.Conn, n)
	for i := range cs {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

// sendGet opens a connection to addr and writes a GET request on it; the
// answer is read later with readAnswer.
func sendGet(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dialN(t, addr, 1)[0]
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// readAnswer reads the response to sendGet's request (bounded) and
// returns its status.
func readAnswer(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMaxConn_Global: with global.maxconn 3 and three idle connections
// open, strata stops accepting. A fourth connection to the same frontend
// stays in the kernel's backlog, a connection to another frontend is not
// served, a flood of 200 more waits in the backlog too, and the admin API
// answers all along, its metrics counting the limit. Once the idle
// connections close, the waiting requests are served.
func TestMaxConn_Global(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, maxconnConfig, map[string]string{"up": up.Addr, "global": "  maxconn: 3", "web": ""})
	adm := startAdminAPI(t, p)
	web, other := p.addr("web"), p.addr("other")

	idle := dialN(t, web, 3)
	waitMetric(t, adm, "strata_current_connections", 3)
	waitMetric(t, adm, `strata_frontend_current_connections{frontend="web"}`, 3)

	fourth := sendGet(t, web)
	waitAcceptQueue(t, web, 1) // not accepted, not closed: waiting
	// The loop of frontend other was already waiting in accept: it takes
	// the connection and holds it, unserved, until a slot frees.
	toOther := sendGet(t, other)
	waitMetric(t, adm, "strata_maxconn_reached_total", 2)

	flood := dialN(t, web, 200)
	waitAcceptQueue(t, web, 201)
	if code, body := adminGet(t, adm, "/v1/stats"); code != 200 {
		t.Fatalf("GET /v1/stats during the flood: %d %s", code, body)
	}
	if got := metric(t, adm, "strata_maxconn"); got != 3 {
		t.Errorf("strata_maxconn = %v, want 3", got)
	}
	if got := metric(t, adm, "strata_current_connections"); got != 3 {
		t.Errorf("strata_current_connections at the limit = %v, want 3", got)
	}
	if got := metric(t, adm, `strata_frontend_current_connections{frontend="other"}`); got != 0 {
		t.Errorf("frontend other holds %v connections, want 0 (its connection waits)", got)
	}
	if got := up.Requests(t); got != 0 {
		t.Fatalf("the server got %d requests while strata was at its limit", got)
	}

	// The flood gives up; its connections, still queued, are accepted and
	// end at once when slots free. The idle connections leave.
	for _, c := range flood {
		c.Close()
	}
	for _, c := range idle {
		c.Close()
	}
	if code := readAnswer(t, fourth); code != 200 {
		t.Fatalf("the fourth connection: status %d", code)
	}
	if code := readAnswer(t, toOther); code != 200 {
		t.Fatalf("the connection to frontend other: status %d", code)
	}
	waitAcceptQueue(t, web, 0)
	waitMetric(t, adm, "strata_current_connections", 2) // the two served, kept alive
}

// TestMaxConn_Frontend: a frontend at its own maxconn stops accepting
// while another frontend of the process goes on serving; one of its
// connections closing lets the waiting one in.
func TestMaxConn_Frontend(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, maxconnConfig, map[string]string{"up": up.Addr, "global": "", "web": "    maxconn: 2"})
	adm := startAdminAPI(t, p)
	web, other := p.addr("web"), p.addr("other")

	idle := dialN(t, web, 2)
	waitMetric(t, adm, `strata_frontend_current_connections{frontend="web"}`, 2)
	third := sendGet(t, web)
	waitAcceptQueue(t, web, 1)
	waitMetric(t, adm, `strata_frontend_maxconn_reached_total{frontend="web"}`, 1)
	if got := metric(t, adm, `strata_frontend_maxconn{frontend="web"}`); got != 2 {
		t.Errorf(`strata_frontend_maxconn{frontend="web"} = %v, want 2`, got)
	}
	if got := metric(t, adm, "strata_maxconn_reached_total"); got != 0 {
		t.Errorf("strata_maxconn_reached_total = %v: the process limit was not reached", got)
	}

	for i := range 3 {
		c := sendGet(t, other)
		if code := readAnswer(t, c); code != 200 {
			t.Fatalf("frontend other, request %d: status %d", i, code)
		}
		c.Close()
	}
	if got, err := sockstat.AcceptQueue(web); err != nil || got != 1 {
		t.Fatalf("accept queue of web after the requests to other: %d, %v; want 1", got, err)
	}
	if got := up.Requests(t); got != 3 {
		t.Fatalf("the server got %d requests, want 3 (those of frontend other)", got)
	}

	idle[0].Close()
	if code := readAnswer(t, third); code != 200 {
		t.Fatalf("the third connection to web: status %d", code)
	}
	waitAcceptQueue(t, web, 0)
	waitMetric(t, adm, `strata_frontend_current_connections{frontend="web"}`, 2)
}

// TestMaxConn_DifferentialHAProxy runs the same scenario against HAProxy
// and strata, for global maxconn 3 and for frontend maxconn 2: open as
// many idle connections as the limit, then one that sends a request. Both
// must leave that one in the kernel's accept queue (not accept it, not
// close it), then serve it once an idle connection closes.
func TestMaxConn_DifferentialHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test: skipped in -short mode")
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed: the differential test needs it (apt-get install haproxy)")
	}
	up := startUpstream(t)
	tests := []struct {
		name           string
		limit          int
		hapGlobal      string // lines of HAProxy's global section
		hapFrontend    string // lines of its frontend
		strata, strWeb string // {{global}} and {{web}} of maxconnConfig
	}{
		{name: "global", limit: 3, hapGlobal: "  maxconn 3\n", strata: "  maxconn: 3"},
		{name: "frontend", limit: 2, hapFrontend: "  maxconn 2\n", strWeb: "    maxconn: 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			port := ppFreePort(t)
			cfg := "global\n" + tt.hapGlobal + `defaults
  mode http
  timeout client 30s
  timeout server 10s
  timeout connect 5s
  timeout http-request 30s
  timeout http-keep-alive 30s
frontend web
  bind 127.0.0.1:` + port + "\n" + tt.hapFrontend + `  default_backend app
backend app
  server s1 ` + up.Addr + "\n"
			if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			ppStartHAProxy(t, bin, filepath.Join(dir, "haproxy.cfg"), "127.0.0.1:"+port)
			p := startProxy(t, maxconnConfig, map[string]string{"up": up.Addr, "global": tt.strata, "web": tt.strWeb})

			for _, target := range []struct{ name, addr string }{{"haproxy", "127.0.0.1:" + port}, {"strata", p.addr("web")}} {
				// Each connection within the limit has a request answered,
				// then stays open, idle: the proxy holds all of them.
				idle := dialN(t, target.addr, tt.limit)
				for _, c := range idle {
					io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
					if code := readAnswer(t, c); code != 200 {
						t.Fatalf("%s: connection within the limit: status %d", target.name, code)
					}
				}
				waiting := sendGet(t, target.addr)
				waitAcceptQueue(t, target.addr, 1)
				idle[0].Close()
				if code := readAnswer(t, waiting); code != 200 {
					t.Fatalf("%s: the connection past the limit, once one closed: status %d", target.name, code)
				}
				waitAcceptQueue(t, target.addr, 0)
				for _, c := range append(idle[1:], waiting) {
					c.Close()
				}
			}
		})
	}
}

// TestMaxConn_Reload: connections of the old configuration keep counting
// against a frontend's maxconn after a reload, and a reload that raises
// the limit lets a waiting connection in at once, none having closed.
func TestMaxConn_Reload(t *testing.T) {
	up := startUpstream(t)
	vars := map[string]string{"up": up.Addr, "global": "", "web": "    maxconn: 2"}
	p := startProxy(t, maxconnConfig, vars)
	adm := startAdminAPI(t, p)
	web := p.addr("web")
	load := func(web string) *config.Config {
		vars["web"] = web
		y := maxconnConfig
		for k, v := range vars {
			y = strings.ReplaceAll(y, "{{"+k+"}}", v)
		}
		cfg, err := config.Load(config.Sources{YAML: []byte(y)})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	dialN(t, web, 2)
	waitMetric(t, adm, `strata_frontend_current_connections{frontend="web"}`, 2)
	third := sendGet(t, web)
	waitAcceptQueue(t, web, 1)

	// Same limit: the two connections of the old configuration still count.
	if _, err := p.Reload(load("    maxconn: 2"), generation.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, adm, `strata_frontend_current_connections{frontend="web"}`); got != 2 {
		t.Fatalf("after a reload: web holds %v connections, want 2", got)
	}
	if got, err := sockstat.AcceptQueue(web); err != nil || got != 1 {
		t.Fatalf("after a reload with the same limit: accept queue %d, %v; want 1", got, err)
	}

	if _, err := p.Reload(load("    maxconn: 3"), generation.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := readAnswer(t, third); code != 200 {
		t.Fatalf("after the limit was raised: status %d", code)
	}
	waitAcceptQueue(t, web, 0)
	waitMetric(t, adm, `strata_frontend_current_connections{frontend="web"}`, 3)
}
