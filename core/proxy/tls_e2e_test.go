package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// tlsHTTPClient is an HTTP client that connects to addr whatever the URL
// says, so that URLs can carry the server name (SNI) to test. It offers h2
// and http/1.1 by ALPN, as browsers do.
func tlsHTTPClient(addr string, cfg *tls.Config) *http.Client {
	return testsupport.NewClient(addr, testsupport.Client{Proto: testsupport.TLS, TLS: cfg, FollowRedirects: true})
}

// tlsGet requests url and returns the response and its body.
func tlsGet(t testing.TB, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, b
}

// frontendStats returns the counters of frontend name.
func frontendStats(p *testProxy, name string) FrontendStats {
	for _, f := range p.Stats().Frontends {
		if f.Name == name {
			return f
		}
	}
	return FrontendStats{}
}

// sslHeaders are http_request rules that copy every ssl_* fetch into a
// request header, for the echo upstream to show (a frontend key for
// testsupport.Frontend).
const sslHeaders = `
http_request:
  - "set-header x-ssl %[ssl_fc]"
  - "set-header x-sni %[ssl_fc_sni]"
  - "set-header x-proto %[ssl_fc_protocol]"
  - "set-header x-alpn %[ssl_fc_alpn]"
  - "set-header x-resumed %[ssl_fc_is_resumed]"
  - "set-header x-cused %[ssl_c_used]"
  - "set-header x-cdn %[ssl_c_s_dn]"
  - "set-header x-verify %[ssl_c_verify]"
  - "set-header x-src %[src]"`

// webConfig is the configuration of most TLS and PROXY tests: the access
// log off, frontend web with keys (testsupport.Frontend), sending every
// request to backend app, whose one server is server ("address" or
// "address, options", as for testsupport.Backend).
func webConfig(server string, keys ...string) string {
	return testsupport.NoAccessLog +
		testsupport.Frontends(testsupport.Frontend("web", append(keys, "default_backend: app")...)) +
		testsupport.Backends(testsupport.Backend("app", []string{"s1: " + server}))
}

// leaves is its arguments as a list, for testsupport.TLSKey.
func leaves(l ...testsupport.Leaf) []testsupport.Leaf { return l }

func echoHeader(t testing.TB, body []byte, name string) string {
	t.Helper()
	h := testsupport.DecodeEcho(t, body).Header(name)
	if len(h) != 1 {
		return ""
	}
	return h[0]
}

// TestTLS_KeepAlive: HTTP/1.1 over TLS with keep-alive: several requests,
// big bodies both ways, on one TLS connection; ALPN settles on http/1.1,
// the frontend's only protocol, although the client offers h2; the ssl_* fetches see the handshake.
func TestTLS_KeepAlive(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webConfig(up.Addr, "timeouts: { client: 5s }", testsupport.TLSKey(leaves(site), "alpn: [http/1.1]"), sslHeaders), nil)
	c := tlsHTTPClient(p.addr("web"), &tls.Config{RootCAs: ca.Pool})
	for i := range 5 {
		resp, body := tlsGet(t, c, "https://a.test/ka/"+fmt.Sprint(i))
		if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" {
			t.Fatalf("request %d: %s %s", i, resp.Status, resp.Proto)
		}
		if resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN %q, want http/1.1 (the only protocol the frontend offers)", resp.TLS.NegotiatedProtocol)
		}
		want := map[string]string{"x-ssl": "1", "x-sni": "a.test", "x-proto": "TLSv1.3", "x-alpn": "http/1.1",
			"x-resumed": "0", "x-cused": "0", "x-verify": "0", "x-src": "127.0.0.1"}
		for h, v := range want {
			if got := echoHeader(t, body, h); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, h, got, v)
			}
		}
	}
	// A body of 3 MiB and a bit up, and as much down.
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	resp, err := c.Post("https://a.test/upload", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(big)
	if e := testsupport.DecodeEcho(t, body); e.BodyLength != int64(len(big)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload: %d bytes, sha %s", e.BodyLength, e.BodySHA256)
	}
	resp, body = tlsGet(t, c, "https://a.test/big/3145745")
	if resp.StatusCode != 200 || len(body) != 3145745 {
		t.Fatalf("download: %s, %d bytes", resp.Status, len(body))
	}
	st := frontendStats(p, "web")
	if st.Sessions != 1 || st.Streams != 7 {
		t.Errorf("sessions %d streams %d, want 7 streams on 1 session", st.Sessions, st.Streams)
	}
	if st.HandshakeErrors != 0 {
		t.Errorf("handshake errors %d", st.HandshakeErrors)
	}
}

