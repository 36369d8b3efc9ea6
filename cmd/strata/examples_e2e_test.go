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
)

// Example configurations run as written, with only their listening and
// server addresses moved (--set) onto free ports and test upstreams.

// listenAddr returns the address frontend listens on, from strata's log.
func (p *strataProc) listenAddr(t *testing.T, frontend string) string {
	t.Helper()
	re := regexp.MustCompile(`msg=listening frontend=` + regexp.QuoteMeta(frontend) + ` address=(\S+)`)
	var addr string
	waitFor(t, 10*time.Second, "frontend "+frontend+" listening", func() bool {
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
