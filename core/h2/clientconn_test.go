package h2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Tests of the client side (ClientConn) against Go's HTTP/2 server, the
// package's own server side, and a raw framer "server" for what a
// well-behaved server never sends. (client_test.go tests the server side
// with x/net's client.)

// dialClientConn connects to addr with prior knowledge (cleartext) or TLS
// with ALPN h2, and closes the ClientConn at the end of the test.
func dialClientConn(t testing.TB, addr string, useTLS bool, cfg ClientConfig) *ClientConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(60 * time.Second)) // bounds every test
	var tr Transport = nc
	if useTLS {
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // the test's self-signed cert
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN chose %q", p)
		}
		tr = tc
	}
	cc := NewClientConn(tr, cfg)
	t.Cleanup(func() {
		cc.Close()
		<-cc.Done()
	})
	return cc
}

// exchange is one request's outcome.
type exchange struct {
	interim  []int
	resp     *ClientResponse
	body     []byte
	trailers []hpack.HeaderField
}

// roundTrip sends a request with body (nil: none) and request trailers,
// writing the body while it reads the response, as a full-duplex proxy
// does.
func roundTrip(cc *ClientConn, method, path string, body []byte, trailers []hpack.HeaderField, fields ...hpack.HeaderField) (*exchange, error) {
	s, err := cc.OpenStream(&ClientRequest{Method: method, Scheme: "https", Authority: "example.test", Path: path, Fields: fields, EndStream: body == nil})
	if err != nil {
		return nil, err
	}
	werr := make(chan error, 1)
	go func() {
		if body == nil {
			werr <- nil
			return
		}
		if _, err := s.Write(body); err != nil {
			werr <- err
			return
		}
		werr <- s.WriteTrailers(trailers)
	}()
	ex := &exchange{}
	for {
		r, err := s.ReadResponse()
		if err != nil {
			s.Reset(http2.ErrCodeCancel)
			<-werr
			return ex, err
		}
		if r.Status >= 200 {
			ex.resp = r
			break
		}
		ex.interim = append(ex.interim, r.Status)
	}
	ex.body, err = io.ReadAll(s)
	if err != nil {
		s.Reset(http2.ErrCodeCancel)
		<-werr
		return ex, err
	}
	ex.trailers = s.Trailers()
	if err := <-werr; err != nil && !errors.Is(err, ErrStreamClosed) {
		return ex, fmt.Errorf("writing the body: %w", err)
	}
	<-s.Done()
	return ex, s.Err()
}

func field(fields []hpack.HeaderField, name string) string {
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// goApp is the handler behind the Go-server tests.
type goApp struct {
	started chan string   // /hold and /slow handlers announce themselves
	release chan struct{} // closing it lets them answer
}

func newGoApp() *goApp {
	return &goApp{started: make(chan string, 100), release: make(chan struct{})}
}

func (a *goApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		// Full duplex: the body streams back as it arrives; trailers give
		// its length and echo the request's x-req-trailer.
		w.Header().Set("Trailer", "X-Body-Len, X-Req-Trailer")
		w.WriteHeader(200)
		n, err := io.Copy(w, r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("X-Body-Len", strconv.FormatInt(n, 10))
		w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Req-Trailer"))
	case "/big":
		n, _ := strconv.Atoi(r.URL.RawQuery)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	case "/continue":
		// Reading the body makes the server send 100 Continue.
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte("got " + strconv.Itoa(len(b))))
	case "/panic":
		panic(http.ErrAbortHandler) // the stream is reset
	case "/hold", "/slow":
		a.started <- r.URL.Path
		<-a.release
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("slow"))
	default:
		w.Write([]byte("hello"))
	}
}

