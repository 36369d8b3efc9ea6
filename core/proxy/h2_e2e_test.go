package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// End-to-end tests of HTTP/2 clients: real TLS and cleartext sockets, Go's
// HTTP/2 client and curl, real upstream processes speaking HTTP/1.1.

// h2Config is a frontend serving HTTP/2 over TLS and h2c on two binds of
// the same rules: /b/ goes to backend b, /deny is refused by a rule,
// /down goes to a backend whose only server is down; every request gets
// its own path back in x-path and its own stream id in x-stream.
const h2Config = `
global:
  access_log: { output: stderr, format: text }
frontends:
  tls:
    bind: ["127.0.0.1:0"]
    tls:
      certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
      alpn: [h2, http/1.1]
    http_request: &rules
      - "deny status 403 if { path_beg /deny }"
      - "set-header x-path %[path]"
      - "set-header x-alpn %[ssl_fc_alpn]"
    http_response: ["set-header x-path %[path]"]
    use_backend: &routes ["b if { path_beg /b/ }", "down if { path_beg /down }"]
    default_backend: a
    forwarded: true
  clear:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true, max_concurrent_streams: 100 }
    http_request: *rules
    http_response: ["set-header x-path %[path]"]
    use_backend: *routes
    default_backend: a
    forwarded: true
backends:
  a:
    servers: { s1: { address: "{{a}}" } }
  b:
    servers: { s1: { address: "{{b}}" } }
  down:
    timeouts: { connect: 500ms }
    servers: { s1: { address: "{{down}}" } }
`

// h2Setup starts two echo upstreams and the proxy of h2Config.
func h2Setup(t *testing.T) (p *testProxy, roots *x509.CertPool) {
	t.Helper()
	ca, site := testsupport.NewSite(t, "a.test")
	a := startUpstream(t, "-mode", "echo", "-name", "A")
	b := startUpstream(t, "-mode", "echo", "-name", "B")
	p = startProxy(t, h2Config, map[string]string{
		"cert": site.Cert, "key": site.Key, "a": a.Addr, "b": b.Addr, "down": closedAddr(t),
	})
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return p, roots
}

// h2Client is Go's HTTP/2 client dialing addr whatever the URL says,
// over TLS (roots set) or cleartext with prior knowledge; dials counts
// its connections.
func h2Client(addr string, roots *x509.CertPool, dials *atomic.Int64) *http.Client {
	cfg := testsupport.Client{Proto: testsupport.H2C, FollowRedirects: true, OnDial: func(net.Conn) { dials.Add(1) }}
	if roots != nil {
		cfg.Proto, cfg.Roots, cfg.TLS = testsupport.H2TLS, roots, &tls.Config{ServerName: "a.test"}
	}
	return testsupport.NewClient(addr, cfg)
}

// TestH2_ConcurrentStreams sends many concurrent streams with different
// routing on one connection, over TLS and over h2c: each goes through its
// own rules and backend choice, a denied one and one whose server is down
// fail alone, and bodies larger than the flow-control windows go both
// ways.
func TestH2_ConcurrentStreams(t *testing.T) {
	p, roots := h2Setup(t)
	for _, tc := range []struct {
		name, fe, scheme string
		roots            *x509.CertPool
	}{
		{"tls", "tls", "https", roots},
		{"h2c", "clear", "http", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int64
			c := h2Client(p.addr(tc.fe), tc.roots, &dials)
			// One request first: concurrent first requests may each dial.
			if err := h2Check(c, tc.scheme, 0, nil); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, above every window
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- h2Check(c, tc.scheme, i, big)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("%d connections, want every stream on one", n)
			}
		})
	}
	if t.Failed() {
		t.Log(p.logbuf.String())
	}
	st := frontendStats(p, "tls")
	if st.Streams < 60 {
		t.Errorf("frontend tls counted %d streams, want at least 60", st.Streams)
	}
}

// h2Check sends request i of TestH2_ConcurrentStreams and checks its
// answer.
func h2Check(c *http.Client, scheme string, i int, big []byte) error {
	base := scheme + "://a.test"
	var path, wantServer string
	var body []byte
	wantStatus := 200
	switch i % 6 {
	case 0:
		path, wantServer = fmt.Sprintf("/a/%d", i), "A"
	case 1:
		path, wantServer = fmt.Sprintf("/b/%d", i), "B"
	case 2:
		path, wantStatus = fmt.Sprintf("/deny/%d", i), 403
	case 3:
		path, wantStatus = fmt.Sprintf("/down/%d", i), 503
	case 4:
		path, wantServer, body = fmt.Sprintf("/b/upload/%d", i), "B", big
	case 5:
		path, wantServer = "/big/3000000", "A" // a response above every window
	}
	var req *http.Request
	var err error
	if body != nil {
		// No length: the proxy sends it chunked to the HTTP/1.1 server.
		req, err = http.NewRequest("POST", base+path, io.NopCloser(bytes.NewReader(body)))
	} else {
		req, err = http.NewRequest("GET", base+path, nil)
	}
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: body: %v", path, err)
	}
	if resp.StatusCode != wantStatus {
		return fmt.Errorf("%s: status %d, want %d", path, resp.StatusCode, wantStatus)
	}
	if resp.ProtoMajor != 2 {
		return fmt.Errorf("%s: %s, want HTTP/2", path, resp.Proto)
	}
	if wantStatus != 200 {
		return nil
	}
	if s := resp.Header.Get("x-server"); s != wantServer {
		return fmt.Errorf("%s: served by %q, want %q", path, s, wantServer)
	}
	if p := resp.Header.Get("x-path"); p != path {
		return fmt.Errorf("%s: response rule saw path %q", path, p)
	}
	if path == "/big/3000000" {
		if len(got) != 3000000 {
			return fmt.Errorf("%s: %d body bytes", path, len(got))
		}
		return nil
	}
	var e testsupport.Echoed
	if err := json.Unmarshal(got, &e); err != nil {
		return fmt.Errorf("%s: %v in %q", path, err, got)
	}
	if e.URI != path {
		return fmt.Errorf("%s: server got %q", path, e.URI)
	}
	if body != nil && e.BodyLength != int64(len(body)) {
		return fmt.Errorf("%s: server got %d body bytes, want %d", path, e.BodyLength, len(body))
	}
	if xp, host := e.Header("x-path"), e.Header("host"); len(xp) != 1 || xp[0] != path || len(host) != 1 || host[0] != "a.test" {
		return fmt.Errorf("%s: server got x-path %q, host %q", path, xp, host)
	}
	if fwd := e.Header("forwarded"); len(fwd) != 1 || fwd[0] != "for=127.0.0.1;proto="+scheme {
		return fmt.Errorf("%s: server got forwarded %q, want proto=%s", path, fwd, scheme)
	}
	return nil
}

