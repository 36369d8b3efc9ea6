package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// End-to-end tests of HTTP/2 to servers (`h2: true`): the origin is Go's
// HTTP/2 server on a real socket, in cleartext (prior knowledge) or over
// TLS with ALPN h2; clients speak HTTP/1.1 or HTTP/2 to the proxy.

// h2Origin is an HTTP/2-only origin that reports what it received and
// counts its connections.
type h2Origin struct {
	addr  string
	conns atomic.Int64
}

func startH2Origin(t *testing.T, cert *tls.Certificate) *h2Origin {
	t.Helper()
	o := &h2Origin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("x-proto", r.Proto)
		w.Header().Set("x-got-host", r.Host)
		w.Header().Set("x-got-path", r.URL.RequestURI())
		w.Header().Set("x-got-len", strconv.Itoa(len(body)))
		w.Header().Set("x-got-te", r.Header.Get("te"))
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(body))
	})
	mux.HandleFunc("/stream/", func(w http.ResponseWriter, r *http.Request) {
		// No content-length: an HTTP/1.1 client gets it chunked.
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/stream/"))
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/reset", func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler) // the server resets this stream
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	protos := new(http.Protocols)
	srv := &http.Server{Handler: mux, Protocols: protos, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				o.conns.Add(1)
			}
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	if cert != nil {
		protos.SetHTTP2(true)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		go srv.ServeTLS(ln, "", "")
	} else {
		protos.SetUnencryptedHTTP2(true)
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return o
}

// TestH2Up_FromHTTP1: HTTP/1.1 clients through an HTTP/2 server: methods,
// bodies of known and unknown length both ways, a stream the server
// resets failing alone, a server timeout, and many concurrent clients
// multiplexed on few server connections.
func TestH2Up_FromHTTP1(t *testing.T) {
	o := startH2Origin(t, nil)
	p := startProxy(t, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    timeouts: { server: 1s }
    servers:
      s1: { address: "{{o}}", h2: true }
`, map[string]string{"o": o.addr})
	addr := p.addr("web")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(raw string) (*http.Response, string) {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%q: body: %v", raw, err)
		}
		return resp, string(b)
	}
	resp, body := send("GET /a?q=1 HTTP/1.1\r\nHost: app.test\r\nTE: trailers\r\n\r\n")
	if resp.StatusCode != 200 || body != "GET /a?q=1 0" || resp.Header.Get("x-proto") != "HTTP/2.0" ||
		resp.Header.Get("x-got-host") != "app.test" || resp.Header.Get("x-got-te") != "trailers" {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = send("POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello")
	if body != "POST /up 5" {
		t.Fatalf("POST with a length: %d %q", resp.StatusCode, body)
	}
	resp, body = send("POST /up HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n")
	if body != "POST /up 7" {
		t.Fatalf("POST chunked: %d %q", resp.StatusCode, body)
	}
	resp, body = send("GET /stream/100 HTTP/1.1\r\nHost: app.test\r\n\r\n")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || strings.Count(body, "\n") != 100 {
		t.Fatalf("streamed response: %v, %d lines", resp.TransferEncoding, strings.Count(body, "\n"))
	}
	if resp, _ := send("GET /reset HTTP/1.1\r\nHost: app.test\r\n\r\n"); resp.StatusCode != 502 {
		t.Fatalf("a reset stream: %d, want 502", resp.StatusCode)
	}

	// The reset closed that client connection; others share the
	// server's connections.
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := http.Get(fmt.Sprintf("http://%s/c/%d", addr, i))
			if err != nil {
				bad.Add(1)
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 || string(b) != fmt.Sprintf("GET /c/%d 0", i) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 40 concurrent requests failed", bad.Load())
	}
	if n := o.conns.Load(); n > 5 {
		t.Errorf("the server saw %d connections for 45 requests: not multiplexed", n)
	}
	r, err := http.Get("http://" + addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 504 {
		t.Fatalf("a server slower than its timeout: %d, want 504", r.StatusCode)
	}
}

// TestH2Up_FromHTTP2OverTLS: HTTP/2 clients through an HTTP/2 server over
// TLS (ALPN h2): concurrent streams end to end.
func TestH2Up_FromHTTP2OverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	leaf := ca.Issue(t, "origin", testsupport.CN("origin.test"), false, "origin.test")
	cert, err := tls.LoadX509KeyPair(leaf.Cert, leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	o := startH2Origin(t, &cert)
	p := startProxy(t, `
global:
  access_log: { output: none }
frontends:
  clear:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{o}}", h2: true, tls: { verify: required, ca: "{{ca}}", sni: origin.test } }
`, map[string]string{"o": o.addr, "ca": ca.File})
	var dials atomic.Int64
	c := h2Client(p.addr("clear"), nil, &dials)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat("x", i*1000)
			r, err := c.Post(fmt.Sprintf("http://a.test/p/%d", i), "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if want := fmt.Sprintf("POST /p/%d %d", i, len(body)); r.StatusCode != 200 || string(b) != want || r.Header.Get("x-proto") != "HTTP/2.0" {
				errs <- fmt.Errorf("stream %d: %d %q, want %q", i, r.StatusCode, b, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := o.conns.Load(); n > 3 {
		t.Errorf("the server saw %d connections for 30 streams", n)
	}
}