// TestTLS_SNI: the client's server name chooses the certificate: an exact
// name, then a wildcard, then the first certificate.
func TestTLS_SNI(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	a := ca.Issue(t, "a", testsupport.CN("a.test"), false, "a.test", "127.0.0.1")
	wild := ca.Issue(t, "wild", testsupport.CN("*.b.test"), false, "*.b.test")
	exact := ca.Issue(t, "exact", testsupport.CN("c.b.test"), false, "c.b.test")
	up := startUpstream(t)
	p := startProxy(t, webConfig(up.Addr, testsupport.TLSKey(leaves(a, wild, exact))), nil)
	tests := []struct {
		name, sni, want string
	}{
		{name: "exact", sni: "a.test", want: "a.test"},
		{name: "exact in upper case", sni: "A.TEST", want: "a.test"},
		{name: "wildcard", sni: "x.b.test", want: "*.b.test"},
		{name: "exact beats wildcard", sni: "c.b.test", want: "c.b.test"},
		{name: "wildcard covers one label", sni: "deep.x.b.test", want: "a.test"},
		{name: "unknown name gets the first", sni: "other.test", want: "a.test"},
		{name: "no SNI gets the first", sni: "", want: "a.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			cfg := &tls.Config{
				ServerName: tt.sni, InsecureSkipVerify: true,
				VerifyConnection: func(cs tls.ConnectionState) error {
					got = cs.PeerCertificates[0].Subject.CommonName
					return nil
				},
			}
			c, err := tls.Dial("tcp", p.addr("web"), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if got != tt.want {
				t.Errorf("certificate %q, want %q", got, tt.want)
			}
		})
	}
	// And with verification, as a browser would.
	c := tlsHTTPClient(p.addr("web"), &tls.Config{RootCAs: ca.Pool})
	for _, host := range []string{"a.test", "x.b.test", "c.b.test"} {
		if resp, _ := tlsGet(t, c, "https://"+host+"/"); resp.StatusCode != 200 {
			t.Errorf("%s: %s", host, resp.Status)
		}
	}
}

