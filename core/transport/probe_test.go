package transport

import (
	"io"
	"testing"
	"time"
)

// TestProber_SocketIdle: a Prober says what Idle says of the socket of a
// connection it does not own: open and quiet, or not (bytes sent, the
// peer's close, the connection closed), reading nothing, and allocating
// nothing on an open connection (on a closed one the runtime allocates the
// error).
func TestProber_SocketIdle(t *testing.T) {
	for _, tt := range []struct {
		name string
		peer func(t *testing.T, c *Conn, peer io.WriteCloser) // what happens to the connection
		idle bool
		open bool // c still open: the probe allocates nothing
	}{
		{"quiet", func(*testing.T, *Conn, io.WriteCloser) {}, true, true},
		{"bytes sent", func(t *testing.T, _ *Conn, peer io.WriteCloser) {
			if _, err := peer.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"peer closed", func(_ *testing.T, _ *Conn, peer io.WriteCloser) { peer.Close() }, false, true},
		{"closed", func(_ *testing.T, c *Conn, _ io.WriteCloser) { c.Close() }, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tcpPair(t)
			c, err := NewConn(b)
			if err != nil {
				t.Fatal(err)
			}
			p := NewProber()
			tt.peer(t, c, a)
			// What the peer did reaches c's socket after a while: wait
			// until Idle, c's owner's view, says so too.
			for range 2000 {
				if c.Idle() == tt.idle {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := p.SocketIdle(c); got != tt.idle {
				t.Fatalf("SocketIdle = %v, want %v", got, tt.idle)
			}
			if n := testing.AllocsPerRun(100, func() { p.SocketIdle(c) }); tt.open && n != 0 {
				t.Fatalf("SocketIdle allocates %v times per call", n)
			}
			if tt.name == "bytes sent" { // peeked at, not taken
				buf := make([]byte, 2)
				b.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := b.Read(buf); n != 1 || buf[0] != 'x' {
					t.Fatalf("read %q, %v after the probe; want the byte sent", buf[:n], err)
				}
			}
		})
	}
}
