package backend

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newLimited(t testing.TB, balance string, queue time.Duration, backendMax int, maxconn ...int) *Backend {
	t.Helper()
	spec := Spec{Name: "app", Balance: balance, MaxConn: backendMax, Redispatch: true, Timeouts: Timeouts{Connect: time.Second, Queue: queue}}
	for i, m := range maxconn {
		spec.Servers = append(spec.Servers, ServerSpec{Name: fmt.Sprintf("s%d", i+1), Weight: 1, MaxConn: m})
	}
	b, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// waitQueued waits until n streams wait in the backend's queues.
func waitQueued(t testing.TB, b *Backend, n int64) {
	t.Helper()
	for i := 0; b.Queued() != n; i++ {
		if i > 2000 {
			t.Fatalf("queued %d, want %d", b.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	id  int
	srv *Server
	err error
}

func TestBackend_QueueOrder(t *testing.T) {
	tests := []struct {
		name    string
		balance string
		key     func(i int) *Key
		queue   func(b *Backend) int64
	}{
		// roundrobin: every server full → the backend queue.
		{name: "backend queue", balance: "roundrobin", key: func(int) *Key { return &Key{} }, queue: (*Backend).QueueLen},
		// source: the hash designates s1 → its own queue.
		{name: "server queue", balance: "source", key: func(int) *Key { return &Key{Src: netip.MustParseAddr("10.1.1.1")} },
			queue: func(b *Backend) int64 { return b.Servers[0].QueueLen() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newLimited(t, tt.balance, 5*time.Second, 0, 1)
			var w Waiter
			first, err := b.Acquire(tt.key(0), &w, nil)
			if err != nil {
				t.Fatal(err)
			}
			results := make(chan result, 5)
			for i := 1; i <= 5; i++ {
				go func() {
					var w Waiter
					s, err := b.Acquire(tt.key(i), &w, nil)
					results <- result{i, s, err}
				}()
				waitQueued(t, b, int64(i)) // arrival order is launch order
			}
			if n := tt.queue(b); n != 5 {
				t.Fatalf("queue length %d, want 5", n)
			}
			held := first
			for want := 1; want <= 5; want++ {
				b.Release(held)
				r := <-results
				if r.err != nil || r.id != want {
					t.Fatalf("served %d (%v), want %d", r.id, r.err, want)
				}
				if c := r.srv.Cur.Load(); c != 1 {
					t.Fatalf("server has %d streams, maxconn 1", c)
				}
				held = r.srv
			}
			b.Release(held)
			if b.Cur() != 0 || b.Queued() != 0 {
				t.Fatalf("cur %d queued %d at the end", b.Cur(), b.Queued())
			}
		})
	}
}

// Arrival order holds across both queues: a slot goes to the oldest
// waiter, whether it waits for this server or for any server.
func TestBackend_QueueOrderAcrossQueues(t *testing.T) {
	b := newLimited(t, "roundrobin", 5*time.Second, 0, 1)
	s1 := b.Server("s1")
	var w Waiter
	held, _ := b.Acquire(&Key{}, &w, nil)
	results := make(chan result, 4)
	for i := 1; i <= 4; i++ {
		k := &Key{}
		if i%2 == 0 {
			k.Server = s1 // persistent: the server's queue
		}
		go func() {
			var w Waiter
			s, err := b.Acquire(k, &w, nil)
			results <- result{i, s, err}
		}()
		waitQueued(t, b, int64(i))
	}
	if b.QueueLen() != 2 || s1.QueueLen() != 2 {
		t.Fatalf("backend queue %d, server queue %d", b.QueueLen(), s1.QueueLen())
	}
	for want := 1; want <= 4; want++ {
		b.Release(held)
		r := <-results
		if r.id != want {
			t.Fatalf("served %d, want %d", r.id, want)
		}
		held = r.srv
	}
	b.Release(held)
}

func TestBackend_QueueTimeout(t *testing.T) {
	b := newLimited(t, "roundrobin", 100*time.Millisecond, 0, 1)
	var w Waiter
	held, _ := b.Acquire(&Key{}, &w, nil)
	start := time.Now()
	var w2 Waiter
	if _, err := b.Acquire(&Key{}, &w2, nil); !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("gave up after %v, before timeouts.queue", d)
	}
	if b.Queued() != 0 || b.Cur() != 1 {
		t.Fatalf("queued %d cur %d", b.Queued(), b.Cur())
	}
	// The waiter is reusable.
	go func() { time.Sleep(20 * time.Millisecond); b.Release(held) }()
	if s, err := b.Acquire(&Key{}, &w2, nil); err != nil || s.Name != "s1" {
		t.Fatalf("second wait: %v %v", s, err)
	}
}

func TestBackend_QueueCanceled(t *testing.T) {
	b := newLimited(t, "roundrobin", 5*time.Second, 0, 1)
	var w Waiter
	b.Acquire(&Key{}, &w, nil)
	cancel := make(chan struct{})
	w2 := Waiter{Cancel: cancel}
	done := make(chan error)
	go func() { _, err := b.Acquire(&Key{}, &w2, nil); done <- err }()
	waitQueued(t, b, 1)
	close(cancel)
	if err := <-done; !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v", err)
	}
}

func TestBackend_BackendMaxConn(t *testing.T) {
	b := newLimited(t, "roundrobin", 5*time.Second, 3, 1, 1)
	var ws [3]Waiter
	s1, _ := b.Acquire(&Key{}, &ws[0], nil)
	s2, _ := b.Acquire(&Key{}, &ws[1], nil)
	done := make(chan *Server)
	go func() { s, _ := b.Acquire(&Key{}, &ws[2], nil); done <- s }()
	waitQueued(t, b, 1)
	var w Waiter
	if _, err := b.Acquire(&Key{}, &w, nil); !errors.Is(err, ErrBackendFull) {
		t.Fatalf("over backend maxconn: %v", err)
	}
	b.Release(s1)
	s3 := <-done
	b.Release(s2)
	b.Release(s3)
	if b.Cur() != 0 {
		t.Fatalf("cur %d", b.Cur())
	}
}

// A server going into maint hands its queue back to the balancer (with
// redispatch); without redispatch the streams wait for it.
func TestBackend_QueueRedistributed(t *testing.T) {
	b := newLimited(t, "source", 5*time.Second, 0, 1, 1)
	k := &Key{Src: netip.MustParseAddr("10.9.9.9")}
	var w Waiter
	held, _ := b.Acquire(k, &w, nil)
	done := make(chan result, 1)
	go func() {
		var w Waiter
		s, err := b.Acquire(k, &w, nil)
		done <- result{0, s, err}
	}()
	waitQueued(t, b, 1)
	b.SetState(held, StateMaint)
	r := <-done
	if r.err != nil || r.srv == held {
		t.Fatalf("redistributed to %v (%v)", r.srv, r.err)
	}
	b.Release(r.srv)
	b.Release(held)
}

// TestBackend_QueueHammer runs many streams through small servers while
// states flip, and checks that maxconn is never exceeded and that every
// counter returns to zero.
func TestBackend_QueueHammer(t *testing.T) {
	for _, bal := range []string{"roundrobin", "leastconn", "first", "random", "source", "static-rr"} {
		t.Run(bal, func(t *testing.T) {
			b := newLimited(t, bal, 2*time.Second, 0, 2, 3, 1)
			var inUse [3]atomic.Int64
			var over atomic.Bool
			var served, failed atomic.Int64
			var wg sync.WaitGroup
			for g := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var w Waiter
					for i := range 60 {
						k := &Key{Src: netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)})}
						s, err := b.Acquire(k, &w, nil)
						if err != nil {
							failed.Add(1)
							continue
						}
						if n := inUse[s.Index].Add(1); n > int64(s.MaxConn) {
							over.Store(true)
						}
						if rand.IntN(4) == 0 {
							time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
						}
						inUse[s.Index].Add(-1)
						b.Release(s)
						served.Add(1)
					}
				}()
			}
			stop := make(chan struct{})
			flipped := make(chan struct{})
			go func() {
				defer close(flipped)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					s := b.Servers[i%3]
					b.SetState(s, State(i%3))
					time.Sleep(time.Millisecond)
					b.SetState(s, StateReady)
				}
			}()
			wg.Wait()
			close(stop)
			<-flipped
			if over.Load() {
				t.Fatal("a server exceeded its maxconn")
			}
			for _, s := range b.Servers {
				if s.Cur.Load() != 0 || s.QueueLen() != 0 || s.MaxCur.Load() > int64(s.MaxConn) {
					t.Fatalf("%s: cur %d queue %d max %d", s.Name, s.Cur.Load(), s.QueueLen(), s.MaxCur.Load())
				}
			}
			if b.Cur() != 0 || b.Queued() != 0 || b.QueueLen() != 0 {
				t.Fatalf("backend cur %d queued %d", b.Cur(), b.Queued())
			}
			if served.Load()+failed.Load() != 24*60 || served.Load() == 0 {
				t.Fatalf("served %d failed %d", served.Load(), failed.Load())
			}
		})
	}
}