// TestTLS_ClientAuth: client certificates in modes none, optional and
// required, with no certificate, a valid one and one from another CA.
func TestTLS_ClientAuth(t *testing.T) {
	cas := testsupport.NewCAs(t, "ca", "clients", "rogue")
	ca, clients, rogue := cas[0], cas[1], cas[2]
	site := ca.Issue(t, "site", testsupport.CN("a.test"), false, "a.test")
	good := clients.Issue(t, "good", pkix.Name{Country: []string{"FR"}, Organization: []string{"Example"}, CommonName: "alice"}, true)
	bad := rogue.Issue(t, "bad", testsupport.CN("mallory"), true)
	up := startUpstream(t, "-mode", "echo")
	var fes []string
	for _, mode := range []string{"none", "optional", "required"} {
		auth := `client_auth: { mode: ` + mode + `, ca: "` + clients.File + `" }`
		if mode == "none" {
			auth = ""
		}
		fes = append(fes, testsupport.Frontend(mode, testsupport.TLSKey(leaves(site), auth), sslHeaders, "default_backend: app"))
	}
	p := startProxy(t, testsupport.NoAccessLog+testsupport.Frontends(fes...)+
		testsupport.Backends(testsupport.Backend("app", []string{"s1: " + up.Addr})), nil)
	const dn = "/C=FR/O=Example/CN=alice"
	tests := []struct {
		mode   string
		cert   *testsupport.Leaf
		ok     bool
		used   string
		wantDN string
	}{
		{mode: "none", ok: true, used: "0"},
		{mode: "none", cert: &good, ok: true, used: "0"}, // not asked for: not sent
		{mode: "none", cert: &bad, ok: true, used: "0"},
		{mode: "optional", ok: true, used: "0"},
		{mode: "optional", cert: &good, ok: true, used: "1", wantDN: dn},
		{mode: "optional", cert: &bad},
		{mode: "required"},
		{mode: "required", cert: &good, ok: true, used: "1", wantDN: dn},
		{mode: "required", cert: &bad},
	}
	for _, tt := range tests {
		name := tt.mode + "/no cert"
		if tt.cert == &good {
			name = tt.mode + "/valid cert"
		} else if tt.cert == &bad {
			name = tt.mode + "/cert of another CA"
		}
		t.Run(name, func(t *testing.T) {
			before := frontendStats(p, tt.mode).HandshakeErrors
			tc := &tls.Config{RootCAs: ca.Pool}
			if tt.cert != nil {
				// Sent whenever asked for: Go's client would otherwise
				// keep a certificate of an authority the server does not
				// list to itself.
				cert := tt.cert.TLS
				tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			}
			c := tlsHTTPClient(p.addr(tt.mode), tc)
			resp, err := c.Get("https://a.test/")
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded: %s", resp.Status)
				}
				testsupport.WaitFor(t, 5*time.Second, "the failure counted", func() bool { return frontendStats(p, tt.mode).HandshakeErrors == before+1 })
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := echoHeader(t, body, "x-cused"); got != tt.used {
				t.Errorf("ssl_c_used = %q, want %q", got, tt.used)
			}
			if got := echoHeader(t, body, "x-cdn"); tt.wantDN != "" && got != tt.wantDN {
				t.Errorf("ssl_c_s_dn = %q, want %q", got, tt.wantDN)
			} else if tt.wantDN == "" && strings.Contains(got, "CN=") {
				t.Errorf("ssl_c_s_dn = %q without a certificate", got)
			}
			if got := echoHeader(t, body, "x-verify"); got != "0" {
				t.Errorf("ssl_c_verify = %q", got)
			}
			if n := frontendStats(p, tt.mode).HandshakeErrors; n != before {
				t.Errorf("handshake errors went from %d to %d", before, n)
			}
		})
	}
}

// TestTLS_SessionRules: tcp_request_session rules run after the handshake
// and see ssl_fc_sni; tcp_request_connection rules run before it, where
// ssl_* fetches give no sample.
func TestTLS_SessionRules(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	site := ca.Issue(t, "site", testsupport.CN("*.test"), false, "ok.test", "*.blocked.test")
	up := startUpstream(t)
	p := startProxy(t, webConfig(up.Addr, testsupport.TLSKey(leaves(site)),
		// No sample before the handshake: these never match.
		`tcp_request_connection: ["reject if { ssl_fc }", "reject if { ssl_fc_sni -m found }"]`,
		`tcp_request_session: ["reject if { ssl_fc_sni -m end .blocked.test }"]`), nil)
	c := tlsHTTPClient(p.addr("web"), &tls.Config{RootCAs: ca.Pool})
	if resp, _ := tlsGet(t, c, "https://ok.test/"); resp.StatusCode != 200 {
		t.Fatalf("ok.test: %s", resp.Status)
	}
	before := up.Requests(t)
	denied := frontendStats(p, "web").Term["denied"]
	_, err := c.Get("https://x.blocked.test/")
	if err == nil {
		t.Fatal("a blocked name was served")
	}
	if n := up.Requests(t); n != before {
		t.Errorf("the upstream saw %d more requests", n-before)
	}
	if n := frontendStats(p, "web").Term["denied"]; n != denied+1 {
		t.Errorf("denied %d, want %d", n, denied+1)
	}
}

