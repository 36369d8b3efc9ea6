package proxy

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Scenario tests of connection retries, redispatch and replays.

// TestRetry_Redispatch: with redispatch, a stream whose server refuses the
// connection goes to another server at once (roundrobin, several servers:
// HAProxy does not wait for the last retry then).
func TestRetry_Redispatch(t *testing.T) {
	_, vars := startUpstreams(t, []string{"live"})
	vars["dead"] = closedAddr(t)
	p := startProxy(t, backendConfig(`
    retries: 3
    redispatch: true
    timeouts: { connect: 1s, server: 5s }
    servers:
      dead: { address: "{{dead}}" }
      live: { address: "{{live}}" }
`), vars)
	start := time.Now()
	for i := range 10 {
		if r := getOnce(t, p.addr("web"), fmt.Sprintf("/r%d", i)); r.status != 200 || r.server != "live" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("10 requests took %v: redispatch waited", d) // a turn-around each would be 5s
	}
	dead := p.server(t, "dead")
	if dead.ConnErrors != 5 || dead.Retries != 5 || dead.Redispatches != 5 {
		t.Fatalf("dead server: %d connect errors, %d retries, %d redispatches", dead.ConnErrors, dead.Retries, dead.Redispatches)
	}
	retried := 0
	for _, l := range p.logLines(t, 10) {
		if l["retries"] == float64(1) {
			retried++
			if l["server"] != "live" || l["termination_state"] != "--" {
				t.Fatalf("log %v", l)
			}
		}
	}
	if retried != 5 {
		t.Fatalf("%d log lines with a retry", retried)
	}
}

// TestRetry_SameServer: without redispatch every retry goes to the same
// server after a turn-around of min(timeouts.connect, 1s); then 503.
func TestRetry_SameServer(t *testing.T) {
	vars := map[string]string{"dead": closedAddr(t)}
	p := startProxy(t, backendConfig(`
    retries: 2
    timeouts: { connect: 150ms, server: 5s }
    servers:
      dead: { address: "{{dead}}" }
`), vars)
	start := time.Now()
	r := getOnce(t, p.addr("web"), "/")
	if r.status != 503 {
		t.Fatalf("got %+v", r)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("503 after %v: two turn-arounds of 150ms expected", d)
	}
	if s := p.server(t, "dead"); s.ConnErrors != 3 || s.Retries != 2 {
		t.Fatalf("%d connect errors, %d retries", s.ConnErrors, s.Retries)
	}
	l := p.logLines(t, 1)[0]
	if l["termination_state"] != "SC" || l["retries"] != float64(2) {
		t.Fatalf("log %v", l)
	}
}

// TestRetry_LastRetryRedispatches: with a hash algorithm the stream stays
// on its server until the last retry, which goes elsewhere.
func TestRetry_LastRetryRedispatches(t *testing.T) {
	_, vars := startUpstreams(t, []string{"live"})
	vars["dead"] = closedAddr(t)
	p := startProxy(t, backendConfig(`
    balance: uri
    retries: 2
    redispatch: true
    timeouts: { connect: 150ms, server: 5s }
    servers:
      dead: { address: "{{dead}}" }
      live: { address: "{{live}}" }
`), vars)
	for i := range 50 {
		before := p.server(t, "dead").ConnErrors
		start := time.Now()
		r := getOnce(t, p.addr("web"), fmt.Sprintf("/k%d", i))
		if r.status != 200 || r.server != "live" {
			t.Fatalf("/k%d: %+v", i, r)
		}
		if p.server(t, "dead").ConnErrors == before {
			continue // hashed to the live server
		}
		if n := p.server(t, "dead").ConnErrors - before; n != 2 {
			t.Fatalf("/k%d: %d attempts on the dead server, want 2 (first try, first retry)", i, n)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("/k%d answered after %v, without the turn-around", i, d)
		}
		return
	}
	t.Fatal("no path hashed to the dead server")
}

// TestRetry_NoReplay: a request whose body streamed to a server is never
// sent again; an idempotent request that met a dead keep-alive connection
// is, once, on a fresh connection; a non-idempotent one is not.
func TestRetry_NoReplay(t *testing.T) {
	tests := []struct {
		name     string
		warm     bool // a first request leaves a pooled connection
		send     func(c net.Conn)
		method   string
		requests int // reaching the server
		status   int
	}{
		{
			name: "streamed body", method: "POST", requests: 1, status: 502,
			send: func(c net.Conn) {
				io.WriteString(c, "POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"+strings.Repeat("a", 1000))
				time.Sleep(100 * time.Millisecond)
				c.Write([]byte(strings.Repeat("b", 199000)))
			},
		},
		{
			name: "idempotent on a reused connection", warm: true, method: "GET", requests: 2, status: 502,
			send: func(c net.Conn) { io.WriteString(c, "GET /close HTTP/1.1\r\nHost: x\r\n\r\n") },
		},
		{
			name: "non-idempotent on a reused connection", warm: true, method: "POST", requests: 1, status: 502,
			send: func(c net.Conn) {
				io.WriteString(c, "POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, vars := startUpstreams(t, []string{"s1"})
			p := startProxy(t, backendConfig(`
    retries: 3
    redispatch: true
    servers:
      s1: { address: "{{s1}}" }
`), vars)
			cl := dial(t, p.addr("web"), "")
			if tt.warm {
				cl.get(t, "/warm")
				testsupport.WaitFor(t, 5*time.Second, "a pooled connection", func() bool { return p.server(t, "s1").IdleConns == 1 })
			}
			cl.c.SetDeadline(time.Now().Add(5 * time.Second))
			tt.send(cl.c)
			b, _ := io.ReadAll(cl.br)
			if statusOf(string(b)) != tt.status {
				t.Fatalf("answer %q", b)
			}
			n := 0
			for _, e := range ups["s1"].Events(t, "request") {
				if e.URI == "/close" {
					if e.Method != tt.method {
						t.Fatalf("method %s", e.Method)
					}
					n++
				}
			}
			if n != tt.requests {
				t.Fatalf("the server received the request %d times, want %d", n, tt.requests)
			}
		})
	}
}

// TestRetry_TCPRedispatch: TCP streams retry and redispatch like HTTP.
func TestRetry_TCPRedispatch(t *testing.T) {
	up := startUpstream(t, "-mode", "tcp")
	p := startProxy(t, `
global:
  access_log: { output: stdout, format: json }
frontends:
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 5s }
    default_backend: echo
backends:
  echo:
    mode: tcp
    retries: 1
    redispatch: true
    timeouts: { connect: 1s, server: 5s, tunnel: 5s }
    servers:
      dead: { address: "{{dead}}" }
      live: { address: "{{live}}" }
`, map[string]string{"dead": closedAddr(t), "live": up.Addr})
	for i := range 4 {
		c, err := net.Dial("tcp", p.addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("hello %d", i)
		io.WriteString(c, msg)
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != msg {
			t.Fatalf("connection %d echoed %q", i, b)
		}
	}
}
