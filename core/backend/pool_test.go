package backend

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// poolServer is a listener on 127.0.0.1 whose accepted connections the
// test holds, to close them as a server would.
func poolServer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			conns <- c
		}
	}()
	return ln.Addr().String(), conns
}

func newPoolBackend(t *testing.T, addr string, ka time.Duration, poolMax int) *Backend {
	t.Helper()
	b, err := New(Spec{Name: "b", HTTP: true, Timeouts: Timeouts{Connect: time.Second, Server: time.Second, HTTPKeepAlive: ka},
		Servers: []ServerSpec{{Name: "s", Addr: addr, Weight: 1, PoolMaxConn: poolMax}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestServer_GetSkipsClosed: Get never hands out a pooled connection the
// server has closed (FIN) or written to unasked; an open, quiet one is
// reused.
func TestServer_GetSkipsClosed(t *testing.T) {
	addr, accepted := poolServer(t)
	b := newPoolBackend(t, addr, time.Minute, 0)
	s := b.Servers[0]
	dial := func() (*ServerConn, net.Conn) {
		sc, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		return sc, <-accepted
	}
	quiet, _ := dial()
	closed, closedPeer := dial()
	chatty, chattyPeer := dial()
	now := time.Now()
	s.Put(quiet, now)
	s.Put(closed, now)
	s.Put(chatty, now) // LIFO: Get looks at chatty, then closed, then quiet
	closedPeer.Close()
	chattyPeer.Write([]byte("HTTP/1.1 200 OK\r\n"))
	// The peer's FIN and bytes are on strata's side once it can read them.
	testsupport.WaitFor(t, 10*time.Second, "the server's close seen", func() bool { return !closed.Idle() && !chatty.Idle() })
	if got := s.Get(time.Now()); got != quiet || !got.Reused {
		t.Fatalf("Get returned %p (reused %v), want the quiet connection %p", got, got != nil && got.Reused, quiet)
	}
	if n := s.IdleCount(); n != 0 {
		t.Fatalf("%d idle connections left, want 0", n)
	}
	quiet.Close()
}

// TestServer_ReapIdle: the backend's sweep closes pooled connections the
// server closed, and those idle past http_keep_alive, without a Get; the
// server sees strata's close of the expired one.
func TestServer_ReapIdle(t *testing.T) {
	addr, accepted := poolServer(t)
	b := newPoolBackend(t, addr, 300*time.Millisecond, 0)
	b.Start()
	s := b.Servers[0]
	sc1, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	peer1 := <-accepted
	sc2, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	peer2 := <-accepted
	s.Put(sc1, time.Now())
	s.Put(sc2, time.Now())
	peer1.Close() // the server closes one; the other expires
	testsupport.WaitFor(t, 10*time.Second, "both connections reaped", func() bool { return s.IdleCount() == 0 })
	if n := s.Reaped.Load(); n != 2 {
		t.Fatalf("%d connections reaped, want 2", n)
	}
	peer2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := peer2.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the server read %d bytes, %v; want strata's close", n, err)
	}
}

// TestServer_PoolMaxConn: Put keeps at most PoolMaxConn connections; a
// negative spec keeps none; a closed backend keeps none.
func TestServer_PoolMaxConn(t *testing.T) {
	addr, accepted := poolServer(t)
	for _, tt := range []struct{ spec, keep int }{{2, 2}, {-1, 0}, {0, DefaultPoolMaxConn}} {
		b := newPoolBackend(t, addr, time.Minute, tt.spec)
		s := b.Servers[0]
		for range 3 {
			sc, err := s.Dial()
			if err != nil {
				t.Fatal(err)
			}
			<-accepted
			s.Put(sc, time.Now())
		}
		if n := s.IdleCount(); n != min(tt.keep, 3) {
			t.Fatalf("pool_max_conn %d: %d idle, want %d", tt.spec, n, min(tt.keep, 3))
		}
		b.Close()
		sc, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		<-accepted
		s.Put(sc, time.Now())
		if n := s.IdleCount(); n != 0 {
			t.Fatalf("a closed backend pooled %d connections", n)
		}
	}
}

// TestServer_PutRacesClose: connections given back while the backend
// closes, or while the server goes to maint, are all closed in the end:
// none is pooled after the pool was emptied for the last time (its
// descriptor would stay open with no sweep to close it). Each server-side
// peer reads strata's close, and the pool is empty.
func TestServer_PutRacesClose(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(b *Backend)
	}{
		{"backend closed", func(b *Backend) { b.Close() }},
		{"server in maint", func(b *Backend) { b.Servers[0].SetState(StateMaint) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 5 {
				putRacesStop(t, round, tt.stop)
			}
		})
	}
}

// putRacesStop dials connections, then gives them back from several
// goroutines at once while stop runs, and checks every one is closed.
func putRacesStop(t *testing.T, round int, stop func(b *Backend)) {
	addr, accepted := poolServer(t)
	b := newPoolBackend(t, addr, time.Minute, 0)
	b.Start()
	s := b.Servers[0]
	const workers, perWorker = 8, 16
	conns := make([][]*ServerConn, workers)
	var peers []net.Conn
	for w := range conns {
		for range perWorker {
			sc, err := s.Dial()
			if err != nil {
				t.Fatal(err)
			}
			conns[w] = append(conns[w], sc)
			peers = append(peers, <-accepted)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, mine := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, sc := range mine {
				s.Put(sc, time.Now())
			}
		}()
	}
	close(start)
	stop(b) // while the goroutines give their connections back
	wg.Wait()
	if n := s.IdleCount(); n != 0 {
		t.Fatalf("round %d: %d connections pooled after the pool was emptied", round, n)
	}
	for i, peer := range peers {
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if k, err := peer.Read(make([]byte, 1)); k != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("round %d, connection %d: the server read %d bytes, %v; want strata's close", round, i, k, err)
		}
	}
}

// TestServer_ReapRacesGet: a sweep runs without the pool's lock while
// streams take connections, use them and give them back. A connection a
// stream took after the sweep copied the pool is the stream's: its peek
// may see the server's response arriving, yet the sweep never closes it,
// nor removes it from the pool once given back. Every exchange succeeds
// and the sweeps close nothing, since every pooled connection is quiet.
func TestServer_ReapRacesGet(t *testing.T) {
	addr, accepted := poolServer(t)
	b := newPoolBackend(t, addr, time.Minute, 0)
	s := b.Servers[0]
	go func() { // the server answers each byte with one byte
		for c := range accepted {
			go func() {
				buf := make([]byte, 1)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()

	done := make(chan struct{})
	var reaped atomic.Int64
	var sweeps sync.WaitGroup
	sweeps.Add(1)
	go func() {
		defer sweeps.Done()
		w := newSweep()
		for {
			select {
			case <-done:
				return
			default:
				reaped.Add(int64(s.reapIdle(time.Now(), w)))
			}
		}
	}()

	const workers, exchanges = 4, 300
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for i := range exchanges {
				sc := s.Get(time.Now())
				if sc == nil {
					var err error
					if sc, err = s.Dial(); err != nil {
						t.Error(err)
						return
					}
				}
				sc.TCP.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := sc.TCP.Write([]byte{'x'}); err != nil {
					t.Errorf("exchange %d: write: %v", i, err)
					return
				}
				if _, err := io.ReadFull(sc.TCP, buf); err != nil {
					t.Errorf("exchange %d: read: %v", i, err)
					return
				}
				s.Put(sc, time.Now())
			}
		}()
	}
	wg.Wait()
	close(done)
	sweeps.Wait()
	if n := reaped.Load(); n != 0 {
		t.Fatalf("the sweeps closed %d connections, want 0: every pooled one was quiet", n)
	}
	if n := s.IdleCount(); n < 1 || n > workers {
		t.Fatalf("%d idle connections, want 1 to %d", n, workers)
	}
}
