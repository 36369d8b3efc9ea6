package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// headCloseServer is an in-test HTTP/1.1 server that answers the first
// request of each connection and keeps the connection; on the next
// request it reads the head and closes the connection (a FIN: nothing of
// ours is unread yet) before the body comes: a server whose idle close
// crossed a request on the way, as an idle timeout does.
type headCloseServer struct {
	ln     net.Listener
	closed chan struct{} // one value per connection closed after a head
	mu     sync.Mutex
	seen   map[string]int // requests read whole, by method and path
}

func startHeadCloseServer(t *testing.T) *headCloseServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &headCloseServer{ln: ln, closed: make(chan struct{}, 16), seen: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *headCloseServer) serve(c net.Conn) {
	defer c.Close()
	req, body, br, ok := readWholeRequest(c)
	if !ok {
		return
	}
	s.mu.Lock()
	s.seen[req.Method+" "+req.URL.Path+" "+string(body)]++
	s.mu.Unlock()
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := http.ReadRequest(br); err != nil { // the head only: the body is not there yet
		return
	}
	c.Close()
	s.closed <- struct{}{}
}

// TestPool_ClosedAsRequestLeaves is a server closing a pooled connection
// as a request goes out on it: the server's FIN reaches strata after it
// checked the connection and before the request (here its body, an
// HTTP/2 client's body being sent as it comes) went out. The server's
// socket is closed, so the request draws a reset that Linux records as
// EPIPE, the connection being in CLOSE-WAIT, and a read sees the FIN
// first. Nothing of the request was acted on: strata sends the POST again
// on a fresh connection and the client gets 200, as from HAProxy, whose
// idle connections a FIN in flight can reach just as late
// (TestPool_DifferentialHAProxy). The FIN is made to arrive in that
// window by the test, not by chance: the server closes once the head is
// there and the body is sent once strata's socket is in CLOSE-WAIT.
func TestPool_ClosedAsRequestLeaves(t *testing.T) {
	s := startHeadCloseServer(t)
	port := portOf(t, s.ln.Addr().String())
	p := startProxy(t, `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}" }
`, map[string]string{"s1": s.ln.Addr().String()})
	var dials atomic.Int64
	c := h2Client(p.addr("web"), nil, &dials)
	const n = 5
	for i := range n {
		if r := testsupport.Get(t, c, fmt.Sprintf("http://a.test/warm%d", i)); r.Status != 200 {
			t.Fatalf("warm-up %d: %+v", i, r)
		}
		testsupport.WaitFor(t, 5*time.Second, "a pooled connection", func() bool { return p.server(t, "s1").IdleConns == 1 })

		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", fmt.Sprintf("http://a.test/post%d", i), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len("hello"))
		type result struct {
			r   testsupport.Response
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := testsupport.Do(c, req)
			done <- result{r, err}
		}()
		select {
		case <-s.closed:
		case r := <-done:
			t.Fatalf("POST %d answered before its body was sent: %+v (%v)", i, r.r, r.err)
		case <-time.After(10 * time.Second):
			t.Fatalf("POST %d: the server never saw its head", i)
		}
		testsupport.WaitFor(t, 10*time.Second, "the server's FIN at strata", func() bool {
			return tcpStates(t, port)[tcpCloseWait] == 1
		})
		if _, err := io.WriteString(pw, "hello"); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if r := <-done; r.err != nil || r.r.Status != 200 || string(r.r.Body) != "hello" {
			t.Fatalf("POST %d: %d %q (%v), want 200 and the body echoed", i, r.r.Status, r.r.Body, r.err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		if c := s.seen[fmt.Sprintf("POST /post%d hello", i)]; c != 1 {
			t.Fatalf("the server handled POST /post%d %d times, want 1", i, c)
		}
	}
	retried := 0
	for _, l := range p.logLines(t, 2*n) {
		if strings.HasPrefix(fmt.Sprint(l["uri"]), "/post") && l["status"] == float64(200) && l["retries"] == float64(1) {
			retried++
		}
	}
	if retried != n {
		t.Fatalf("%d POSTs logged 200 after one retry, want %d", retried, n)
	}
}