// TestTLS_Resumption: a second connection resumes the TLS session from a
// ticket, and ssl_fc_is_resumed says so.
func TestTLS_Resumption(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webConfig(up.Addr, testsupport.TLSKey(leaves(site)), sslHeaders), nil)
	cache := tls.NewLRUClientSessionCache(4)
	for i, want := range []string{"0", "1"} {
		c := tlsHTTPClient(p.addr("web"), &tls.Config{RootCAs: ca.Pool, ClientSessionCache: cache})
		resp, body := tlsGet(t, c, "https://a.test/")
		c.CloseIdleConnections()
		if resp.TLS.DidResume != (want == "1") {
			t.Errorf("connection %d: resumed %v", i, resp.TLS.DidResume)
		}
		if got := echoHeader(t, body, "x-resumed"); got != want {
			t.Errorf("connection %d: ssl_fc_is_resumed = %q, want %q", i, got, want)
		}
	}
}

// TestTLS_HandshakeTimeout: a client that connects and says nothing is
// closed after the client timeout and counted.
func TestTLS_HandshakeTimeout(t *testing.T) {
	_, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t)
	p := startProxy(t, webConfig(up.Addr, "timeouts: { client: 200ms }", testsupport.TLSKey(leaves(site))), nil)
	c := testsupport.DialFrom(t, p.addr("web"), "")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %d, %v: want the connection closed", n, err)
	}
	testsupport.WaitFor(t, 5*time.Second, "the failure counted", func() bool { return frontendStats(p, "web").HandshakeErrors == 1 })
	// Plain HTTP on a TLS port is a failed handshake too.
	if out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); strings.Contains(out, "HTTP/1.1 200") {
		t.Fatalf("plain HTTP answered: %q", out)
	}
	testsupport.WaitFor(t, 5*time.Second, "the failure counted", func() bool { return frontendStats(p, "web").HandshakeErrors == 2 })
}