// startGoServer serves h with net/http's HTTP/2: prior knowledge on
// cleartext, ALPN h2 over TLS.
func startGoServer(t testing.TB, useTLS bool, maxStreams uint32, h http.Handler) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  h,
		ErrorLog: log.New(io.Discard, "", 0),
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)},
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	if useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"h2"}}
		srv.Protocols = &protos
		go srv.ServeTLS(ln, "", "")
	} else {
		protos.SetHTTP2(false)
		protos.SetUnencryptedHTTP2(true)
		srv.Protocols = &protos
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

func TestClientConn_GoServer(t *testing.T) {
	cfgs := []struct {
		name string
		cfg  ClientConfig
	}{
		{"default windows", ClientConfig{}},
		// The smallest windows: every body is many windows long.
		{"small windows", ClientConfig{InitialWindowSize: 65535, ConnWindowSize: 65535}},
	}
	for _, mode := range modes {
		for _, cc := range cfgs {
			t.Run(mode.name+"/"+cc.name, func(t *testing.T) {
				app := newGoApp()
				_, addr := startGoServer(t, mode.tls, 0, app)
				testClientAgainst(t, dialClientConn(t, addr, mode.tls, cc.cfg), app.started, app.release, "/panic")
			})
		}
	}
}

// TestClientConn_OwnServer runs the same exchanges against the package's
// server side.
func TestClientConn_OwnServer(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			app := newOwnApp()
			ts := startServer(t, Config{}, app.serve, mode.tls)
			testClientAgainst(t, dialClientConn(t, ts.addr, mode.tls, ClientConfig{}), app.started, app.release, "/reset")
		})
	}
}

// ownApp adapts the server-side appHandler (client_test.go) with the paths
// testClientAgainst uses.
type ownApp struct {
	*appHandler
	started chan string
}

func newOwnApp() *ownApp {
	return &ownApp{appHandler: newAppHandler(), started: make(chan string, 100)}
}

func (a *ownApp) serve(s *Stream) {
	path, _, _ := strings.Cut(s.Request().Path, "?")
	switch path {
	case "/reset":
		s.Reset(http2.ErrCodeInternal)
	case "/continue":
		if field(s.Request().Fields, "expect") == "100-continue" {
			s.WriteHeaders(100, nil, false)
		}
		b, _ := io.ReadAll(s)
		s.WriteHeaders(200, nil, false)
		s.Write([]byte("got " + strconv.Itoa(len(b))))
		s.Close()
	case "/authority":
		s.WriteHeaders(200, nil, false)
		s.Write([]byte(s.Request().Authority))
		s.Close()
	case "/hold":
		a.started <- path
		<-a.release
		io.Copy(io.Discard, s)
		s.WriteHeaders(200, nil, false)
		s.Write([]byte("slow"))
		s.Close()
	default:
		a.appHandler.serve(s)
	}
}

