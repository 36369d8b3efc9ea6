//go:build linux

package park

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pair returns both ends of a TCP connection on 127.0.0.1: the one to
// park (as a proxy's accepted client connection) and the peer.
func pair(t testing.TB, ln *net.TCPListener) (parked *net.TCPConn, peer net.Conn) {
	t.Helper()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	parked, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parked.Close(); peer.Close() })
	return parked, peer
}

func listen(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func newWatcher(t testing.TB) *Watcher {
	t.Helper()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// wakes collects the errors wake functions are called with.
func wakes() (func(error), chan error) {
	ch := make(chan error, 16)
	return func(err error) { ch <- err }, ch
}

func recv(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no wake in 10s")
		return nil
	}
}

func rawConn(t testing.TB, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestWatcher_WakesWhenReadable(t *testing.T) {
	w := newWatcher(t)
	c, peer := pair(t, listen(t))
	var s Slot
	wake, ch := wakes()
	if err := w.Park(&s, rawConn(t, c), time.Time{}, wake); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, ch); err != nil {
		t.Fatalf("woken with %v, want nil (readable)", err)
	}
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "GET" {
		t.Fatalf("read after wake: %q, %v", buf[:n], err)
	}
	if w.Wake(&s, net.ErrClosed) {
		t.Fatal("Wake reported a slot parked after its wake ran")
	}

	// The slot parks again: the descriptor left the epoll set.
	if err := w.Park(&s, rawConn(t, c), time.Time{}, wake); err != nil {
		t.Fatalf("second park: %v", err)
	}
	peer.Close()
	if err := recv(t, ch); err != nil {
		t.Fatalf("woken with %v, want nil (end of stream)", err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want EOF", n, err)
	}
}

func TestWatcher_BytesAlreadyThere(t *testing.T) {
	w := newWatcher(t)
	c, peer := pair(t, listen(t))
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Let the byte arrive before parking: the registration must report
	// it, not wait for more.
	rc := rawConn(t, c)
	for {
		var n int
		rc.Control(func(fd uintptr) { n = peekable(fd) })
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var s Slot
	wake, ch := wakes()
	if err := w.Park(&s, rc, time.Time{}, wake); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, ch); err != nil {
		t.Fatalf("woken with %v, want nil", err)
	}
}

func TestWatcher_Deadlines(t *testing.T) {
	w := newWatcher(t)
	ln := listen(t)
	// Three deadlines out of order and one slot without deadline: each
	// with a deadline is woken by it; the other stays parked.
	offsets := []time.Duration{300 * time.Millisecond, 50 * time.Millisecond, 150 * time.Millisecond}
	now := time.Now()
	slots := make([]Slot, len(offsets)+1)
	chans := make([]chan error, len(slots))
	for i := range slots {
		c, _ := pair(t, ln)
		var d time.Time
		if i < len(offsets) {
			d = now.Add(offsets[i])
		}
		var wake func(error)
		wake, chans[i] = wakes()
		if err := w.Park(&slots[i], rawConn(t, c), d, wake); err != nil {
			t.Fatal(err)
		}
	}
	for i := range offsets {
		if err := recv(t, chans[i]); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("slot %d woken with %v, want a deadline error", i, err)
		}
		if time.Now().Before(now.Add(offsets[i])) {
			t.Fatalf("slot %d woken before its deadline", i)
		}
	}
	select {
	case err := <-chans[len(offsets)]:
		t.Fatalf("slot without deadline woken with %v", err)
	default:
	}
	if !w.Wake(&slots[len(offsets)], net.ErrClosed) {
		t.Fatal("the slot without deadline is not parked")
	}
	if err := recv(t, chans[len(offsets)]); err != net.ErrClosed {
		t.Fatalf("woken with %v, want the error given to Wake", err)
	}
}

func TestWatcher_WakeThenClose(t *testing.T) {
	w := newWatcher(t)
	c, _ := pair(t, listen(t))
	var s Slot
	wake, ch := wakes()
	if err := w.Park(&s, rawConn(t, c), time.Now().Add(time.Hour), wake); err != nil {
		t.Fatal(err)
	}
	if !w.Wake(&s, net.ErrClosed) {
		t.Fatal("Wake: not parked")
	}
	c.Close()
	if err := recv(t, ch); err != net.ErrClosed {
		t.Fatalf("woken with %v", err)
	}
	if w.Wake(&s, net.ErrClosed) {
		t.Fatal("second Wake found the slot parked")
	}
	// A closed descriptor cannot be parked: the caller keeps it.
	if err := w.Park(&s, rawConn(t, c), time.Time{}, wake); err == nil {
		t.Fatal("parked a closed connection")
	}
}

func TestWatcher_Close(t *testing.T) {
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := pair(t, listen(t))
	var s Slot
	wake, ch := wakes()
	if err := w.Park(&s, rawConn(t, c), time.Time{}, wake); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, ch); err != ErrClosed {
		t.Fatalf("woken with %v, want ErrClosed", err)
	}
	if err := w.Park(&s, rawConn(t, c), time.Time{}, wake); err != ErrClosed {
		t.Fatalf("Park after Close: %v", err)
	}
}

