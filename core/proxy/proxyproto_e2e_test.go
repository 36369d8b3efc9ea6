package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/proxyproto"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// ppExchange opens a connection to addr, sends header (which may be split
// in pieces written separately), then an HTTP request, and returns all the
// proxy answers until it closes.
func ppExchange(t testing.TB, addr string, pieces ...string) string {
	t.Helper()
	c := testsupport.DialFrom(t, addr, "")
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := io.WriteString(c, p); err != nil {
			break // the proxy may close early
		}
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

const ppRequest = "GET /pp HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n"

func v2Header(src, dst string) string {
	return string(proxyproto.AppendV2(nil, netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)))
}

// TestProxyProtocol_In: PROXY v1 and v2 headers give the connection its
// addresses: src ACLs, X-Forwarded-For and the access log see them, while
// tcp_request_connection rules see the real ones.
func TestProxyProtocol_In(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, testsupport.JSONAccessLog+
		testsupport.Frontends(testsupport.Frontend("web", "accept_proxy: true", "forward_for: true", "timeouts: { client: 5s }",
			// The real address is 127.0.0.1: never rejected before the header.
			`tcp_request_connection: ["reject if { src 203.0.113.0/24 }"]`,
			`tcp_request_session: ["reject if { src 198.51.100.99 }"]`,
			`http_request: ["deny status 403 if { src 203.0.113.66 }", "set-header x-dst %[dst]:%[dst_port]"]`,
			"default_backend: app"))+
		testsupport.Backends(testsupport.Backend("app", []string{"s1: " + up.Addr})), nil)
	addr := p.addr("web")
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name    string
		pieces  []string
		status  int
		xff     string // X-Forwarded-For the server sees
		xdst    string
		logged  string // client in the access log
		anySrc  bool   // the header keeps the real address (127.0.0.1:random)
		refused bool   // closed by the session rules, no answer
	}{
		{name: "v1 tcp4", pieces: []string{"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n" + ppRequest},
			status: 200, xff: "203.0.113.7", xdst: "192.0.2.1:443", logged: "203.0.113.7:40000"},
		{name: "v1 tcp6", pieces: []string{"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n" + ppRequest},
			status: 200, xff: "2001:db8::7", xdst: "2001:db8::1:443", logged: "[2001:db8::7]:40000"},
		{name: "v2 tcp4", pieces: []string{v2Header("203.0.113.8:1234", "192.0.2.1:80") + ppRequest},
			status: 200, xff: "203.0.113.8", xdst: "192.0.2.1:80", logged: "203.0.113.8:1234"},
		{name: "v2 tcp6", pieces: []string{v2Header("[2001:db8::8]:1234", "[2001:db8::1]:80") + ppRequest},
			status: 200, xff: "2001:db8::8", xdst: "2001:db8::1:80", logged: "[2001:db8::8]:1234"},
		{name: "header in pieces", pieces: []string{"PROX", "Y TCP4 203.0.113.9 192.0.2.1 1 2", "\r\n" + ppRequest},
			status: 200, xff: "203.0.113.9", xdst: "192.0.2.1:2", logged: "203.0.113.9:1"},
		{name: "v2 in pieces", pieces: []string{v2Header("203.0.113.10:5", "192.0.2.1:6")[:10], v2Header("203.0.113.10:5", "192.0.2.1:6")[10:] + ppRequest},
			status: 200, xff: "203.0.113.10", xdst: "192.0.2.1:6", logged: "203.0.113.10:5"},
		{name: "src acl sees the header", pieces: []string{"PROXY TCP4 203.0.113.66 192.0.2.1 40000 443\r\n" + ppRequest},
			status: 403, logged: "203.0.113.66:40000"},
		{name: "session rules see the header", pieces: []string{"PROXY TCP4 198.51.100.99 192.0.2.1 40000 443\r\n" + ppRequest},
			refused: true},
		{name: "v1 unknown keeps the real address", pieces: []string{"PROXY UNKNOWN\r\n" + ppRequest},
			status: 200, xff: "127.0.0.1", xdst: "127.0.0.1:" + port, anySrc: true},
		{name: "v2 local keeps the real address", pieces: []string{string(proxyproto.AppendV2(nil, netip.AddrPort{}, netip.AddrPort{})) + ppRequest},
			status: 200, xff: "127.0.0.1", xdst: "127.0.0.1:" + port, anySrc: true},
	}
	logged := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ppExchange(t, addr, tt.pieces...)
			if tt.refused {
				if out != "" {
					t.Fatalf("answered %q", out)
				}
				return
			}
			if got := statusOf(out); got != tt.status {
				t.Fatalf("status %d, want %d:\n%s", got, tt.status, out)
			}
			if tt.xff != "" {
				_, body, _ := strings.Cut(out, "\r\n\r\n")
				e := testsupport.DecodeEcho(t, []byte(body))
				if got := e.Header("x-forwarded-for"); len(got) != 1 || got[0] != tt.xff {
					t.Errorf("x-forwarded-for %v, want %s", got, tt.xff)
				}
				if got := e.Header("x-dst"); len(got) != 1 || got[0] != tt.xdst {
					t.Errorf("dst %v, want %s", got, tt.xdst)
				}
			}
			logged++
			lines := p.logLines(t, logged)
			client, _ := lines[logged-1]["client"].(string)
			if tt.anySrc {
				if !strings.HasPrefix(client, "127.0.0.1:") {
					t.Errorf("access log client %q, want the real address", client)
				}
			} else if client != tt.logged {
				t.Errorf("access log client %q, want %q", client, tt.logged)
			}
		})
	}
	if n := frontendStats(p, "web").ProxyErrors; n != 0 {
		t.Errorf("proxy protocol errors %d", n)
	}
}

