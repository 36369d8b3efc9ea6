package transport

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// tcpClose is Linux's TCP_CLOSE, the state of a socket a reset ended.
const tcpClose = 7

// tcpState returns the TCP state of c's socket (the first byte of
// TCP_INFO, tcpi_state) without touching its pending error, which
// ResetByPeer reads.
func tcpState(t *testing.T, c *Conn) int {
	t.Helper()
	var v int
	var gerr error
	if err := c.rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v & 0xff
}

// waitUntil polls cond for up to 10s (what the peer did reaches the
// socket after a while) and fails the test if it never holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("waited 10s for %s", what)
}

// TestConn_ResetByPeer: a request written to a connection whose server
// closed it without reading it is recognised as such from the error the
// read gives, whatever order the FIN and the reset came in; a server
// that read the request and then closed is not taken for one that did
// not.
func TestConn_ResetByPeer(t *testing.T) {
	const req = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	for _, tt := range []struct {
		name string
		// peer does what the server does to its socket and returns once
		// the request was written; c's side sees the outcome after a
		// while.
		peer  func(t *testing.T, c *Conn, peer *net.TCPConn)
		reset bool
	}{
		{"FIN, then the request draws a reset", func(t *testing.T, c *Conn, peer *net.TCPConn) {
			// The server closed the idle connection; its FIN reached c
			// before the request went out (CLOSE-WAIT), so the reset
			// the request draws is recorded as EPIPE.
			peer.Close()
			waitUntil(t, "the FIN", func() bool { return !c.Idle() })
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatalf("write after the FIN: %v", err)
			}
			waitUntil(t, "the reset", func() bool { return tcpState(t, c) == tcpClose })
		}, true},
		{"reset with the request unread", func(t *testing.T, c *Conn, peer *net.TCPConn) {
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			pc, err := NewConn(peer)
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the request at the server", func() bool { return !pc.Idle() })
			peer.SetLinger(0)
			peer.Close()
		}, true},
		{"FIN, then the request reaches a server still reading", func(t *testing.T, c *Conn, peer *net.TCPConn) {
			// A half-close: the server may still read the request and
			// act on it, and its kernel acknowledges it. Nothing says
			// it was not processed.
			peer.CloseWrite()
			waitUntil(t, "the FIN", func() bool { return !c.Idle() })
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the request acknowledged", func() bool {
				n := -1
				c.rc.Control(func(fd uintptr) { n = outQueue(fd) })
				return n == 0
			})
		}, false},
		{"FIN, then the request reaches a server still reading, asked at once", func(t *testing.T, c *Conn, peer *net.TCPConn) {
			// As above, but ResetByPeer is asked as soon as the request
			// is written, as the engine does on the end of the stream:
			// the acknowledgement may still be on its way, and that
			// must not pass for a reset.
			peer.CloseWrite()
			waitUntil(t, "the FIN", func() bool { return !c.Idle() })
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"request read, then FIN", func(t *testing.T, c *Conn, peer *net.TCPConn) {
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(req))
			peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(peer, buf); err != nil {
				t.Fatal(err)
			}
			peer.Close()
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			c, err := NewConn(b)
			if err != nil {
				t.Fatal(err)
			}
			c.ReadTimeout = 10 * time.Second
			tt.peer(t, c, a)
			var buf Buffer
			n, err := c.Fill(&buf)
			if n != 0 || err == nil {
				t.Fatalf("Fill = %d, %v; want the connection's end", n, err)
			}
			if got := c.ResetByPeer(err); got != tt.reset {
				t.Fatalf("ResetByPeer(%v) = %v, want %v", err, got, tt.reset)
			}
		})
	}
}