// TestWatcher_Hammer parks and wakes many connections from many goroutines
// at once, by bytes, deadlines and Wake, and checks that every successful
// Park is followed by exactly one wake (run it with -race).
func TestWatcher_Hammer(t *testing.T) {
	w := newWatcher(t)
	ln := listen(t)
	const conns, rounds = 32, 40
	var parks, woken atomic.Int64
	var wg sync.WaitGroup
	for i := range conns {
		c, peer := pair(t, ln)
		rc := rawConn(t, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Slot
			got := make(chan error, 1)
			wake := func(err error) { woken.Add(1); got <- err }
			buf := make([]byte, 16)
			for r := range rounds {
				var d time.Time
				if (i+r)%3 == 1 {
					d = time.Now().Add(time.Duration(r%5) * time.Millisecond)
				}
				if err := w.Park(&s, rc, d, wake); err != nil {
					t.Errorf("park: %v", err)
					return
				}
				parks.Add(1)
				switch (i + r) % 3 {
				case 0:
					peer.Write([]byte{'x'})
				case 2:
					w.Wake(&s, net.ErrClosed)
				}
				var err error
				select {
				case err = <-got:
				case <-time.After(10 * time.Second):
					t.Errorf("conn %d round %d: no wake", i, r)
					return
				}
				if err == nil {
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := c.Read(buf); err != nil {
						t.Errorf("read after wake: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if parks.Load() != woken.Load() {
		t.Fatalf("%d parks, %d wakes", parks.Load(), woken.Load())
	}
	// A late duplicate wake would show up here.
	time.Sleep(50 * time.Millisecond)
	if parks.Load() != woken.Load() {
		t.Fatalf("%d parks, %d wakes after a pause", parks.Load(), woken.Load())
	}
}

// peekable returns how many bytes fd has to read, without reading them.
func peekable(fd uintptr) int {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err != nil {
		return 0
	}
	return n
}

// BenchmarkWatcher_ParkWake: one park, the peer's byte, the wake in a new
// goroutine and the read of the byte: what an idle connection pays to give
// up its goroutine and get one back (to compare with a blocking read's
// wait, which costs none of the epoll_ctl calls and no goroutine).
func BenchmarkWatcher_ParkWake(b *testing.B) {
	w := newWatcher(b)
	c, peer := pair(b, listen(b))
	rc := rawConn(b, c)
	var s Slot
	woken := make(chan error, 1)
	wake := func(err error) { woken <- err }
	one := []byte{'x'}
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Park(&s, rc, time.Time{}, wake); err != nil {
			b.Fatal(err)
		}
		peer.Write(one)
		if err := <-woken; err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockingWake is BenchmarkWatcher_ParkWake's reference: the same
// exchange with the goroutine blocked in Read.
func BenchmarkBlockingWake(b *testing.B) {
	c, peer := pair(b, listen(b))
	one := []byte{'x'}
	buf := make([]byte, 1)
	got := make(chan struct{})
	go func() {
		for {
			if _, err := c.Read(buf); err != nil {
				close(got)
				return
			}
			got <- struct{}{}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		peer.Write(one)
		<-got
	}
	c.Close()
}