// TestTLS_TCPMode: a TCP-mode frontend terminating TLS relays the
// decrypted stream both ways, with half-close.
func TestTLS_TCPMode(t *testing.T) {
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "tcp")
	p := startProxy(t, testsupport.NoAccessLog+
		testsupport.Frontends(testsupport.Frontend("raw", "mode: tcp", testsupport.TLSKey(leaves(site), "alpn: [imap]"), "default_backend: echo"))+
		testsupport.Backends(testsupport.Backend("echo", []string{"s1: " + up.Addr}, "mode: tcp")), nil)
	c, err := tls.Dial("tcp", p.addr("raw"), &tls.Config{RootCAs: ca.Pool, ServerName: "a.test", NextProtos: []string{"imap"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().NegotiatedProtocol; got != "imap" {
		t.Errorf("ALPN %q: a tcp frontend advertises its list as written", got)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go func() {
		c.Write(msg)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
}

// startTLSOrigin starts a Go HTTPS server (cmd/upstream has no TLS) with
// cert, asking clients for a certificate from clientCAs when not nil. It
// answers with the client certificate's CN and counts new connections.
func startTLSOrigin(t testing.TB, cert tls.Certificate, clientCAs *x509.CertPool) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "-"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "client=%s sni=%s", who, r.TLS.ServerName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		s.TLS.ClientAuth, s.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCAs
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String(), conns
}

// TestTLS_ServerSide: connections to a TLS server, with verification on
// and off, SNI, a client certificate, and pooling of TLS connections.
func TestTLS_ServerSide(t *testing.T) {
	cas := testsupport.NewCAs(t, "ca", "other", "clients")
	ca, other, clients := cas[0], cas[1], cas[2]
	app := ca.Issue(t, "app", testsupport.CN("app.internal"), false, "app.internal")
	strataClient := clients.Issue(t, "strata", testsupport.CN("strata-proxy"), true)
	origin, originConns := startTLSOrigin(t, app.TLS, nil)
	mtlsOrigin, _ := startTLSOrigin(t, app.TLS, clients.Pool)
	verify := func(caFile, more string) string { // a server's tls key, verifying with caFile
		return `tls: { verify: required, ca: "` + caFile + `"` + more + ` }`
	}
	tests := []struct {
		backend string
		server  string // its one server: "address, options"
		status  int
		body    string
		hsErr   bool // a TLS handshake error is counted on the server
	}{
		{backend: "verified", server: origin + ", " + verify(ca.File, ", sni: app.internal"),
			status: 200, body: "client=- sni=app.internal"},
		{backend: "wrong_ca", server: origin + ", " + verify(other.File, ", sni: app.internal"),
			status: 503, hsErr: true},
		{backend: "wrong_name", server: origin + ", " + verify(ca.File, ", sni: wrong.internal"),
			status: 503, hsErr: true},
		{backend: "no_sni", server: origin + ", " + verify(ca.File, ""),
			status: 503, hsErr: true}, // 127.0.0.1 is not in the certificate
		{backend: "unverified", server: origin + ", tls: { verify: none }",
			status: 200, body: "client=- sni="},
		{backend: "plain_to_tls", server: origin,
			body: "Client sent an HTTP request to an HTTPS server.\n"}, // the origin's plain HTTP 400
		{backend: "mtls", server: mtlsOrigin + ", " + verify(ca.File, `, sni: app.internal, cert: "`+strataClient.Cert+`", key: "`+strataClient.Key+`"`),
			status: 200, body: "client=strata-proxy sni=app.internal"},
		{backend: "mtls_no_cert", server: mtlsOrigin + ", " + verify(ca.File, ", sni: app.internal"),
			status: 502},
	}
	var backends []string
	for _, tt := range tests {
		backends = append(backends, testsupport.Backend(tt.backend, []string{"s1: " + tt.server}, "retries: 0"))
	}
	p := startProxy(t, testsupport.NoAccessLog+
		testsupport.Frontends(testsupport.Frontend("web", `use_backend: ["%[req.hdr(x-backend)]"]`, "default_backend: verified"))+
		testsupport.Backends(backends...), nil)
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: a\r\nX-Backend: "+tt.backend+"\r\nConnection: close\r\n\r\n")
			if got := statusOf(out); tt.status != 0 && got != tt.status {
				t.Fatalf("status %d, want %d:\n%s", got, tt.status, out)
			}
			if tt.body != "" && !strings.HasSuffix(out, tt.body) {
				t.Errorf("body of %q, want %q", out, tt.body)
			}
			var srv ServerStats
			for _, b := range p.Stats().Backends {
				if b.Name == tt.backend {
					srv = b.Servers[0]
				}
			}
			if (srv.HandshakeErrors > 0) != tt.hsErr {
				t.Errorf("server handshake errors %d", srv.HandshakeErrors)
			}
		})
	}
	// Keep-alive on both sides: one pooled TLS connection to the origin
	// serves every request.
	before := originConns.Load()
	c := testsupport.DialFrom(t, p.addr("web"), "")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for range 5 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, body := readHTTP(t, br); resp.StatusCode != 200 || body != "client=- sni=app.internal" {
			t.Fatalf("%s %q", resp.Status, body)
		}
	}
	if n := originConns.Load() - before; n > 1 {
		t.Errorf("%d new TLS connections to the origin for 5 requests; pooled connections were not reused", n)
	}
}

