package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/internal/testsupport"
)

const rulesConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 5s, http_request: 2s, http_keep_alive: 2s }
    forward_for: true
    acls:
      is_admin: "path_beg /admin"
    http_request:
      - "set-header x-forwarded-proto http"
      - "set-header x-seen %[req.hdr(host),lower]-%[path]"
      - "deny status 403 if is_admin"
      - "return status 200 content-type text/plain string pong if { path /ping }"
      - "redirect location https://example.test/moved code 301 if { path /old }"
      - "del-header x-secret"
    http_response: ["del-header x-server", "set-header x-proxy strata"]
    use_backend: ["api if { path_beg /api/ }"]
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{app}}" }
  api:
    mode: http
    servers:
      a1: { address: "{{api}}" }
`

func TestProxy_Rules(t *testing.T) {
	app := startUpstream(t, "-mode", "echo", "-name", "app")
	api := startUpstream(t, "-mode", "echo", "-name", "api")
	p := startProxy(t, rulesConfig, map[string]string{"app": app.Addr, "api": api.Addr})
	base := "http://" + p.addr("web")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(t *testing.T, path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = "Example.TEST"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}

	t.Run("headers set, deleted and forwarded", func(t *testing.T) {
		resp, b := get(t, "/page?q=1", map[string]string{"X-Secret": "s3cr3t"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		e := testsupport.DecodeEcho(t, b)
		if got := e.Header("x-forwarded-proto"); len(got) != 1 || got[0] != "http" {
			t.Fatalf("x-forwarded-proto %v", got)
		}
		if got := e.Header("x-seen"); len(got) != 1 || got[0] != "example.test-/page" {
			t.Fatalf("x-seen %v", got)
		}
		if got := e.Header("x-secret"); len(got) != 0 {
			t.Fatalf("x-secret reached the server: %v", got)
		}
		if got := e.Header("x-forwarded-for"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Fatalf("x-forwarded-for %v", got)
		}
		if resp.Header.Get("x-server") != "" || resp.Header.Get("x-proxy") != "strata" {
			t.Fatalf("response rules not applied: %v", resp.Header)
		}
		if e.URI != "/page?q=1" {
			t.Fatalf("uri %q", e.URI)
		}
	})
	t.Run("use_backend", func(t *testing.T) {
		before := api.Requests(t)
		resp, _ := get(t, "/api/v1", nil)
		if resp.StatusCode != 200 || api.Requests(t) != before+1 {
			t.Fatalf("status %d, api requests %d→%d", resp.StatusCode, before, api.Requests(t))
		}
	})
	t.Run("deny", func(t *testing.T) {
		before := app.Requests(t)
		resp, _ := get(t, "/admin/x", nil)
		if resp.StatusCode != 403 || app.Requests(t) != before {
			t.Fatalf("status %d; denied request reached the server", resp.StatusCode)
		}
	})
	t.Run("return", func(t *testing.T) {
		resp, b := get(t, "/ping", nil)
		if resp.StatusCode != 200 || string(b) != "pong" || resp.Header.Get("content-type") != "text/plain" {
			t.Fatalf("%d %q %v", resp.StatusCode, b, resp.Header)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := get(t, "/old", nil)
		if resp.StatusCode != 301 || resp.Header.Get("location") != "https://example.test/moved" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("deny keeps the connection for the next request", func(t *testing.T) {
		c, err := net.Dial("tcp", p.addr("web"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
		if r, _ := readResponse(t, br, "GET"); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		io.WriteString(c, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
		if r, _ := readResponse(t, br, "GET"); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
	})
}

const rejectConfig = `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["reject if { src 127.0.0.0/8 }"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`

func TestProxy_TCPRequestConnectionReject(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, rejectConfig, map[string]string{"up": up.Addr})
	out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if out != "" {
		t.Fatalf("a rejected connection got %q", out)
	}
	if up.Requests(t) != 0 {
		t.Fatal("a rejected connection reached the server")
	}
}

func TestProxy_WelcomeService(t *testing.T) {
	p := startProxy(t, `
global:
  access_log: { output: stdout, format: json }
frontends:
  welcome:
    bind: ["127.0.0.1:0"]
    use_service: ["welcome"]
`, nil)
	resp, err := http.Get("http://" + p.addr("welcome") + "/hello?x=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Frontend string `json:"frontend"`
		Request  struct {
			Method string `json:"method"`
			URI    string `json:"uri"`
		} `json:"request"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.Frontend != "welcome" || v.Request.Method != "GET" || v.Request.URI != "/hello?x=1" {
		t.Fatalf("%+v", v)
	}
	// Answered by the proxy: LR, as HAProxy logs its applets.
	if l := p.logLines(t, 1)[0]; l["service"] != "welcome" || l["termination_state"] != "LR" || l["termination_cause"] != "local" {
		t.Errorf("access log %v", l)
	}
}

func TestProxy_AdminStats(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	a := admin.New("tok", nil)
	p.RegisterAPI(a)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(t.Context()) })
	for range 3 {
		rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}
	rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\n\r\n") // no Host: 400

	url := "http://" + a.Addr().String() + "/v1/stats"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without a token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	fe := st.Frontends[0]
	if fe.Sessions != 4 || fe.Streams != 4 || fe.Status["2xx"] != 3 || fe.Status["4xx"] != 1 || fe.Term["bad_request"] != 1 {
		t.Fatalf("frontend stats %+v", fe)
	}
	be := st.Backends[0]
	if be.Status["2xx"] != 3 || be.Servers[0].Status["2xx"] != 3 || be.Servers[0].State != "ready" {
		t.Fatalf("backend stats %+v", be)
	}
	if fe.CurSessions != 0 {
		t.Fatalf("cur sessions %d after all closed", fe.CurSessions)
	}
}

// TestProxy_MalformedNeverForwarded sends request-smuggling attempts and
// malformed requests: each gets the exact status and nothing reaches the
// server.
func TestProxy_MalformedNeverForwarded(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{name: "CL and TE", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "TE then CL", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", status: 400},
		{name: "differing CL", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", status: 400},
		{name: "CL list differing", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcde", status: 400},
		{name: "TE not final chunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", status: 400},
		{name: "TE xchunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "space before colon", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", status: 400},
		{name: "NUL in value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", status: 400},
		{name: "bare LF", raw: "GET / HTTP/1.1\nHost: x\n\n", status: 400},
		{name: "bad name char", raw: "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", status: 400},
		{name: "no host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{name: "bad version", raw: "GET / HTTP/1.2\r\nHost: x\r\n\r\n", status: 505},
		{name: "bad chunk size", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "chunk size overflow", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "long request line", raw: "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", status: 414},
		{name: "too many headers", raw: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 120) + "\r\n", status: 431},
		{name: "head too large", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("b", 17000) + "\r\n\r\n", status: 431},
		{name: "CL plus sign", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd", status: 400},
		{name: "TE in HTTP/1.0", raw: "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rawExchange(t, p.addr("web"), tt.raw)
			if got := statusOf(out); got != tt.status {
				t.Fatalf("status %d, want %d; response %q", got, tt.status, out)
			}
			if !strings.Contains(out, "connection: close") {
				t.Fatalf("the connection must close after a rejected request: %q", out)
			}
		})
	}
	if n := up.Requests(t) + len(up.Events(t, "bad_request")); n != 0 {
		t.Fatalf("%d malformed requests reached the server", n)
	}
	if n := len(up.Events(t, "accept")); n != 0 {
		t.Fatalf("the server saw %d connections for malformed requests", n)
	}
	_ = fmt.Sprint
}
