package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/stream"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// idleConfig is basicConfig with an http_keep_alive long enough that a
// connection parks (after parkAfter) well before it times out.
const idleConfig = `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: {{keep_alive}} }
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { connect: 1s, server: 5s }
    servers:
      s1: { address: "{{up}}" }
`

func startIdleProxy(t *testing.T, keepAlive string) *testProxy {
	t.Helper()
	up := startUpstream(t)
	return startProxy(t, idleConfig, map[string]string{"up": up.Addr, "keep_alive": keepAlive})
}

// waitParked waits until n connections of p are parked on the watcher.
func waitParked(t *testing.T, p *testProxy, n int64) {
	t.Helper()
	testsupport.WaitFor(t, 5*time.Second, "parked connections", func() bool { return p.Parked.Load() == n })
}

// TestIdle_ParkAndResume: a keep-alive connection idle past parkAfter
// gives up its goroutine, and its next request is served on the same
// session, again and again; when the client closes a parked connection,
// the session ends and its slot is given back.
func TestIdle_ParkAndResume(t *testing.T) {
	p := startIdleProxy(t, "30s")
	cl := dial(t, p.addr("web"), "")
	for i := range 3 {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
		waitParked(t, p, 1)
	}
	st := frontendStats(p, "web")
	if st.Sessions != 1 || st.Streams != 3 || st.CurSessions != 1 {
		t.Fatalf("sessions %d streams %d current %d, want 3 streams on 1 open session", st.Sessions, st.Streams, st.CurSessions)
	}
	adm := startAdminAPI(t, p)
	if got := metric(t, adm, "strata_parked_connections"); got != 1 {
		t.Errorf("strata_parked_connections = %v, want 1", got)
	}
	if got := metric(t, adm, "strata_parks_total"); got != 3 {
		t.Errorf("strata_parks_total = %v, want 3 (one per idle period)", got)
	}
	cl.c.Close()
	waitParked(t, p, 0)
	testsupport.WaitFor(t, 5*time.Second, "the session of the closed connection ended", func() bool {
		return frontendStats(p, "web").CurSessions == 0
	})
}

// TestIdle_RequestWhileParking: a request that arrives while the connection parks
// (between the wait's timeout and the registration) is served: the
// watcher reports bytes already there.
func TestIdle_RequestWhileParking(t *testing.T) {
	p := startIdleProxy(t, "30s")
	cl := dial(t, p.addr("web"), "")
	for i := range 20 {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
		// Sleep about parkAfter, so that some requests land while the
		// connection is being parked.
		time.Sleep(stream.ParkAfter - 10*time.Millisecond + time.Duration(i)*time.Millisecond)
	}
	if st := frontendStats(p, "web"); st.Sessions != 1 || st.Streams != 20 {
		t.Fatalf("sessions %d streams %d, want 20 streams on 1 session", st.Sessions, st.Streams)
	}
}

// TestIdle_Hammer: many connections whose requests come just before, at
// and after parkAfter, at once, park and resume concurrently (run it with
// -race): every request is answered on its own connection.
func TestIdle_Hammer(t *testing.T) {
	p := startIdleProxy(t, "30s")
	const conns, requests = 20, 10
	var wg sync.WaitGroup
	for i := range conns {
		cl := dial(t, p.addr("web"), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range requests {
				if got := cl.do("GET", "/"); got.err != nil || got.status != 200 {
					t.Errorf("connection %d request %d: %d %v", i, r, got.status, got.err)
					return
				}
				time.Sleep(stream.ParkAfter * time.Duration((i+r)%4) / 2) // 0, ½, 1, 1½ parkAfter
			}
		}()
	}
	wg.Wait()
	if st := frontendStats(p, "web"); st.Sessions != conns || st.Streams != conns*requests {
		t.Fatalf("sessions %d streams %d, want %d streams on %d sessions", st.Sessions, st.Streams, conns*requests, conns)
	}
	if p.Parks.Load() == 0 {
		t.Fatal("no connection parked")
	}
}