// TestTLS_Curl: curl (OpenSSL) against the TLS frontend: SNI, keep-alive
// across two URLs, HTTP/1.1 chosen by ALPN although curl offers h2, and a
// client certificate.
func TestTLS_Curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	cas := testsupport.NewCAs(t, "ca", "clients")
	ca, clients := cas[0], cas[1]
	site := ca.Issue(t, "site", testsupport.CN("a.test"), false, "a.test")
	other := ca.Issue(t, "other", testsupport.CN("b.test"), false, "b.test")
	user := clients.Issue(t, "user", pkix.Name{Organization: []string{"Example"}, CommonName: "curl-user"}, true)
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webConfig(up.Addr, testsupport.TLSKey(leaves(site, other), "alpn: [h2, http/1.1]",
		`client_auth: { mode: optional, ca: "`+clients.File+`" }`), sslHeaders), nil)
	_, port, _ := net.SplitHostPort(p.addr("web"))
	run := func(t *testing.T, host string, args ...string) string {
		t.Helper()
		base := []string{"-sS", "--max-time", "10", "--cacert", ca.File,
			"--resolve", host + ":" + port + ":127.0.0.1"}
		out, err := exec.Command(curl, append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Run("keep-alive and ALPN", func(t *testing.T) {
		url := "https://a.test:" + port
		out := run(t, "a.test", "-o", "/dev/null", "-o", "/dev/null",
			"-w", "%{http_code} %{http_version} %{num_connects}\n", url+"/one", url+"/two")
		if out != "200 2 1\n200 2 0\n" {
			t.Fatalf("curl said %q, want two HTTP/2 200 on one connection", out)
		}
		out = run(t, "a.test", "--http1.1", "-o", "/dev/null", "-o", "/dev/null",
			"-w", "%{http_code} %{http_version} %{num_connects}\n", url+"/one", url+"/two")
		if out != "200 1.1 1\n200 1.1 0\n" {
			t.Fatalf("curl --http1.1 said %q, want two HTTP/1.1 200 on one connection", out)
		}
	})
	t.Run("SNI", func(t *testing.T) {
		// --cacert verification of b.test proves the b.test certificate
		// was chosen.
		body := run(t, "b.test", "https://b.test:"+port+"/")
		if got := echoHeader(t, []byte(body), "x-sni"); got != "b.test" {
			t.Fatalf("ssl_fc_sni %q", got)
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		body := run(t, "a.test", "--cert", user.Cert, "--key", user.Key, "https://a.test:"+port+"/")
		if got := echoHeader(t, []byte(body), "x-cdn"); got != "/O=Example/CN=curl-user" {
			t.Fatalf("ssl_c_s_dn %q", got)
		}
		if got := echoHeader(t, []byte(body), "x-cused"); got != "1" {
			t.Fatalf("ssl_c_used %q", got)
		}
	})
}

// readHTTP reads one response from br.
func readHTTP(t testing.TB, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// BenchmarkProxy_TLSKeepAlive is BenchmarkProxy_KeepAlive with TLS on the
// client side ("tls") and on both sides ("tls-both"): one request on a
// keep-alive TLS client connection, through a pooled server connection.
// allocs/op is crypto/tls's share on top of the plain path.
func BenchmarkProxy_TLSKeepAlive(b *testing.B) {
	dir := b.TempDir()
	ca := testsupport.NewCA(b, dir, "ca")
	site := ca.Issue(b, "site", testsupport.CN("bench.test"), false, "bench.test")
	for _, tc := range []struct {
		name string
		both bool
	}{{name: "tls"}, {name: "tls-both", both: true}} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			server := up
			if tc.both {
				l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{site.TLS}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { l.Close() })
				go func() { // a TLS front for the raw upstream
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						go func() {
							u, err := net.Dial("tcp", up)
							if err != nil {
								c.Close()
								return
							}
							go func() { io.Copy(u, c); u.Close() }()
							io.Copy(c, u)
							c.Close()
						}()
					}
				}()
				server = l.Addr().String() + `, tls: { verify: required, ca: "` + ca.File + `", sni: bench.test }`
			}
			p := startProxy(b, webConfig(server, testsupport.TLSKey(leaves(site))), nil)
			c, err := tls.Dial("tcp", p.addr("web"), &tls.Config{RootCAs: ca.Pool, ServerName: "bench.test"})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			testsupport.BenchKeepAlive(b, c)
		})
	}
}
