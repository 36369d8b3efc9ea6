package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestShutdown_InFlightFinish: streams in flight and in the queue finish
// within the grace period; idle connections close at once; nothing new is
// accepted.
func TestShutdown_InFlightFinish(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 5s, queue: 5s }
    servers:
      s1: { address: "{{s1}}", maxconn: 1 }
`), vars)
	be := p.Generation().Backend("app")
	idle := dial(t, p.addr("web"), "")
	idle.get(t, "/")
	var wg sync.WaitGroup
	replies := make([]reply, 2)
	for i := range replies {
		wg.Add(1)
		go func() { defer wg.Done(); replies[i] = getOnce(t, p.addr("web"), "/delay/400ms") }()
	}
	testsupport.WaitFor(t, 5*time.Second, "one stream served, one queued", func() bool { return be.Cur() == 2 && be.Queued() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error)
	go func() { done <- p.Shutdown(ctx) }()
	testsupport.WaitFor(t, 5*time.Second, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", p.addr("web"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	idle.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.br.ReadByte(); err == nil {
		t.Fatal("the idle keep-alive connection stayed open")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	for i, r := range replies {
		if r.status != 200 {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
}

// TestShutdown_GraceOver: when the grace period ends, streams still
// running or queued are ended and logged as killed.
func TestShutdown_GraceOver(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 10s, queue: 10s }
    servers:
      s1: { address: "{{s1}}", maxconn: 1 }
`), vars)
	be := p.Generation().Backend("app")
	var wg sync.WaitGroup
	replies := make([]reply, 2)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.addr("web"))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			replies[i] = (&client{c: c, br: newReader(c)}).do("GET", "/delay/5s")
		}()
		testsupport.WaitFor(t, 5*time.Second, "streams admitted", func() bool { return be.Cur() == int64(i+1) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v after a grace of 300ms", d)
	}
	wg.Wait()
	states := map[string]bool{}
	for _, l := range p.logLines(t, 2) {
		states[l["termination_state"].(string)] = true
	}
	// The queued stream is killed in the queue, or, when the slot the
	// closed stream gave back reached it first, before it could connect.
	if !states["KH"] || !(states["KQ"] || states["KC"]) {
		t.Fatalf("termination states %v, want KH (in flight) and KQ or KC (queued)", states)
	}
	// The queued stream may get its 503 before its connection closes, or
	// not; neither stream may have finished.
	for _, r := range replies {
		if r.status == 200 {
			t.Fatalf("a stream finished: %+v", r)
		}
	}
}
