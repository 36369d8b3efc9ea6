package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Example configurations run as written, with only their listening and
// server addresses moved (--set) onto free ports and test upstreams.

// listenAddr returns the address frontend listens on, from strata's log.
func (p *strataProc) listenAddr(t *testing.T, frontend string) string {
	t.Helper()
	re := regexp.MustCompile(`msg=listening frontend=` + regexp.QuoteMeta(frontend) + ` address=(\S+)`)
	var addr string
	testsupport.WaitFor(t, 10*time.Second, "frontend "+frontend+" listening", func() bool {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// getOn sends GET path on c and returns the response.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, host, path string) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.ReadAll(resp.Body)
	return resp
}

// TestExample_TLSSNI runs examples/configs/tls-sni.yaml: the certificate
// is chosen by the name the client sends (the first one for an unknown
// name), api.example.com goes to the api backend and the rest to app,
// ALPN offers h2, and plain HTTP is redirected to https.
func TestExample_TLSSNI(t *testing.T) {
	app, api := startUpstream(t, "app1"), startUpstream(t, "api1")
	p := strataRun(t, "-c", "../../examples/configs/tls-sni.yaml",
		"--set", "frontends.https.bind=127.0.0.1:0", "--set", "frontends.http.bind=127.0.0.1:0",
		"--set", "backends.app.servers.s1.address="+app.addr, "--set", "backends.app.servers.s2.address="+app.addr,
		"--set", "backends.api.servers.a1.address="+api.addr)
	httpsAddr := p.listenAddr(t, "https")

	for _, tc := range []struct {
		name, sni, wantCN, wantServer string
	}{
		{name: "api name", sni: "api.example.com", wantCN: "api.example.com", wantServer: "api1"},
		{name: "site name", sni: "example.com", wantCN: "example.com", wantServer: "app1"},
		{name: "unknown name: the first certificate", sni: "other.test", wantCN: "example.com", wantServer: "app1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
				t.Fatalf("certificate %q for SNI %q, want %q", cn, tc.sni, tc.wantCN)
			}
			resp := getOn(t, c, bufio.NewReader(c), tc.sni, "/x")
			if resp.StatusCode != 200 || resp.Header.Get("x-server") != tc.wantServer {
				t.Fatalf("%d from %q, want 200 from %s", resp.StatusCode, resp.Header.Get("x-server"), tc.wantServer)
			}
		})
	}
	t.Run("alpn h2", func(t *testing.T) {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.ConnectionState().NegotiatedProtocol; got != "h2" {
			t.Fatalf("ALPN chose %q, want h2", got)
		}
	})
	t.Run("http redirected", func(t *testing.T) {
		c, err := net.Dial("tcp", p.listenAddr(t, "http"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp := getOn(t, c, bufio.NewReader(c), "example.com", "/x?y=1")
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.com/x?y=1" {
			t.Fatalf("%d Location %q, want 301 to https://example.com/x?y=1", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestExample_RateLimit runs examples/configs/rate-limit.yaml: from one
// address, the first 20 requests in 10s pass and the next ones get 429.
func TestExample_RateLimit(t *testing.T) {
	up := startUpstream(t, "s1")
	p := strataRun(t, "-c", "../../examples/configs/rate-limit.yaml",
		"--set", "frontends.web.bind=127.0.0.1:0", "--set", "backends.app.servers.s1.address="+up.addr)
	c, err := net.Dial("tcp", p.listenAddr(t, "web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 1; i <= 25; i++ {
		want := 200
		if i > 20 {
			want = 429
		}
		if resp := getOn(t, c, br, "test", fmt.Sprintf("/r%d", i)); resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

// TestExample_Canary runs examples/configs/canary.yaml: the x-canary
// header and the canary cookie force either version, and without them a
// client stays on the version it was first given (the stick table).
func TestExample_Canary(t *testing.T) {
	v1, v2 := startUpstream(t, "v1"), startUpstream(t, "v2")
	p := strataRun(t, "-c", "../../examples/configs/canary.yaml", "--set", "frontends.web.bind=127.0.0.1:0",
		"--set", "backends.app.servers.v1.address="+v1.addr, "--set", "backends.app.servers.v2.address="+v2.addr,
		"--set", "backends.v1.servers.s1.address="+v1.addr, "--set", "backends.v2.servers.s1.address="+v2.addr)
	addr := p.listenAddr(t, "web")
	send := func(header string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\n%s\r\n", header)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		return resp.Header.Get("x-server")
	}
	for _, tc := range []struct{ name, header, want string }{
		{"header forces v2", "x-canary: 1\r\n", "v2"},
		{"header forces v1", "x-canary: 0\r\n", "v1"},
		{"cookie forces v2", "cookie: a=b; canary=always\r\n", "v2"},
		{"cookie forces v1", "cookie: canary=never\r\n", "v1"},
	} {
		if got := send(tc.header); got != tc.want {
			t.Errorf("%s: answered by %q, want %s", tc.name, got, tc.want)
		}
	}
	first := send("")
	for i := range 10 {
		if got := send(""); got != first {
			t.Fatalf("request %d went to %q, the client's first to %q: not sticky", i, got, first)
		}
	}
}

// TestExample_WebSocket runs examples/configs/websocket.yaml: an Upgrade
// request goes to the ws backend and gets the server's 101; a plain
// request goes to app.
func TestExample_WebSocket(t *testing.T) {
	ws, app := startUpstream(t, "ws"), startUpstream(t, "app")
	p := strataRun(t, "-c", "../../examples/configs/websocket.yaml", "--set", "frontends.web.bind=127.0.0.1:0",
		"--set", "backends.ws.servers.ws1.address="+ws.addr, "--set", "backends.ws.servers.ws2.address="+ws.addr,
		"--set", "backends.app.servers.s1.address="+app.addr)
	c, err := net.Dial("tcp", p.listenAddr(t, "web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if resp := getOn(t, c, br, "test", "/page"); resp.StatusCode != 200 || resp.Header.Get("x-server") != "app" {
		t.Fatalf("plain request: %d from %q, want 200 from app", resp.StatusCode, resp.Header.Get("x-server"))
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /chat HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("x-server") != "ws" || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %d from %q (accept %q), want 101 from ws", resp.StatusCode, resp.Header.Get("x-server"), resp.Header.Get("Sec-WebSocket-Accept"))
	}
}
