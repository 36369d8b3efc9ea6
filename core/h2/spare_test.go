package h2

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutineID is the id runtime.Stack prints for the calling goroutine.
func goroutineID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	return strings.Fields(string(buf[:n]))[1] // "goroutine N [running]:"
}

// waitSpares waits until c has n spare handler goroutines.
func waitSpares(t *testing.T, c *Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := c.spares
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spare handlers, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConn_SpareHandlers: the goroutine of a handler that returned runs
// the next new stream; once no stream is live (for spareLinger), it ends,
// so an idle connection holds no goroutine.
func TestConn_SpareHandlers(t *testing.T) {
	release := make(chan struct{})
	ids := make(chan string, 2)
	ts := startServer(t, Config{}, func(s *Stream) {
		if s.Request().Path == "/hold" {
			<-release
		} else {
			ids <- goroutineID()
		}
		okHandler(s)
	}, false)
	rc := dialRaw(t, ts.addr)
	rc.headers(1, get("/hold"), true) // keeps the connection busy
	rc.headers(3, get("/"), true)
	rc.next(endOf(t, 3))
	ts.mu.Lock()
	c := ts.conns[0]
	ts.mu.Unlock()
	waitSpares(t, c, 1)
	rc.headers(5, get("/"), true)
	rc.next(endOf(t, 5))
	if first, second := <-ids, <-ids; first != second {
		t.Fatalf("stream 5 ran on goroutine %s, not on the spare %s", second, first)
	}
	waitSpares(t, c, 1)
	close(release)
	rc.next(endOf(t, 1))
	waitSpares(t, c, 0)
	if n := c.ActiveStreams(); n != 0 {
		t.Fatalf("ActiveStreams = %d after every stream ended", n)
	}
}