// TestProxyProtocol_Malformed: a missing, malformed or late header closes
// the connection before anything reaches a server, and is counted.
func TestProxyProtocol_Malformed(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, testsupport.NoAccessLog+
		testsupport.Frontends(
			testsupport.Frontend("web", "accept_proxy: true", "timeouts: { client: 300ms }", "default_backend: app"),
			testsupport.Frontend("raw", "mode: tcp", "accept_proxy: true", "timeouts: { client: 300ms }", "default_backend: tcp"))+
		testsupport.Backends(
			testsupport.Backend("app", []string{"s1: " + up.Addr}),
			testsupport.Backend("tcp", []string{"s1: " + up.Addr}, "mode: tcp")), nil)
	huge := []byte(v2Header("203.0.113.7:1", "192.0.2.1:2"))
	huge[14], huge[15] = 0x50, 0x00 // 20480 bytes of TLVs announced
	tests := []struct {
		name   string
		pieces []string
	}{
		{name: "no header", pieces: []string{ppRequest}},
		{name: "lower case", pieces: []string{"proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n" + ppRequest}},
		{name: "leading zero", pieces: []string{"PROXY TCP4 203.0.113.07 192.0.2.1 1 2\r\n" + ppRequest}},
		{name: "family mismatch", pieces: []string{"PROXY TCP6 203.0.113.7 192.0.2.1 1 2\r\n" + ppRequest}},
		{name: "lf only", pieces: []string{"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n" + ppRequest}},
		{name: "too long", pieces: []string{"PROXY UNKNOWN " + strings.Repeat("x", 120) + "\r\n" + ppRequest}},
		{name: "v2 version 1", pieces: []string{"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x00" + ppRequest}},
		{name: "v2 bad command", pieces: []string{"\r\n\r\n\x00\r\nQUIT\n\x2f\x11\x00\x00" + ppRequest}},
		{name: "v2 short block", pieces: []string{"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04" + ppRequest}},
		{name: "v2 larger than the buffer", pieces: []string{string(huge) + strings.Repeat("\x04\x00\x00", 6000)}},
		{name: "nothing sent", pieces: nil},
		{name: "header never finished", pieces: []string{"PROXY TCP4 203.0.113.7 "}},
	}
	for _, fe := range []string{"web", "raw"} {
		for _, tt := range tests {
			t.Run(fe+"/"+tt.name, func(t *testing.T) {
				before := frontendStats(p, fe).ProxyErrors
				if out := ppExchange(t, p.addr(fe), tt.pieces...); out != "" {
					t.Fatalf("answered %q", out)
				}
				testsupport.WaitFor(t, 5*time.Second, "the error counted", func() bool { return frontendStats(p, fe).ProxyErrors == before+1 })
			})
		}
	}
	if n := up.Requests(t); n != 0 {
		t.Errorf("%d requests reached the upstream", n)
	}
	if ev := up.Events(t, "accept"); len(ev) != 0 {
		t.Errorf("%d connections reached the upstream", len(ev))
	}
}