// testClientAgainst runs the exchanges every server must get right: the
// server has /echo (full duplex, trailers x-body-len and x-req-trailer),
// /big?N, /continue, /hold (announced on started, answers once release is
// closed) and resetPath (the handler resets its stream).
func testClientAgainst(t *testing.T, cc *ClientConn, started <-chan string, release chan struct{}, resetPath string) {
	t.Run("concurrent streams", func(t *testing.T) {
		concurrentEchoes(t, 50, func(i int) int { return 10_000 + i*100 }, func(body []byte) ([]byte, error) {
			ex, err := roundTrip(cc, "POST", "/echo", body, nil)
			if err != nil {
				return nil, err
			}
			return ex.body, nil
		})
	})

	t.Run("large bodies both ways", func(t *testing.T) {
		// 3 MiB up and back: beyond every window, ours and the server's.
		body := make([]byte, 3<<20)
		rand.Read(body)
		ex, err := roundTrip(cc, "POST", "/echo", body, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ex.body, body) {
			t.Fatalf("echo of %d bytes returned %d differing bytes", len(body), len(ex.body))
		}
		if got := field(ex.trailers, "x-body-len"); got != strconv.Itoa(len(body)) {
			t.Fatalf("trailer x-body-len = %q", got)
		}
		const size = 6 << 20
		ex, err = roundTrip(cc, "GET", "/big?"+strconv.Itoa(size), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.body) != size || ex.resp.ContentLength != size {
			t.Fatalf("read %d bytes, content-length %d; want %d", len(ex.body), ex.resp.ContentLength, size)
		}
	})

	t.Run("trailers", func(t *testing.T) {
		ex, err := roundTrip(cc, "POST", "/echo", []byte("with trailers"), []hpack.HeaderField{{Name: "X-Req-Trailer", Value: "yes"}},
			hpack.HeaderField{Name: "Trailer", Value: "X-Req-Trailer"}, hpack.HeaderField{Name: "TE", Value: "trailers"},
			hpack.HeaderField{Name: "Connection", Value: "keep-alive"}, hpack.HeaderField{Name: "Host", Value: "dropped.test"})
		if err != nil {
			t.Fatal(err)
		}
		if field(ex.trailers, "x-req-trailer") != "yes" || field(ex.trailers, "x-body-len") != "13" {
			t.Fatalf("trailers %v", ex.trailers)
		}
	})

	t.Run("100-continue", func(t *testing.T) {
		s, err := cc.OpenStream(&ClientRequest{Method: "POST", Scheme: "https", Authority: "a", Path: "/continue",
			Fields: []hpack.HeaderField{{Name: "Expect", Value: "100-continue"}}})
		if err != nil {
			t.Fatal(err)
		}
		// The body waits for the interim response, as expect says.
		r, err := s.ReadResponse()
		if err != nil || r.Status != 100 {
			t.Fatalf("first response %v, %v; want 100", r, err)
		}
		if _, err := s.Write([]byte("twelve bytes")); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		r, err = s.ReadResponse()
		if err != nil || r.Status != 200 {
			t.Fatalf("final response %v, %v", r, err)
		}
		body, err := io.ReadAll(s)
		if err != nil || string(body) != "got 12" {
			t.Fatalf("body %q, %v", body, err)
		}
		if _, err := s.ReadResponse(); !errors.Is(err, ErrResponseRead) {
			t.Fatalf("ReadResponse after the final one: %v", err)
		}
	})

	t.Run("server reset while others complete", func(t *testing.T) {
		held := make(chan error, 1)
		go func() {
			ex, err := roundTrip(cc, "POST", "/hold", []byte("x"), nil)
			if err == nil && string(ex.body) != "slow" {
				err = fmt.Errorf("body %q", ex.body)
			}
			held <- err
		}()
		<-started
		_, err := roundTrip(cc, "GET", resetPath, nil, nil)
		var re *ResetError
		if !errors.As(err, &re) || !re.Remote || re.Code != http2.ErrCodeInternal {
			t.Fatalf("reset stream: %v, want a remote INTERNAL_ERROR reset", err)
		}
		if errors.Is(err, ErrRetryable) {
			t.Fatalf("INTERNAL_ERROR reset is retryable: %v", err)
		}
		for i := range 5 {
			ex, err := roundTrip(cc, "POST", "/echo", []byte{byte(i)}, nil)
			if err != nil || len(ex.body) != 1 {
				t.Fatalf("echo beside a held stream: %v", err)
			}
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatalf("held stream: %v", err)
		}
		if n := cc.ActiveStreams(); n != 0 {
			t.Fatalf("ActiveStreams = %d after every exchange", n)
		}
		if cc.Idle() == 0 {
			// Idle is measured from the last stream's end: positive now,
			// if possibly tiny; 0 only with an open stream.
			time.Sleep(time.Millisecond)
			if cc.Idle() == 0 {
				t.Fatal("Idle = 0 with no open stream")
			}
		}
		if !cc.CanTakeNewStream() {
			t.Fatal("CanTakeNewStream false on a healthy connection")
		}
	})
}

