package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// accessLogRequests are the requests of the access-log differential tests,
// each on its own connection: a 200 with captured headers (one cut to its
// len), a 404 from the server, a request denied by a rule, a backend
// without a usable server (503), an HTTP/1.0 request with a query string,
// a request neither can parse (a '#' in its target).
var accessLogRequests = []string{
	"GET /ok HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl-differential\r\nConnection: close\r\n\r\n",
	"GET /status/404 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	"GET /deny/me HTTP/1.1\r\nHost: deny.example\r\nUser-Agent: x|y{z}\r\nConnection: close\r\n\r\n",
	"GET /nosrv HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	"GET /q?a=1&b=%22 HTTP/1.0\r\nHost: example.com\r\n\r\n",
	"GET /q?a=1&b=%22#x HTTP/1.0\r\nHost: example.com\r\n\r\n",
}

// TestAccessLog_HTTPLogDifferentialHAProxy sends the same requests through
// HAProxy 2.6 with `option httplog` (logging to stdout, format raw) and
// through strata with log_format httplog and the same captures: every line
// must be equal field by field, except the client port, the date and the
// timers (whose values differ; a timer not reached, -1, must be -1 in
// both). A monitor-uri probe sent first is answered 200 by both and
// logged by neither.
func TestAccessLog_HTTPLogDifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)
	haddr := haproxyAddr(t)
	sock := filepath.Join(t.TempDir(), "haproxy.sock")
	hap := startHAProxy(t, fmt.Sprintf(`global
  log stdout format raw local0
  stats socket %s level admin
defaults
  mode http
  log global
  option httplog
  option dontlognull
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend web
  bind %s
  monitor-uri /healthz
  capture request header Host len 32
  capture request header User-Agent len 8
  capture response header X-Server len 4
  http-request deny if { path_beg /deny }
  use_backend nosrv if { path_beg /nosrv }
  default_backend app
backend app
  server s1 %s
backend nosrv
  server s1 %s disabled
`, sock, haddr, up.Addr, up.Addr), haddr)

	p := startProxy(t, `
global:
  access_log: { output: stdout }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    log_format: httplog
    monitor_uri: /healthz
    capture_request_headers: [{ name: Host, len: 32 }, { name: User-Agent, len: 8 }]
    capture_response_headers: [{ name: X-Server, len: 4 }]
    http_request: ["deny if { path_beg /deny }"]
    use_backend: ["nosrv if { path_beg /nosrv }"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
  nosrv:
    servers:
      s1: { address: "{{up}}", disabled: true }
`, map[string]string{"up": up.Addr})
	saddr := p.addr("web")

	// One connection at a time, each gone before the next, so that both
	// count the same connections (%ac, %fc).
	waitNoConns(t, p, sock) // HAProxy's readiness probe is gone
	probe := "GET /healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
	if h, s := statusOf(rawExchange(t, haddr, probe)), statusOf(rawExchange(t, saddr, probe)); h != 200 || s != 200 {
		t.Fatalf("monitor-uri probe: haproxy answered %d, strata %d, want 200 from both", h, s)
	}
	waitNoConns(t, p, sock)
	for _, raw := range accessLogRequests {
		h, s := statusOf(rawExchange(t, haddr, raw)), statusOf(rawExchange(t, saddr, raw))
		if h != s {
			t.Fatalf("%q: haproxy answered %d, strata %d", strings.SplitN(raw, "\r\n", 2)[0], h, s)
		}
		waitNoConns(t, p, sock)
	}
	n := len(accessLogRequests)
	hLines := waitLines(t, n, func() []string { return logLinesFrom(hap.out.String()) })
	sLines := waitLines(t, n, func() []string { p.Proxy.Alog.Flush(); return logLinesFrom(p.logbuf.String()) })
	if len(hLines) != n || len(sLines) != n {
		t.Fatalf("%d requests besides the monitor probe; haproxy logged %d lines, strata %d:\n%s\n%s", n, len(hLines), len(sLines), strings.Join(hLines, "\n"), strings.Join(sLines, "\n"))
	}
	for i := range n {
		h, s := httplogFields(t, hLines[i]), httplogFields(t, sLines[i])
		if strings.Join(h, "\n") != strings.Join(s, "\n") {
			t.Errorf("line %d differs:\nhaproxy: %s\nstrata:  %s\nfields:\nhaproxy: %q\nstrata:  %q", i, hLines[i], sLines[i], h, s)
		}
	}
	t.Logf("haproxy:\n  %s\nstrata:\n  %s", strings.Join(hLines, "\n  "), strings.Join(sLines, "\n  "))
}

// logLinesFrom returns the access-log lines of out (HAProxy also prints
// its notices there).
func logLinesFrom(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "127.0.0.1:") {
			lines = append(lines, l)
		}
	}
	return lines
}