// TestProxyProtocol_WithTLS: the PROXY header comes first, then the TLS
// handshake; both are visible to the rules.
func TestProxyProtocol_WithTLS(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webConfig(up.Addr, "accept_proxy: true", testsupport.TLSKey(leaves(site)),
		`tcp_request_session: ["reject if { src 203.0.113.66 } { ssl_fc_sni a.test }"]`, sslHeaders), nil)
	for _, tt := range []struct {
		header  string
		src     string
		refused bool
	}{
		{header: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", src: "203.0.113.7"},
		{header: v2Header("[2001:db8::7]:1", "[2001:db8::1]:443"), src: "2001:db8::7"},
		{header: "PROXY TCP4 203.0.113.66 192.0.2.1 40000 443\r\n", refused: true},
	} {
		client := testsupport.NewClient(p.addr("web"), testsupport.Client{Proto: testsupport.TLS, Roots: ca.Pool, ProxyHeader: tt.header})
		resp, err := client.Get("https://a.test/")
		if tt.refused {
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%q: not refused", tt.header)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.header, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := echoHeader(t, body, "x-src"); got != tt.src {
			t.Errorf("src %q, want %q", got, tt.src)
		}
		if got := echoHeader(t, body, "x-sni"); got != "a.test" {
			t.Errorf("sni %q", got)
		}
	}
}

// ppOrigin is a test server that reads a PROXY header on each connection,
// then answers every HTTP request with the header's addresses.
type ppOrigin struct {
	addr string
	mu   sync.Mutex
	hdrs []proxyproto.Header
}

func startPPOrigin(t testing.TB, httpMode bool) *ppOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &ppOrigin{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				var buf []byte
				var h proxyproto.Header
				for {
					b, err := br.ReadByte()
					if err != nil {
						return
					}
					buf = append(buf, b)
					hh, n, err := proxyproto.Parse(buf)
					if err == nil && n == len(buf) {
						h = hh
						break
					}
					if err != nil && err != proxyproto.ErrIncomplete {
						return
					}
				}
				o.mu.Lock()
				o.hdrs = append(o.hdrs, h)
				o.mu.Unlock()
				if !httpMode {
					fmt.Fprintf(c, "%s %s\n", h.Src, h.Dst)
					return
				}
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					body := fmt.Sprintf("%s %s", h.Src, h.Dst)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	return o
}

func (o *ppOrigin) headers() []proxyproto.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]proxyproto.Header(nil), o.hdrs...)
}

// TestProxyProtocol_Out: send_proxy v1 and v2 write a header describing the
// client on each new server connection; such connections are not pooled.
func TestProxyProtocol_Out(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			origin := startPPOrigin(t, true)
			tcpOrigin := startPPOrigin(t, false)
			sendProxy := fmt.Sprintf(", send_proxy: v%d", version)
			p := startProxy(t, testsupport.NoAccessLog+
				testsupport.Frontends(
					testsupport.Frontend("web", "default_backend: app"),
					testsupport.Frontend("relayed", "accept_proxy: true", "default_backend: app"),
					testsupport.Frontend("raw", "mode: tcp", "default_backend: tcp"))+
				testsupport.Backends(
					testsupport.Backend("app", []string{"s1: " + origin.addr + sendProxy}),
					testsupport.Backend("tcp", []string{"s1: " + tcpOrigin.addr + sendProxy}, "mode: tcp")), nil)

			// Two requests on one client connection: two server
			// connections, each with its header.
			c := testsupport.DialFrom(t, p.addr("web"), "")
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			want := c.LocalAddr().String() + " " + p.addr("web")
			for i := range 2 {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				if resp, body := readHTTP(t, br); resp.StatusCode != 200 || body != want {
					t.Fatalf("request %d: %s %q, want %q", i, resp.Status, body, want)
				}
			}
			hs := origin.headers()
			if len(hs) != 2 {
				t.Fatalf("%d server connections for 2 requests, want 2 (no pooling with send_proxy)", len(hs))
			}
			for _, h := range hs {
				if int(h.Version) != version || h.Command != proxyproto.CmdProxy {
					t.Errorf("header %+v", h)
				}
			}
			if n := p.server(t, "s1").IdleConns; n != 0 {
				t.Errorf("%d idle connections kept for a send_proxy server", n)
			}

			// Behind a PROXY header, the header sent describes the
			// original client.
			out := ppExchange(t, p.addr("relayed"), "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"+ppRequest)
			if !strings.HasSuffix(out, "203.0.113.7:40000 192.0.2.1:443") {
				t.Errorf("relayed: %q", out)
			}

			// TCP mode.
			rc := testsupport.DialFrom(t, p.addr("raw"), "")
			rc.SetDeadline(time.Now().Add(10 * time.Second))
			line, _ := bufio.NewReader(rc).ReadString('\n')
			if want := rc.LocalAddr().String() + " " + p.addr("raw") + "\n"; line != want {
				t.Errorf("tcp mode: %q, want %q", line, want)
			}
		})
	}
}

