package admin

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/sockstat"
)

// TestServer_MaxConns: the admin API holds at most MaxConns connections;
// one more waits in the kernel's backlog, not accepted and not closed,
// and is served once another closes.
func TestServer_MaxConns(t *testing.T) {
	s := New("tok", nil)
	s.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	addr := s.Addr().String()

	ping := func(c net.Conn) int {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	held := make([]net.Conn, MaxConns)
	for i := range held {
		held[i] = dial()
		if code := ping(held[i]); code != 200 {
			t.Fatalf("connection %d: status %d", i, code)
		}
	}
	extra := dial()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := sockstat.AcceptQueue(addr)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue: %d, want 1 connection waiting", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	held[0].Close()
	if code := ping(extra); code != 200 {
		t.Fatalf("the connection past the limit: status %d", code)
	}
}