// TestIdle_ParkRefused: a connection closed between the decision to park
// and the registration (graceful stop closing it meanwhile) is refused by
// the watcher and ends in a new goroutine, its session and counters
// settled.
func TestIdle_ParkRefused(t *testing.T) {
	p := startIdleProxy(t, "30s")
	refused := make(chan struct{})
	stream.TestHookPark = func(client io.Closer) {
		client.Close()
		stream.TestHookPark = nil // the conn goroutine is the only caller until then
		close(refused)
	}
	defer func() { stream.TestHookPark = nil }()
	cl := dial(t, p.addr("web"), "")
	if r := cl.get(t, "/"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	select {
	case <-refused:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection was not parked in 10s")
	}
	expectEOF(t, cl, 0)
	testsupport.WaitFor(t, 5*time.Second, "the session ended", func() bool { return frontendStats(p, "web").CurSessions == 0 })
	if n, parks := p.Parked.Load(), p.Parks.Load(); n != 0 || parks != 0 {
		t.Fatalf("parked %d, parks %d after a refused park; want 0 and 0", n, parks)
	}
}

// TestIdle_KeepAliveTimeoutWhileParked: http_keep_alive still closes a
// parked connection, not before it expires, and the session ends.
func TestIdle_KeepAliveTimeoutWhileParked(t *testing.T) {
	p := startIdleProxy(t, "1s")
	cl := dial(t, p.addr("web"), "")
	if r := cl.get(t, "/"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	start := time.Now()
	waitParked(t, p, 1)
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before http_keep_alive (1s)", d)
	}
	waitParked(t, p, 0)
	testsupport.WaitFor(t, 5*time.Second, "the session ended", func() bool { return frontendStats(p, "web").CurSessions == 0 })
}

// TestIdle_ShutdownClosesParked: graceful stop closes parked connections
// at once and returns without waiting for their keep-alive timeout.
func TestIdle_ShutdownClosesParked(t *testing.T) {
	p := startIdleProxy(t, "30s")
	cls := parkTwo(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v, want nil (nothing in flight)", err)
	}
	for i, cl := range cls {
		expectEOF(t, cl, i)
	}
	if n := p.Parked.Load(); n != 0 {
		t.Fatalf("%d connections still parked after Shutdown", n)
	}
}

// TestIdle_ShutdownLingerParked: while an upgrade's idle linger keeps
// parked connections open, one that sends a request is served (and then
// closed); the one still parked when the grace period ends is closed by
// it.
func TestIdle_ShutdownLingerParked(t *testing.T) {
	p := startIdleProxy(t, "30s")
	cls := parkTwo(t, p)
	p.SetIdleLinger(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Shutdown(ctx) }()
	testsupport.WaitFor(t, 5*time.Second, "draining", func() bool { return p.Draining.Load() })
	if r := cls[0].get(t, "/"); r.status != 200 {
		t.Fatalf("request on a parked connection while draining: status %d", r.status)
	}
	expectEOF(t, cls[0], 0)
	if err := <-stopped; err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v, want the grace period's end (a connection lingered)", err)
	}
	expectEOF(t, cls[1], 1)
	if n := p.Parked.Load(); n != 0 {
		t.Fatalf("%d connections still parked after Shutdown", n)
	}
}

// parkTwo opens two connections to p, makes a request on each and waits
// until both are parked.
func parkTwo(t *testing.T, p *testProxy) []*client {
	t.Helper()
	cls := []*client{dial(t, p.addr("web"), ""), dial(t, p.addr("web"), "")}
	for _, cl := range cls {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	waitParked(t, p, 2)
	return cls
}

// expectEOF reads from cl (bounded) and fails unless the proxy closed it.
func expectEOF(t *testing.T, cl *client, i int) {
	t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.br.ReadByte(); err != io.EOF {
		t.Fatalf("connection %d: %v, want EOF", i, err)
	}
}

// TestIdle_ReloadWhileParked: a parked connection moves to the new
// configuration at its next request, and the old generation closes once
// it has moved.
func TestIdle_ReloadWhileParked(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p, g1 := startReloadProxy(t, vars)
	ka := genDial(t, p.Addrs("web")[0])
	if got := ka.get(t); got != "1" {
		t.Fatalf("x-gen %q before the reload", got)
	}
	testsupport.WaitFor(t, 5*time.Second, "parked", func() bool { return p.Parked.Load() == 1 })
	if _, err := p.Reload(reloadConfig("2", vars, ""), generation.BuildOptions{}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := ka.get(t); got != "2" {
		t.Fatalf("parked connection after the reload: x-gen %q, want 2", got)
	}
	testsupport.WaitFor(t, 5*time.Second, "the old generation closed", func() bool { return g1.Life.Refs.Load() == 0 })
}

// TestIdle_MaxConnCountsParked: a parked connection keeps its maxconn
// slot: the next connection waits until it closes.
func TestIdle_MaxConnCountsParked(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, maxconnConfig, map[string]string{"up": up.Addr, "global": "", "web": "    maxconn: 1"})
	web := p.addr("web")
	first := dial(t, web, "")
	if r := first.get(t, "/"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	waitParked(t, p, 1)
	second := sendGet(t, web)
	waitAcceptQueue(t, web, 1)
	first.c.Close()
	if code := readAnswer(t, second); code != 200 {
		t.Fatalf("the second connection: status %d", code)
	}
}

// TestIdle_ParkTLS: an idle TLS connection parks too (crypto/tls holds no
// unread bytes between requests) and resumes with its TLS state intact.
func TestIdle_ParkTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t, dir, "ca")
	site := ca.Issue(t, "site", testsupport.CN("a.test"), false, "a.test")
	up := startUpstream(t)
	p := startProxy(t, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 10s, http_keep_alive: 30s }
    tls:
      certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
      alpn: [http/1.1]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"cert": site.Cert, "key": site.Key, "up": up.Addr})
	c, err := tls.Dial("tcp", p.addr("web"), &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{c: c, br: newReader(c)}
	for i := range 3 {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
		waitParked(t, p, 1)
	}
	if st := frontendStats(p, "web"); st.Sessions != 1 || st.Streams != 3 {
		t.Fatalf("sessions %d streams %d, want 3 streams on 1 session", st.Sessions, st.Streams)
	}
}
