package plugins

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Guests spinning on every P at once, in loops and in loop-free
// recursion, all stop at their call_timeout with ErrTimeout: the check
// runs on each calling goroutine, so nothing has to be scheduled beside
// them. A GC forced meanwhile completes (the guests reach Go at each
// check), and the plugin serves again afterwards.
func TestDeadline_SpinnersOnEveryP(t *testing.T) {
	e := newEnv(t)
	procs := runtime.GOMAXPROCS(0)
	n := 2 * procs // a loop and a recursion per P
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), CallTimeout: 200 * time.Millisecond,
		InstancesMin: n, InstancesMax: n, OnError: FailClosed, Quarantine: Quarantine{Failures: 1000}})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		fn := "spin"
		if i%2 == 1 {
			fn = "recurse"
		}
		wg.Go(func() {
			<-start
			if _, ok := e.eval(t, fn, httpCtx()); ok {
				t.Errorf("%s gave a sample", fn)
			}
		})
	}
	gcDone := make(chan struct{})
	close(start)
	go func() {
		time.Sleep(50 * time.Millisecond) // the guests are spinning by now, or soon
		runtime.GC()
		close(gcDone)
	}()
	wg.Wait()
	<-gcDone
	if s := p.Stats(); s.Timeouts != uint64(n) || s.Traps != 0 {
		t.Fatalf("%d guests: timeouts %d traps %d\n%s", n, s.Timeouts, s.Traps, e.logs.String())
	}
	e.failMu.Lock()
	failed := append([]error(nil), e.failed...)
	e.failMu.Unlock()
	if len(failed) != n {
		t.Fatalf("%d failures reported, want %d: %v", len(failed), n, failed)
	}
	for _, err := range failed {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("failure %v, want ErrTimeout", err)
		}
	}
	if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
		t.Fatal("no service after the timeouts")
	}
}

// A deadline that passes while the call makes host calls is caught too,
// and a call that ends in time is not taken for a timeout afterwards: the
// counter the guest decrements carries over between calls, but the
// deadline does not.
func TestDeadline_OnlyTheRunningCall(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), CallTimeout: time.Minute, InstancesMax: 1})
	for range 2000 {
		if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
			t.Fatalf("ok failed: %+v\n%s", p.Stats(), e.logs.String())
		}
	}
	if s := p.Stats(); s.Timeouts != 0 || s.Created != 1 {
		t.Fatalf("timeouts %d, instances created %d", s.Timeouts, s.Created)
	}
}
