package h2

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
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
	return startServerOver(t, cfg, h, useTLS, func(nc net.Conn) Transport { return nc })
}

// startServerOver is startServer with each accepted connection wrapped by
// wrap before the Conn sees it (to count its writes, say).
func startServerOver(t testing.TB, cfg Config, h Handler, useTLS bool, wrap func(net.Conn) Transport) *testServer {
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
			c := NewConn(wrap(nc), nil, cfg, h)
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

// concurrentEchoes runs n echo round trips at once, the i-th with a random
// body of size(i) bytes, and fails t for each one that errs or echoes
// another body.
func concurrentEchoes(t *testing.T, n int, size func(i int) int, echo func(body []byte) ([]byte, error)) {
	t.Helper()
	concurrently(t, n, func(i int) error {
		body := make([]byte, size(i))
		rand.Read(body)
		got, err := echo(body)
		if err == nil && !bytes.Equal(got, body) {
			err = fmt.Errorf("stream %d: echoed body differs", i)
		}
		return err
	})
}

// concurrently runs f(0) to f(n-1) at once and fails t for each error.
func concurrently(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f(i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