// waitLines waits until read returns at least n lines.
func waitLines(t *testing.T, n int, read func() []string) []string {
	t.Helper()
	for range 500 {
		if l := read(); len(l) >= n {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	l := read()
	t.Fatalf("%d log lines, want %d:\n%s", len(l), n, strings.Join(l, "\n"))
	return nil
}

// httplogLine is HAProxy's httplog line (its manual, 8.2.3).
var httplogLine = regexp.MustCompile(`^(\S+):(\d+) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (\S+) (\S+)/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(\+?-?\d+) (-?\d+) (\d+) (\S+) (\S+) (\S{4}) (\d+)/(\d+)/(\d+)/(\d+)/(\+?\d+) (\d+)/(\d+) (?:(\{[^}]*\}) )?(?:(\{[^}]*\}) )?(".*")$`)

// httplogFields splits an httplog line into its fields, with the client
// port and the date blanked and each timer reduced to "-1" (not reached)
// or "t".
func httplogFields(t *testing.T, line string) []string {
	t.Helper()
	m := httplogLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not an httplog line: %q", line)
	}
	f := m[1:]
	f[1], f[2] = "port", "date"
	for i := 6; i <= 10; i++ { // TR Tw Tc Tr Ta
		if f[i] != "-1" {
			f[i] = "t"
		}
	}
	return f
}

// TestAccessLog_TCPLogDifferentialHAProxy does the same in TCP mode with
// `option tcplog`: a tunnel to an echo server that the client closes, and
// a connection to a backend without a usable server.
func TestAccessLog_TCPLogDifferentialHAProxy(t *testing.T) {
	up := startUpstream(t, "-mode", "tcp")
	// Without dontlognull (which would hide a connection that gets no
	// server before its data is read); the readiness probe has a
	// frontend of its own, whose line is left out.
	probe, haddr, haddr2 := haproxyAddr(t), haproxyAddr(t), haproxyAddr(t)
	sock := filepath.Join(t.TempDir(), "haproxy.sock")
	hap := startHAProxy(t, fmt.Sprintf(`global
  log stdout format raw local0
  stats socket %s level admin
defaults
  mode tcp
  log global
  option tcplog
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend probe
  bind %s
  default_backend app
frontend echo
  bind %s
  default_backend app
frontend none
  bind %s
  default_backend nosrv
backend app
  server s1 %s
backend nosrv
  server s1 %s disabled
`, sock, probe, haddr, haddr2, up.Addr, up.Addr), probe)

	p := startProxy(t, `
global:
  access_log: { output: stdout }
frontends:
  echo:
    bind: ["127.0.0.1:0"]
    mode: tcp
    log_format: tcplog
    default_backend: app
  none:
    bind: ["127.0.0.1:0"]
    mode: tcp
    log_format: tcplog
    default_backend: nosrv
backends:
  app:
    mode: tcp
    servers:
      s1: { address: "{{up}}" }
  nosrv:
    mode: tcp
    servers:
      s1: { address: "{{up}}", disabled: true }
`, map[string]string{"up": up.Addr})

	// One connection at a time, each logged and gone before the next, so
	// that both count the same connections (%ac, %fc).
	var hLines, sLines []string
	waitNoConns(t, p, sock) // HAProxy's readiness probe is gone
	for i, addrs := range [][2]string{{haddr, p.addr("echo")}, {haddr2, p.addr("none")}} {
		tcpEcho(t, addrs[0], "hello, echo")
		hLines = waitLines(t, i+1, func() []string { return withoutFrontend(logLinesFrom(hap.out.String()), "probe") })
		tcpEcho(t, addrs[1], "hello, echo")
		sLines = waitLines(t, i+1, func() []string { p.Proxy.Alog.Flush(); return logLinesFrom(p.logbuf.String()) })
		waitNoConns(t, p, sock)
	}
	for i := range 2 {
		h, s := tcplogFields(t, hLines[i]), tcplogFields(t, sLines[i])
		if strings.Join(h, "\n") != strings.Join(s, "\n") {
			t.Errorf("line %d differs:\nhaproxy: %s\nstrata:  %s\nfields:\nhaproxy: %q\nstrata:  %q", i, hLines[i], sLines[i], h, s)
		}
	}
	t.Logf("haproxy:\n  %s\nstrata:\n  %s", strings.Join(hLines, "\n  "), strings.Join(sLines, "\n  "))
}

// waitNoConns waits until neither strata nor HAProxy (asked on its stats
// socket) holds a client connection.
func waitNoConns(t *testing.T, p *testProxy, sock string) {
	t.Helper()
	for range 500 {
		if p.Slots.Cur.Load() == 0 && haproxyCurrConns(t, sock) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("connections still open: strata %d, haproxy %d (-1: no stats socket)", p.Slots.Cur.Load(), haproxyCurrConns(t, sock))
}

// haproxyCurrConns returns CurrConns of HAProxy's `show info`, or -1
// while its stats socket is not there yet.
func haproxyCurrConns(t *testing.T, sock string) int {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		return -1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "show info\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CurrConns: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("show info: %q", l)
			}
			return n
		}
	}
	t.Fatalf("show info has no CurrConns:\n%s", b)
	return 0
}

