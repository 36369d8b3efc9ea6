package h2

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testServer serves HTTP/2 with this package on 127.0.0.1.
type testServer struct {
	addr string
	ln   net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []*Conn
	errs  []error // Serve results, in the order connections ended
}

func startServer(t testing.TB, cfg Config, h Handler, useTLS bool) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if useTLS {
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{selfSigned(t)},
			NextProtos:   []string{"h2"},
		})
	}
	ts := &testServer{addr: ln.Addr().String(), ln: ln}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := NewConn(nc, nil, cfg, h)
			ts.mu.Lock()
			ts.conns = append(ts.conns, c)
			ts.mu.Unlock()
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				err := c.Serve()
				ts.mu.Lock()
				ts.errs = append(ts.errs, err)
				ts.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ts.ln.Close()
	ts.mu.Lock()
	conns := ts.conns
	ts.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	ts.wg.Wait()
}

// serveErrs waits until n connections have ended and returns their results.
func (ts *testServer) serveErrs(t testing.TB, n int) []error {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ts.mu.Lock()
		errs := append([]error(nil), ts.errs...)
		ts.mu.Unlock()
		if len(errs) >= n {
			return errs
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections ended", len(errs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// selfSigned is a server certificate for 127.0.0.1 (the tests' clients
// do not verify it).
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	ca := testsupport.NewCA(t, t.TempDir(), "ca")
	return ca.Issue(t, "server", testsupport.CN("127.0.0.1"), false, "127.0.0.1").TLS
}

// okHandler reads the body and answers 200 with a small body.
func okHandler(s *Stream) {
	if _, err := io.Copy(io.Discard, s); err != nil {
		s.Reset(http2.ErrCodeCancel)
		return
	}
	if err := s.WriteHeaders(200, []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}}, false); err != nil {
		s.Reset(http2.ErrCodeInternal)
		return
	}
	s.Write([]byte("hello"))
	s.Close()
}
