package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/proxyproto"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// Scenario tests of active health checks that speak to a server the way
// traffic does: through the server's TLS settings and its send_proxy.

// checkOrigin is an origin that may require a PROXY header and may speak
// only TLS. It records what each connection opened with and answers every
// HTTP request with 200.
type checkOrigin struct {
	addr string
	ln   net.Listener
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	opened []checkSeen // every connection, once its handshakes are done
	badPP  int         // connections without a valid PROXY header
	seen   []checkSeen // every request
}

// checkSeen is one request the origin answered.
type checkSeen struct {
	proxyHeader []byte // raw, as received; nil when none was required
	pp          proxyproto.Header
	tls         bool
	sni         string
	method      string
	path        string
	userAgent   string
}

// startCheckOrigin starts an origin; with requirePP a connection must open
// with a PROXY header (anything else is closed), with cert it must then
// speak TLS.
func startCheckOrigin(t testing.TB, requirePP bool, cert *tls.Certificate) *checkOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &checkOrigin{addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(o.stop)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			o.conns[c] = true
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer func() {
					o.mu.Lock()
					delete(o.conns, c)
					o.mu.Unlock()
					c.Close()
				}()
				o.serve(c, requirePP, cert)
			}()
		}
	}()
	return o
}

func (o *checkOrigin) serve(c net.Conn, requirePP bool, cert *tls.Certificate) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var seen checkSeen
	var rd *bufio.Reader
	if requirePP {
		// Byte by byte: nothing past the header is taken from the
		// connection, so that TLS can follow.
		var b [1]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				return
			}
			seen.proxyHeader = append(seen.proxyHeader, b[0])
			h, n, err := proxyproto.Parse(seen.proxyHeader)
			if err == nil && n == len(seen.proxyHeader) {
				seen.pp = h
				break
			}
			if !errors.Is(err, proxyproto.ErrIncomplete) {
				o.mu.Lock()
				o.badPP++
				o.mu.Unlock()
				return
			}
		}
	}
	var conn net.Conn = c
	if cert != nil {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
		if err := tc.Handshake(); err != nil {
			// Not counted: a TCP check may hang up as soon as its own
			// side of the handshake is done.
			return
		}
		seen.tls, seen.sni = true, tc.ConnectionState().ServerName
		conn = tc
	}
	o.mu.Lock()
	o.opened = append(o.opened, seen)
	o.mu.Unlock()
	rd = bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(rd)
		if err != nil {
			return
		}
		s := seen
		s.method, s.path, s.userAgent = req.Method, req.URL.Path, req.UserAgent()
		o.mu.Lock()
		o.seen = append(o.seen, s)
		o.mu.Unlock()
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if req.Close {
			return
		}
	}
}

// stop closes the listener and every open connection: the origin is gone.
func (o *checkOrigin) stop() {
	o.ln.Close()
	o.mu.Lock()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

// checks returns the health-check requests the origin answered.
func (o *checkOrigin) checks() []checkSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []checkSeen
	for _, s := range o.seen {
		if s.userAgent == "strata-health-check" {
			out = append(out, s)
		}
	}
	return out
}