func TestClientConn_GoServerMaxStreams(t *testing.T) {
	app := newGoApp()
	_, addr := startGoServer(t, false, 2, app)
	cc := dialClientConn(t, addr, false, ClientConfig{})
	// A first exchange: the server's SETTINGS precede its response.
	if _, err := roundTrip(cc, "GET", "/", nil, nil); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	for range 2 {
		s, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/hold", EndStream: true})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := s.ReadResponse()
			if err == nil {
				_, err = io.ReadAll(s)
			}
			results <- err
		}()
	}
	<-app.started
	<-app.started
	if cc.CanTakeNewStream() {
		t.Fatal("CanTakeNewStream true at the server's limit of 2")
	}
	if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/"}); !errors.Is(err, ErrRetryable) {
		t.Fatalf("OpenStream at the limit: %v, want ErrRetryable", err)
	}
	close(app.release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if !cc.CanTakeNewStream() {
		t.Fatal("CanTakeNewStream false below the limit")
	}
}

func TestClientConn_GoServerShutdown(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			app := newGoApp()
			srv, addr := startGoServer(t, mode.tls, 0, app)
			cc := dialClientConn(t, addr, mode.tls, ClientConfig{})
			const inflight = 3
			results := make(chan error, inflight)
			for range inflight {
				go func() {
					ex, err := roundTrip(cc, "POST", "/slow", []byte("x"), nil)
					if err == nil && string(ex.body) != "slow" {
						err = fmt.Errorf("body %q", ex.body)
					}
					results <- err
				}()
			}
			for range inflight {
				<-app.started
			}
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(context.Background()) }()
			testsupport.WaitFor(t, 20*time.Second, "the server's GOAWAY", func() bool { return !cc.CanTakeNewStream() })
			if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/"}); !errors.Is(err, ErrRetryable) {
				t.Fatalf("OpenStream after GOAWAY: %v, want ErrRetryable", err)
			}
			close(app.release)
			for range inflight {
				if err := <-results; err != nil {
					t.Errorf("in-flight stream: %v", err)
				}
			}
			<-cc.Done()
			if err := cc.Err(); err != nil {
				t.Errorf("Err after a graceful end = %v", err)
			}
			if err := <-shut; err != nil {
				t.Errorf("server Shutdown: %v", err)
			}
		})
	}
}

// TestClientConn_Shutdown: our server's GOAWAY, our own Shutdown, and
// Close with a stream open.
func TestClientConn_Shutdown(t *testing.T) {
	app := newOwnApp()
	ts := startServer(t, Config{}, app.serve, false)

	t.Run("server", func(t *testing.T) {
		cc := dialClientConn(t, ts.addr, false, ClientConfig{})
		held := make(chan error, 1)
		go func() {
			_, err := roundTrip(cc, "POST", "/hold", []byte("x"), nil)
			held <- err
		}()
		<-app.started
		ts.mu.Lock()
		sc := ts.conns[len(ts.conns)-1]
		ts.mu.Unlock()
		sc.Shutdown()
		testsupport.WaitFor(t, 20*time.Second, "the server's GOAWAY", func() bool { return !cc.CanTakeNewStream() })
		if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/"}); !errors.Is(err, ErrRetryable) {
			t.Fatalf("OpenStream after GOAWAY: %v, want ErrRetryable", err)
		}
		app.release <- struct{}{} // one handler goes
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		<-cc.Done()
	})

	t.Run("client", func(t *testing.T) {
		cc := dialClientConn(t, ts.addr, false, ClientConfig{})
		held := make(chan error, 1)
		go func() {
			_, err := roundTrip(cc, "POST", "/hold", []byte("x"), nil)
			held <- err
		}()
		<-app.started
		cc.Shutdown()
		cc.Shutdown() // idempotent
		if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/"}); !errors.Is(err, ErrRetryable) {
			t.Fatalf("OpenStream after Shutdown: %v, want ErrRetryable", err)
		}
		app.release <- struct{}{}
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		<-cc.Done()
		if err := cc.Err(); err != nil {
			t.Fatalf("Err after Shutdown = %v", err)
		}
	})

	t.Run("close fails open streams", func(t *testing.T) {
		cc := dialClientConn(t, ts.addr, false, ClientConfig{})
		s, err := cc.OpenStream(&ClientRequest{Method: "POST", Scheme: "https", Authority: "a", Path: "/hold"})
		if err != nil {
			t.Fatal(err)
		}
		<-app.started
		cc.Close()
		if _, err := s.ReadResponse(); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("ReadResponse after Close: %v", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		<-cc.Done()
		app.release <- struct{}{}
	})
}