// TestH2_ResetOneStream: a client resets one stream while its server is
// still answering; the other streams of the connection complete, and the
// reset stream's server connection is closed at once.
func TestH2_ResetOneStream(t *testing.T) {
	p, roots := h2Setup(t)
	var dials atomic.Int64
	c := h2Client(p.addr("tls"), roots, &dials)
	ctx, cancel := context.WithCancel(context.Background())
	slow, _ := http.NewRequestWithContext(ctx, "GET", "https://a.test/delay/10s", nil)
	slowDone := make(chan error, 1)
	go func() {
		resp, err := c.Do(slow)
		if err == nil {
			resp.Body.Close()
		}
		slowDone <- err
	}()
	testsupport.WaitFor(t, 5*time.Second, "the slow stream reaches the server", func() bool {
		return frontendStats(p, "tls").CurStreams == 1
	})
	cancel()
	if err := <-slowDone; err == nil {
		t.Fatal("the reset stream got a response")
	}
	for i := range 10 {
		if err := h2Check(c, "https", i*6, nil); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.WaitFor(t, 5*time.Second, "the reset stream ends", func() bool {
		return frontendStats(p, "tls").CurStreams == 0
	})
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections, want one", n)
	}
}

// TestH2_GracefulStop: Shutdown sends GOAWAY; the streams in flight
// complete, and the client opens no new stream on the connection.
func TestH2_GracefulStop(t *testing.T) {
	p, roots := h2Setup(t)
	var dials atomic.Int64
	c := h2Client(p.addr("tls"), roots, &dials)
	const n = 5
	results := make(chan error, n)
	for range n {
		go func() {
			resp, err := c.Get("https://a.test/delay/1s")
			if err != nil {
				results <- err
				return
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			results <- err
		}()
	}
	testsupport.WaitFor(t, 5*time.Second, "the streams are in flight", func() bool {
		return frontendStats(p, "tls").CurStreams == n
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (the streams did not finish in time)", err)
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("in-flight stream: %v", err)
		}
	}
}

// TestH2_Curl: curl --http2 over TLS and --http2-prior-knowledge over
// cleartext, several requests on one connection, ALPN seen by the rules.
func TestH2_Curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	ca, site := testsupport.NewSite(t, "a.test")
	a := startUpstream(t, "-mode", "echo", "-name", "A")
	b := startUpstream(t, "-mode", "echo", "-name", "B")
	p := startProxy(t, h2Config, map[string]string{
		"cert": site.Cert, "key": site.Key, "a": a.Addr, "b": b.Addr, "down": closedAddr(t),
	})
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	_, port, _ := net.SplitHostPort(p.addr("tls"))
	url := "https://a.test:" + port
	out := run("--http2", "--cacert", ca.File, "--resolve", "a.test:"+port+":127.0.0.1",
		"-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
		"-w", "%{http_code} %{http_version} %{num_connects} %header{x-server}\n",
		url+"/a/1", url+"/b/2", url+"/deny")
	if out != "200 2 1 A\n200 2 0 B\n403 2 0 \n" {
		t.Fatalf("curl --http2 said %q", out)
	}
	body := run("--http2", "--cacert", ca.File, "--resolve", "a.test:"+port+":127.0.0.1", url+"/")
	if got := echoHeader(t, []byte(body), "x-alpn"); got != "h2" {
		t.Errorf("ssl_fc_alpn %q, want h2", got)
	}
	clear := "http://" + p.addr("clear")
	// One URL per run: curl 7.88 cannot reuse a prior-knowledge
	// connection (it fails the same way against HAProxy); Go's client
	// covers many streams on one h2c connection.
	for _, path := range []string{"/a", "/b/x"} {
		out = run("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version} %header{x-server}\n", clear+path)
		if want := map[string]string{"/a": "200 2 A\n", "/b/x": "200 2 B\n"}[path]; out != want {
			t.Fatalf("curl --http2-prior-knowledge %s said %q, want %q", path, out, want)
		}
	}
	// Without the preface, the cleartext bind speaks HTTP/1.1.
	out = run("-o", "/dev/null", "-w", "%{http_code} %{http_version}\n", clear+"/a")
	if out != "200 1.1\n" {
		t.Fatalf("curl over HTTP/1.1 said %q", out)
	}
}