// withoutFrontend drops the lines of frontend fe.
func withoutFrontend(lines []string, fe string) []string {
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, "] "+fe+" ") {
			out = append(out, l)
		}
	}
	return out
}

// tcpEcho sends msg on a new connection to addr, reads what comes back
// until the proxy closes or len(msg) bytes came, then closes.
func tcpEcho(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, msg)
	io.ReadFull(c, make([]byte, len(msg)))
}

// tcplogLine is HAProxy's tcplog line (its manual, 8.2.2).
var tcplogLine = regexp.MustCompile(`^(\S+):(\d+) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (\S+) (\S+)/(\S+) (-?\d+)/(-?\d+)/(\+?-?\d+) (\d+) (\S\S) (\d+)/(\d+)/(\d+)/(\d+)/(\+?\d+) (\d+)/(\d+)$`)

// tcplogFields is httplogFields for a tcplog line.
func tcplogFields(t *testing.T, line string) []string {
	t.Helper()
	m := tcplogLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not a tcplog line: %q", line)
	}
	f := m[1:]
	f[1], f[2] = "port", "date"
	for i := 6; i <= 8; i++ { // Tw Tc Tt
		if f[i] != "-1" {
			f[i] = "t"
		}
	}
	return f
}

// TestAccessLog_HTTPSLogDifferentialHAProxy does the same over TLS with
// `option httpslog`: the frontend name with '~', the TLS error fields, the
// SNI, the protocol and the cipher (the client offers one TLS 1.2 suite,
// so that both must choose it), and a plain-HTTP request on a second bind,
// whose TLS fields are "-".
func TestAccessLog_HTTPSLogDifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, "site", testsupport.CN("site.test"), false, "site.test")
	combined := filepath.Join(dir, "combined.pem")
	ppWriteCombined(t, combined, leaf)
	haddr, haddr2 := haproxyAddr(t), haproxyAddr(t)
	sock := filepath.Join(dir, "haproxy.sock")
	hap := startHAProxy(t, fmt.Sprintf(`global
  log stdout format raw local0
  stats socket %s level admin
defaults
  mode http
  log global
  option httpslog
  option dontlognull
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend web
  bind %s ssl crt %s
  capture request header Host len 32
  default_backend app
frontend plain
  bind %s
  default_backend app
backend app
  server s1 %s
`, sock, haddr, combined, haddr2, up.Addr), haddr2)

	p := startProxy(t, `
global:
  access_log: { output: stdout }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
    log_format: httpslog
    capture_request_headers: [{ name: Host, len: 32 }]
    default_backend: app
  plain:
    bind: ["127.0.0.1:0"]
    log_format: httpslog
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr, "cert": leaf.Cert, "key": leaf.Key})

	tlsRequest := func(addr string) {
		c, err := tls.Dial("tcp", addr, &tls.Config{
			ServerName: "site.test", RootCAs: ca.Pool,
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /tls HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
		if b, _ := io.ReadAll(c); statusOf(string(b)) != 200 {
			t.Fatalf("%s: %q", addr, b)
		}
	}
	waitNoConns(t, p, sock)
	tlsRequest(haddr)
	tlsRequest(p.addr("web"))
	waitNoConns(t, p, sock)
	for _, a := range []string{haddr2, p.addr("plain")} {
		if st := statusOf(rawExchange(t, a, "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); st != 200 {
			t.Fatalf("%s: status %d", a, st)
		}
	}
	hLines := waitLines(t, 2, func() []string { return logLinesFrom(hap.out.String()) })
	sLines := waitLines(t, 2, func() []string { p.Proxy.Alog.Flush(); return logLinesFrom(p.logbuf.String()) })
	for i := range 2 {
		h, s := httpslogFields(t, hLines[i]), httpslogFields(t, sLines[i])
		if strings.Join(h, "\n") != strings.Join(s, "\n") {
			t.Errorf("line %d differs:\nhaproxy: %s\nstrata:  %s\nfields:\nhaproxy: %q\nstrata:  %q", i, hLines[i], sLines[i], h, s)
		}
	}
	t.Logf("haproxy:\n  %s\nstrata:\n  %s", strings.Join(hLines, "\n  "), strings.Join(sLines, "\n  "))
}

// httpslogFields splits an httpslog line: httplog's fields, then those of
// the TLS part.
func httpslogFields(t *testing.T, line string) []string {
	t.Helper()
	i := strings.LastIndex(line, `" `)
	if i < 0 {
		t.Fatalf("not an httpslog line: %q", line)
	}
	return append(httplogFields(t, line[:i+1]), strings.FieldsFunc(line[i+2:], func(r rune) bool { return r == '/' || r == ' ' })...)
}
