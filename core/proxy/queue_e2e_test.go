package proxy

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Scenario tests of maxconn and queues.

// TestQueue_MaxConnNeverExceeded sends more parallel slow requests than
// the servers take: every request is served, and no server ever has more
// than its maxconn at once — as the servers themselves saw it.
func TestQueue_MaxConnNeverExceeded(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 5s, queue: 10s }
    servers:
      s1: { address: "{{s1}}", maxconn: 2 }
      s2: { address: "{{s2}}", maxconn: 1 }
`), vars)
	const delay = 300 * time.Millisecond
	paths := make([]string, 12)
	for i := range paths {
		paths[i] = fmt.Sprintf("/delay/%v?n=%d", delay, i)
	}
	for _, r := range parallel(t, p.addr("web"), paths) {
		if r.err != nil || r.status != 200 {
			t.Fatalf("reply %+v", r)
		}
	}
	for name, limit := range map[string]int{"s1": 2, "s2": 1} {
		evs := ups[name].Events(t, "request")
		if m := maxOverlap(evs, delay); m > limit {
			t.Fatalf("%s handled %d requests at once, maxconn %d", name, m, limit)
		}
		if s := p.server(t, name); s.MaxCurrent != int64(limit) || s.Current != 0 || s.Queue != 0 {
			t.Fatalf("%s: max %d cur %d queue %d", name, s.MaxCurrent, s.Current, s.Queue)
		}
	}
	if n := len(ups["s1"].Events(t, "request")) + len(ups["s2"].Events(t, "request")); n != 12 {
		t.Fatalf("servers saw %d requests", n)
	}
	st := p.Stats().Backends[0]
	if st.QueueMax < 9 || st.Queue != 0 {
		t.Fatalf("backend queue max %d now %d", st.QueueMax, st.Queue)
	}
}

// TestQueue_ArrivalOrder queues requests one after the other behind a
// full server: they reach it in the order they arrived.
func TestQueue_ArrivalOrder(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 5s, queue: 10s }
    servers:
      s1: { address: "{{s1}}", maxconn: 1 }
`), vars)
	be := p.Generation().Backend("app")
	var wg sync.WaitGroup
	replies := make([]reply, 6)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = getOnce(t, p.addr("web"), fmt.Sprintf("/delay/100ms?n=%d", i))
		}()
		if i == 0 {
			testsupport.WaitFor(t, 5*time.Second, "the first request on the server", func() bool { return be.Servers[0].Cur.Load() == 1 })
			continue
		}
		testsupport.WaitFor(t, 5*time.Second, fmt.Sprintf("%d queued", i), func() bool { return be.Queued() == int64(i) })
	}
	wg.Wait()
	evs := ups["s1"].Events(t, "request")
	if len(evs) != 6 {
		t.Fatalf("server saw %d requests", len(evs))
	}
	for i, e := range evs {
		if want := fmt.Sprintf("/delay/100ms?n=%d", i); e.URI != want {
			t.Fatalf("request %d at the server is %s, want %s", i, e.URI, want)
		}
	}
	for i, r := range replies {
		if r.status != 200 {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
}

// TestQueue_Timeout: a stream that waits longer than timeouts.queue gets
// 503, logged sQ, and never reaches a server.
func TestQueue_Timeout(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 5s, queue: 300ms }
    servers:
      s1: { address: "{{s1}}", maxconn: 1 }
`), vars)
	be := p.Generation().Backend("app")
	slow := make(chan reply)
	go func() { slow <- getOnce(t, p.addr("web"), "/delay/2s") }()
	testsupport.WaitFor(t, 5*time.Second, "the slow request on the server", func() bool { return be.Servers[0].Cur.Load() == 1 })
	start := time.Now()
	r := getOnce(t, p.addr("web"), "/queued")
	waited := time.Since(start)
	if r.status != 503 {
		t.Fatalf("queued request: %+v", r)
	}
	if waited < 300*time.Millisecond {
		t.Fatalf("503 after %v, before timeouts.queue", waited)
	}
	if r := <-slow; r.status != 200 {
		t.Fatalf("slow request: %+v", r)
	}
	var sq map[string]any
	for _, l := range p.logLines(t, 2) {
		if l["termination_state"] == "sQ" {
			sq = l
		}
	}
	if sq == nil || sq["status"] != float64(503) {
		t.Fatalf("no sQ line in the log: %v", p.logLines(t, 2))
	}
	for _, e := range ups["s1"].Events(t, "request") {
		if e.URI == "/queued" {
			t.Fatal("the timed-out request reached the server")
		}
	}
}

// TestQueue_BackendMaxConn: streams over the backend's maxconn are refused
// at once (SQ) instead of queueing.
func TestQueue_BackendMaxConn(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, backendConfig(`
    maxconn: 2
    timeouts: { connect: 1s, server: 5s, queue: 5s }
    servers:
      s1: { address: "{{s1}}", maxconn: 1 }
`), vars)
	be := p.Generation().Backend("app")
	var wg sync.WaitGroup
	two := make([]reply, 2)
	for i := range two {
		wg.Add(1)
		go func() { defer wg.Done(); two[i] = getOnce(t, p.addr("web"), "/delay/500ms") }()
	}
	testsupport.WaitFor(t, 5*time.Second, "one served, one queued", func() bool { return be.Cur() == 2 && be.Queued() == 1 })
	r := getOnce(t, p.addr("web"), "/over")
	if r.status != 503 {
		t.Fatalf("over backend maxconn: %+v", r)
	}
	wg.Wait()
	for _, r := range two {
		if r.status != 200 {
			t.Fatalf("admitted request: %+v", r)
		}
	}
	found := false
	for _, l := range p.logLines(t, 3) {
		found = found || l["termination_state"] == "SQ"
	}
	if !found {
		t.Fatal("no SQ line in the log")
	}
}

// TestQueue_TCPMode: TCP streams wait for a slot like HTTP streams.
func TestQueue_TCPMode(t *testing.T) {
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
    timeouts: { connect: 1s, server: 5s, tunnel: 5s, queue: 5s }
    servers:
      e1: { address: "{{up}}", maxconn: 1 }
`, map[string]string{"up": up.Addr})
	be := p.Generation().Backend("echo")
	c1, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	testsupport.WaitFor(t, 5*time.Second, "first tunnel", func() bool { return be.Servers[0].Cur.Load() == 1 })
	c2, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	testsupport.WaitFor(t, 5*time.Second, "second queued", func() bool { return be.Queued() == 1 })
	c1.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	c2.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := c2.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("after the slot freed: %q %v", buf, err)
	}
}
