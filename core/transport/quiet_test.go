package transport

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/transport/park"
)

// TestConn_Quiet: a plain connection is always quiet; a TLS one is not
// while decrypted bytes wait inside the layer, and is again once Fill has
// returned them.
func TestConn_Quiet(t *testing.T) {
	s, _ := tcpPair(t)
	plain, err := NewConn(s)
	if err != nil {
		t.Fatal(err)
	}
	if !plain.Quiet() {
		t.Fatal("plain connection not quiet")
	}

	c, client := tlsPair(t, nil)
	if !c.Quiet() {
		t.Fatal("TLS connection after the handshake not quiet")
	}
	msg := bytes.Repeat([]byte("0123456789"), 100)
	client.Write(msg)
	var b Buffer
	b.acquire()
	b.R, b.W = 5, len(b.B)-10 // 10 bytes of room: the rest stays decrypted inside
	if n, err := c.Fill(&b); err != nil || n != 10 {
		t.Fatalf("first Fill: %d %v", n, err)
	}
	if c.Quiet() {
		t.Fatal("quiet with decrypted bytes left inside the TLS layer")
	}
	b.Consume(b.Len())
	got := 10
	for got < len(msg) {
		n, err := c.Fill(&b)
		if err != nil {
			t.Fatal(err)
		}
		got += n
		b.Consume(n)
	}
	if !c.Quiet() {
		t.Fatal("not quiet after every byte was returned")
	}
}

// TestConn_ParkTLS: a quiet TLS connection parked on a watcher by its raw
// descriptor is woken by the client's next record, and Fill then returns
// the decrypted bytes: nothing was left above the socket.
func TestConn_ParkTLS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking needs epoll")
	}
	w, err := park.New()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, client := tlsPair(t, nil)
	var b Buffer
	client.Write([]byte("first"))
	if n, err := c.Fill(&b); err != nil || string(b.Data()[:n]) != "first" {
		t.Fatalf("Fill: %q %v", b.Data(), err)
	}
	b.Consume(b.Len())
	b.Release()
	if !c.Quiet() {
		t.Fatal("not quiet")
	}
	var s park.Slot
	woken := make(chan error, 1)
	if err := w.Park(&s, c.RawConn(), time.Now().Add(10*time.Second), func(err error) { woken <- err }); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("second"))
	if err := <-woken; err != nil {
		t.Fatalf("woken with %v, want readable", err)
	}
	if n, err := c.Fill(&b); err != nil || string(b.Data()[:n]) != "second" {
		t.Fatalf("Fill after the wake: %q %v", b.Data(), err)
	}
}