// TestProxyProtocol_HAProxyInterop chains strata and HAProxy both ways,
// with PROXY v2 and TLS on each hop:
//
//	client ─PROXY v1─▶ HAProxy (tcp) ─PROXY v2+TLS─▶ strata (http)
//	       ─PROXY v2+TLS─▶ HAProxy (http, forwardfor) ─▶ upstream (echo)
//
// The upstream must see the address of the first header, and each TLS hop
// must verify.
func TestProxyProtocol_HAProxyInterop(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed")
	}
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	strataCert := ca.Issue(t, "strata", testsupport.CN("strata.test"), false, "strata.test")
	hapCert := ca.Issue(t, "hap", testsupport.CN("haproxy.test"), false, "haproxy.test")
	combined := dir + "/hap-combined.pem"
	ppWriteCombined(t, combined, hapCert)
	up := startUpstream(t, "-mode", "echo")
	inPort, outPort := ppFreePort(t), ppFreePort(t)
	p := startProxy(t, testsupport.NoAccessLog+
		testsupport.Frontends(testsupport.Frontend("web", "accept_proxy: true", testsupport.TLSKey(leaves(strataCert)),
			`http_request: ["set-header x-strata-sni %[ssl_fc_sni]", "set-header x-strata-src %[src]"]`, "default_backend: hap"))+
		testsupport.Backends(testsupport.Backend("hap", []string{
			"s1: 127.0.0.1:" + outPort + `, send_proxy: v2, tls: { verify: required, ca: "` + ca.File + `", sni: haproxy.test }`})), nil)
	cfg := fmt.Sprintf(`
global
    log stderr format raw local0 err
defaults
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend in
    mode tcp
    bind 127.0.0.1:%s accept-proxy
    default_backend to_strata
backend to_strata
    mode tcp
    server strata %s send-proxy-v2 ssl verify required ca-file %s sni str(strata.test)
frontend out
    mode http
    bind 127.0.0.1:%s accept-proxy ssl crt %s
    option forwardfor
    http-request set-header x-haproxy-sni %%[ssl_fc_sni]
    default_backend up
backend up
    mode http
    server up %s
`, inPort, p.addr("web"), ca.File, outPort, combined, up.Addr)
	cfgFile := dir + "/haproxy.cfg"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ppStartHAProxy(t, haproxy, cfgFile, "127.0.0.1:"+inPort, "127.0.0.1:"+outPort)
	out := ppExchange(t, "127.0.0.1:"+inPort, "PROXY TCP4 203.0.113.9 192.0.2.1 40000 443\r\n"+ppRequest)
	if statusOf(out) != 200 {
		t.Fatalf("through the chain: %q", out)
	}
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	e := testsupport.DecodeEcho(t, []byte(body))
	for h, want := range map[string]string{
		"x-forwarded-for": "203.0.113.9", "x-strata-src": "203.0.113.9",
		"x-strata-sni": "strata.test", "x-haproxy-sni": "haproxy.test",
	} {
		if got := e.Header(h); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %s", h, got, want)
		}
	}
}

// ppFreePort returns a loopback port nothing listens on now.
func ppFreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// ppWriteCombined writes a certificate and its key in one file, as HAProxy's
// crt wants them.
func ppWriteCombined(t testing.TB, file string, l testsupport.Leaf) {
	t.Helper()
	cb, err := os.ReadFile(l.Cert)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(cb, kb...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ppStartHAProxy checks and starts HAProxy on cfg in the foreground, waits
// until every address in addrs accepts connections, and stops it when the
// test ends.
func ppStartHAProxy(t testing.TB, bin, cfg string, addrs ...string) {
	t.Helper()
	if out, err := exec.Command(bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr.String())
		}
	})
	for _, a := range addrs {
		for i := 0; ; i++ {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if i == 200 {
				t.Fatalf("haproxy does not listen on %s:\n%s", a, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