// TestClientConn_HostAsAuthority: without Authority, a host field becomes
// :authority (and is not sent as host).
func TestClientConn_HostAsAuthority(t *testing.T) {
	ts := startServer(t, Config{}, newOwnApp().serve, false)
	cc := dialClientConn(t, ts.addr, false, ClientConfig{})
	s, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "http", Path: "/authority", EndStream: true,
		Fields: []hpack.HeaderField{{Name: "Host", Value: "backend.test:8080"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadResponse(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(s); err != nil || string(b) != "backend.test:8080" {
		t.Fatalf(":authority %q, %v", b, err)
	}
}

// TestClientConn_Hammer runs exchanges, resets and a Close at once on one
// ClientConn under -race: every call returns, and every error is one the
// contract names.
func TestClientConn_Hammer(t *testing.T) {
	ts := startServer(t, Config{}, newOwnApp().serve, false)
	cc := dialClientConn(t, ts.addr, false, ClientConfig{InitialWindowSize: 65535, ConnWindowSize: 65535})
	const workers, rounds = 16, 30
	var wg sync.WaitGroup
	closeAt := make(chan struct{})
	var once sync.Once
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if w == 0 && i == rounds/2 {
					once.Do(func() { close(closeAt) })
				}
				body := bytes.Repeat([]byte{byte(i)}, 1000*(i%7)+1)
				var err error
				switch (w + i) % 3 {
				case 0: // a full exchange
					var ex *exchange
					ex, err = roundTrip(cc, "POST", "/echo", body, nil)
					if err == nil && !bytes.Equal(ex.body, body) {
						t.Errorf("worker %d round %d: echoed body differs", w, i)
					}
				case 1: // reset right after opening
					var s *ClientStream
					s, err = cc.OpenStream(&ClientRequest{Method: "POST", Scheme: "http", Authority: "a", Path: "/echo"})
					if err == nil {
						s.Reset(http2.ErrCodeCancel)
						_, err = s.Read(make([]byte, 1))
						var re *ResetError
						if !errors.As(err, &re) && !errors.Is(err, ErrConnClosed) {
							t.Errorf("Read after Reset: %v", err)
						}
						err = nil
					}
				case 2: // read part of a large body, then reset
					var s *ClientStream
					s, err = cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/big?1000000", EndStream: true})
					if err == nil {
						if _, err = s.ReadResponse(); err == nil {
							_, err = io.ReadFull(s, make([]byte, 10_000))
						}
						s.Reset(http2.ErrCodeCancel)
					}
				}
				if err != nil && !errors.Is(err, ErrConnClosed) && !errors.Is(err, ErrRetryable) {
					t.Errorf("worker %d round %d: %v", w, i, err)
				}
			}
		}()
	}
	<-closeAt
	cc.Close()
	wg.Wait()
	<-cc.Done()
	if n := cc.ActiveStreams(); n != 0 {
		t.Fatalf("ActiveStreams = %d after Close", n)
	}
}

// BenchmarkClientConn_RoundTrip: one small GET over a warm connection to
// the package's server; allocs/op is the figure to watch.
func BenchmarkClientConn_RoundTrip(b *testing.B) {
	ts := startServer(b, Config{}, newOwnApp().serve, false)
	cc := dialClientConn(b, ts.addr, false, ClientConfig{})
	req := &ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/", EndStream: true,
		Fields: []hpack.HeaderField{{Name: "user-agent", Value: "bench"}}}
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		s, err := cc.OpenStream(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ReadResponse(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := s.Read(buf); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
