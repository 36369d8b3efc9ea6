package transport

import (
	"io"
	"testing"
	"time"
)

// TestConn_FillReady: FillReady takes what has arrived without waiting,
// appends it after the unread bytes without moving them, reads nothing
// when nothing has arrived or the buffer has no room at its end, and
// reports the end of the stream.
func TestConn_FillReady(t *testing.T) {
	a, b := tcpPair(t)
	c, err := NewConn(a)
	if err != nil {
		t.Fatal(err)
	}
	c.ReadTimeout = 10 * time.Second
	var buf Buffer
	io.WriteString(b, "HEAD")
	if _, err := c.Fill(&buf); err != nil {
		t.Fatal(err)
	}
	buf.Consume(1) // R > 0: FillReady must not compact
	head := buf.Data()

	if n, err := c.FillReady(&buf); n != 0 || err != nil {
		t.Fatalf("nothing sent: FillReady = %d, %v; want 0, nil", n, err)
	}
	io.WriteString(b, "body")
	if n, err := fillReadySome(t, c, &buf); n != 4 || err != nil {
		t.Fatalf("FillReady = %d, %v; want 4, nil", n, err)
	}
	if got := string(buf.Data()); got != "EADbody" || &buf.Data()[0] != &head[0] {
		t.Fatalf("buffer %q (moved: %v), want \"EADbody\" in place", got, &buf.Data()[0] != &head[0])
	}

	buf.W = len(buf.B) // no room at the end
	io.WriteString(b, "more")
	if n, err := c.FillReady(&buf); n != 0 || err != nil {
		t.Fatalf("full buffer: FillReady = %d, %v; want 0, nil", n, err)
	}
	buf.W = buf.R + len("EADbody")
	if n, err := fillReadySome(t, c, &buf); n != 4 || err != nil {
		t.Fatalf("after room was made: FillReady = %d, %v; want 4, nil", n, err)
	}

	b.Close()
	if n, err := fillReadySome(t, c, &buf); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: FillReady = %d, %v; want 0, io.EOF", n, err)
	}
}

// fillReadySome calls FillReady until it reads something or fails
// (bounded): bytes written on loopback are usually, not always, queued at
// the receiver when the write returns.
func fillReadySome(t *testing.T, c *Conn, b *Buffer) (int, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.FillReady(b)
		if n != 0 || err != nil || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