// TestHealth_TLSServer: the checks of a server with tls go through the
// same TLS handshake as traffic (verification, CA, SNI); an HTTP check
// sends its request inside TLS. The server stays up while the origin
// answers, goes down when it stops; a server whose certificate does not
// verify is down with the handshake failure as the reason.
func TestHealth_TLSServer(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	other := testsupport.NewCA(t, dir, "other")
	app := ca.Issue(t, "app", testsupport.CN("app.internal"), false, "app.internal")
	tests := []struct {
		name   string
		check  string
		tls    string
		status string // of the first check
		health string
		desc   string // a part of the reason
	}{
		{name: "http check", check: `{ type: http, path: /health, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			tls: `{ verify: required, ca: "{{ca}}", sni: app.internal }`, status: "L7OK", health: "up"},
		{name: "tcp check", check: `{ type: tcp, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			tls: `{ verify: required, ca: "{{ca}}", sni: app.internal }`, status: "L6OK", health: "up"},
		{name: "wrong ca", check: `{ type: http, path: /health, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			tls: `{ verify: required, ca: "{{other}}", sni: app.internal }`, status: "L6RSP", health: "down", desc: "tls handshake"},
		{name: "wrong name", check: `{ type: tcp, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			tls: `{ verify: required, ca: "{{ca}}", sni: wrong.internal }`, status: "L6RSP", health: "down", desc: "wrong.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := startCheckOrigin(t, false, &app.TLS)
			p := startProxy(t, backendConfig(`
    retries: 0
    health_check: `+tt.check+`
    servers:
      s1: { address: "{{origin}}", tls: `+tt.tls+` }
`), map[string]string{"origin": origin.addr, "ca": ca.File, "other": other.File})
			testsupport.WaitFor(t, 5*time.Second, "a check result", func() bool { return p.server(t, "s1").Check.Last.Status != "" })
			s := p.server(t, "s1")
			if s.Check.Last.Status != tt.status || s.Health != tt.health || !strings.Contains(s.Check.Last.Desc, tt.desc) {
				t.Fatalf("server %+v", s)
			}
			if s.HandshakeErrors != 0 {
				t.Errorf("%d handshake errors counted for checks; they count traffic", s.HandshakeErrors)
			}
			if tt.health == "down" {
				return
			}
			if tt.status == "L7OK" {
				cs := origin.checks()
				if len(cs) == 0 {
					t.Fatal("no check request reached the origin")
				}
				if c := cs[0]; !c.tls || c.sni != "app.internal" || c.method != "GET" || c.path != "/health" {
					t.Fatalf("check request %+v", c)
				}
			}
			if r := getOnce(t, p.addr("web"), "/"); r.status != 200 {
				t.Fatalf("traffic: %+v", r)
			}

			origin.stop()
			testsupport.WaitFor(t, 5*time.Second, "s1 down", func() bool { return p.server(t, "s1").Health == "down" })
			if s := p.server(t, "s1"); s.Check.Last.Status != "L4CON" || s.Check.Downs != 1 {
				t.Fatalf("after the origin stopped: %+v", s.Check)
			}
		})
	}
}

// TestHealth_SendProxy: the checks of a send_proxy server open with a
// PROXY header of a connection strata opens for itself: LOCAL in v2,
// "PROXY UNKNOWN" in v1. An origin that requires the header keeps the
// server up; with tls as well, the header comes first, then TLS.
func TestHealth_SendProxy(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	app := ca.Issue(t, "app", testsupport.CN("app.internal"), false, "app.internal")
	tests := []struct {
		name    string
		version int
		tls     bool
		check   string
		status  string
	}{
		{name: "v2 http", version: 2, check: "type: http, path: /health", status: "L7OK"},
		{name: "v1 http", version: 1, check: "type: http, path: /health", status: "L7OK"},
		{name: "v2 tcp", version: 2, check: "type: tcp", status: "L4OK"},
		{name: "v2 tls http", version: 2, tls: true, check: "type: http, path: /health", status: "L7OK"},
		{name: "v1 tls tcp", version: 1, tls: true, check: "type: tcp", status: "L6OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cert *tls.Certificate
			srvTLS := ""
			if tt.tls {
				cert, srvTLS = &app.TLS, `, tls: { verify: required, ca: "{{ca}}", sni: app.internal }`
			}
			origin := startCheckOrigin(t, true, cert)
			p := startProxy(t, backendConfig(fmt.Sprintf(`
    retries: 0
    health_check: { %s, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      s1: { address: "{{origin}}", send_proxy: v%d%s }
`, tt.check, tt.version, srvTLS)), map[string]string{"origin": origin.addr, "ca": ca.File})
			// Several checks in a row, so that the server would have
			// gone down (fall: 1) had one of them failed.
			testsupport.WaitFor(t, 5*time.Second, "three checks", func() bool {
				s := p.server(t, "s1")
				return s.Check.Last.Status != "" && s.Check.Successes+s.Check.Failures >= 3
			})
			s := p.server(t, "s1")
			if s.Health != "up" || s.Check.Last.Status != tt.status || s.Check.Failures != 0 || s.Check.Downs != 0 {
				t.Fatalf("server %+v", s)
			}
			// Every connection so far is a check's (a TCP check passes
			// whatever the origin thinks of it: look at the origin).
			opened, badPP := origin.openings()
			if len(opened) == 0 || badPP != 0 {
				t.Fatalf("%d check connections accepted, %d without a valid PROXY header", len(opened), badPP)
			}
			for _, c := range opened {
				if !bytes.Equal(c.proxyHeader, localHeaderWant(tt.version)) || c.pp.HasAddrs() || int(c.pp.Version) != tt.version || c.tls != tt.tls {
					t.Fatalf("check connection opened with %q (%+v), tls %v", c.proxyHeader, c.pp, c.tls)
				}
				if tt.version == 2 && c.pp.Command != proxyproto.CmdLocal {
					t.Fatalf("v2 command %v, want LOCAL", c.pp.Command)
				}
			}
			if tt.status == "L7OK" {
				cs := origin.checks()
				if len(cs) == 0 {
					t.Fatal("no check request reached the origin")
				}
				if c := cs[0]; c.path != "/health" || !bytes.Equal(c.proxyHeader, localHeaderWant(tt.version)) || c.tls != tt.tls {
					t.Fatalf("check request %+v", c)
				}
			}
			// Traffic still carries the client's addresses.
			cl, err := net.Dial("tcp", p.addr("web"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(cl, "GET /app HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if resp, _ := readHTTP(t, bufio.NewReader(cl)); resp.StatusCode != 200 {
				t.Fatalf("traffic: %s", resp.Status)
			}
			var relayed *checkSeen
			for _, c := range origin.seenAll() {
				if c.path == "/app" {
					relayed = &c
				}
			}
			if relayed == nil || !relayed.pp.HasAddrs() || relayed.pp.Src.String() != cl.LocalAddr().String() {
				t.Fatalf("traffic header %+v, client %s", relayed, cl.LocalAddr())
			}
		})
	}
}

// localHeaderWant is the header HAProxy's checks send, written out.
func localHeaderWant(version int) []byte {
	if version == 1 {
		return []byte("PROXY UNKNOWN\r\n")
	}
	// Signature, version 2 / LOCAL, family UNSPEC, no address.
	return []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
}

// seenAll returns every request the origin answered.
func (o *checkOrigin) seenAll() []checkSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]checkSeen(nil), o.seen...)
}

// openings returns the connections the origin accepted and the number
// that did not open with a valid PROXY header.
func (o *checkOrigin) openings() ([]checkSeen, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]checkSeen(nil), o.opened...), o.badPP
}
