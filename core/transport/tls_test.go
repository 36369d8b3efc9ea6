package transport

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// testCert returns a certificate for "strata.test" and 127.0.0.1, and a
// pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca := testsupport.NewCA(t, t.TempDir(), "ca")
	leaf := ca.Issue(t, "server", testsupport.CN("strata.test"), false, "strata.test", "127.0.0.1")
	return leaf.TLS, ca.Pool
}

// tcpPair returns two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- c.(*net.TCPConn)
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a = <-done
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); d.Close() })
	return a, d.(*net.TCPConn)
}

// tlsPair returns a transport.Conn in TLS server mode and the Go TLS client
// connected to it, handshake done.
func tlsPair(t testing.TB, pending func(c *Conn, cl net.Conn) *Buffer) (*Conn, *tls.Conn) {
	t.Helper()
	cert, pool := testCert(t)
	s, cl := tcpPair(t)
	c, err := NewConn(s)
	if err != nil {
		t.Fatal(err)
	}
	c.ReadTimeout, c.WriteTimeout = 5*time.Second, 5*time.Second
	client := tls.Client(cl, &tls.Config{RootCAs: pool, ServerName: "strata.test"})
	errc := make(chan error, 1)
	go func() { errc <- client.Handshake() }()
	var pend *Buffer
	if pending != nil {
		pend = pending(c, cl)
	}
	c.StartTLS(&tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true}, true, pend)
	if err := c.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return c, client
}

func TestConn_TLSExchange(t *testing.T) {
	c, client := tlsPair(t, nil)
	// Several records, some larger than a buffer, both ways.
	big := make([]byte, 200<<10)
	rand.Read(big)
	go func() {
		client.Write([]byte("hello"))
		client.Write(big)
	}()
	var b Buffer
	var got []byte
	for len(got) < 5+len(big) {
		n, err := c.Fill(&b)
		if err != nil {
			t.Fatalf("Fill after %d bytes: %v", len(got), err)
		}
		got = append(got, b.Data()...)
		b.Consume(n)
	}
	if !bytes.Equal(got[:5], []byte("hello")) || !bytes.Equal(got[5:], big) {
		t.Fatal("bytes differ")
	}
	go c.Write(big)
	back := make([]byte, len(big))
	if _, err := io.ReadFull(client, back); err != nil || !bytes.Equal(back, big) {
		t.Fatalf("server to client: %v", err)
	}
}

// TestConn_TLSIdleHoldsNoBuffer: a read that blocks on an idle TLS
// connection times out holding neither the caller's buffer nor the
// ciphertext buffer, and the connection keeps working afterwards.
func TestConn_TLSIdleHoldsNoBuffer(t *testing.T) {
	c, client := tlsPair(t, nil)
	var b Buffer
	client.Write([]byte("first"))
	n, err := c.Fill(&b)
	if err != nil {
		t.Fatal(err)
	}
	b.Consume(n) // emptied but still held, as after a plain read
	c.ReadTimeout = 50 * time.Millisecond
	waits, heldWhileWaiting := 0, false
	testHookTLSWait = func(b *Buffer) { waits++; heldWhileWaiting = heldWhileWaiting || b.Held() }
	defer func() { testHookTLSWait = nil }()
	_, err = c.Fill(&b)
	if waits != 1 || heldWhileWaiting {
		t.Fatalf("waited %d times, holding the caller's buffer: %v", waits, heldWhileWaiting)
	}
	if !IsTimeout(err) {
		t.Fatalf("Fill on an idle connection: %v, want a timeout", err)
	}
	if b.Held() || c.tls.raw.Held() {
		t.Fatalf("idle connection holds a buffer (caller %v, ciphertext %v)", b.Held(), c.tls.raw.Held())
	}
	c.ReadTimeout = 5 * time.Second
	client.Write([]byte("after the timeout"))
	n, err = c.Fill(&b)
	if err != nil || string(b.Data()[:n]) != "after the timeout" {
		t.Fatalf("Fill after a timeout: %q %v", b.Data(), err)
	}
}

// TestConn_TLSMore: when a record does not fit in the room left, the rest
// stays in crypto/tls, and the next Fill returns it without waiting for
// the socket.
func TestConn_TLSMore(t *testing.T) {
	c, client := tlsPair(t, nil)
	msg := bytes.Repeat([]byte("0123456789"), 100)
	client.Write(msg)
	var b Buffer
	b.acquire()
	b.R, b.W = 5, len(b.B)-10 // 10 bytes of room
	n, err := c.Fill(&b)
	if err != nil || n != 10 {
		t.Fatalf("first Fill: %d %v", n, err)
	}
	got := append([]byte(nil), b.Data()[b.Len()-10:]...)
	b.Consume(b.Len())
	c.ReadTimeout = 200 * time.Millisecond // the socket has nothing more
	for len(got) < len(msg) {
		n, err := c.Fill(&b)
		if err != nil {
			t.Fatalf("Fill after %d bytes: %v (buffered plaintext was not returned)", len(got), err)
		}
		got = append(got, b.Data()...)
		b.Consume(n)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("bytes differ")
	}
}

// TestConn_TLSPending: bytes read before StartTLS (after a PROXY header)
// are the start of the handshake.
func TestConn_TLSPending(t *testing.T) {
	c, client := tlsPair(t, func(c *Conn, _ net.Conn) *Buffer {
		var b Buffer
		if _, err := c.Fill(&b); err != nil { // part or all of the ClientHello
			t.Fatal(err)
		}
		return &b
	})
	client.Write([]byte("ok"))
	var b Buffer
	if _, err := c.Fill(&b); err != nil || string(b.Data()) != "ok" {
		t.Fatalf("%q %v", b.Data(), err)
	}
}

// TestConn_TLSCloseWrite: CloseWrite sends close_notify and a FIN; the
// peer reads the end and may still write back.
func TestConn_TLSCloseWrite(t *testing.T) {
	c, client := tlsPair(t, nil)
	c.Write([]byte("bye"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer read %q %v", got, err)
	}
	client.Write([]byte("still here"))
	client.CloseWrite()
	var b Buffer
	var all []byte
	for {
		n, err := c.Fill(&b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Data()...)
		b.Consume(n)
	}
	if string(all) != "still here" {
		t.Fatalf("read %q after our half-close", all)
	}
}

// TestConn_TLSCloseWhileReading hammers Close from another goroutine while
// a tunnel-like pair of goroutines reads and writes.
func TestConn_TLSCloseWhileReading(t *testing.T) {
	for range 20 {
		c, client := tlsPair(t, nil)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			var b Buffer
			for {
				n, err := c.Fill(&b)
				if err != nil {
					b.Release()
					return
				}
				b.Consume(n)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if _, err := c.Write([]byte("ping")); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			io.Copy(io.Discard, client)
		}()
		client.Write([]byte("data"))
		time.Sleep(time.Millisecond)
		c.Close()
		client.Close()
		wg.Wait()
	}
}

// TestConn_TLSClient: the client side of the handshake, towards a Go TLS
// server, and SpliceTo between a TLS and a plain connection.
func TestConn_TLSClient(t *testing.T) {
	cert, pool := testCert(t)
	s, cl := tcpPair(t)
	srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	go func() {
		io.Copy(srv, srv) // echo
		srv.Close()
	}()
	c, err := NewConn(cl)
	if err != nil {
		t.Fatal(err)
	}
	c.ReadTimeout, c.WriteTimeout = 5*time.Second, 5*time.Second
	c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "strata.test"}, false, nil)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	// Relay the echo into a plain connection.
	p1, p2 := tcpPair(t)
	plain, _ := NewConn(p1)
	plain.WriteTimeout = 5 * time.Second
	c.Write([]byte("through splice fallback"))
	want := "through splice fallback"
	var got []byte
	for len(got) < len(want) {
		n, err := c.SpliceTo(plain, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(p2, buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf...)
	}
	if string(got) != want {
		t.Fatalf("%q", got)
	}
	c.CloseWrite()
	if n, err := c.SpliceTo(plain, 1<<20); n != 0 || err != nil {
		t.Fatalf("after the peer closed: %d %v, want 0 and no error", n, err)
	}
}

// TestConn_TLSHandshakeTimeout: a client that never speaks fails the
// handshake at the read deadline.
func TestConn_TLSHandshakeTimeout(t *testing.T) {
	cert, _ := testCert(t)
	s, _ := tcpPair(t)
	c, _ := NewConn(s)
	c.ReadDeadline = time.Now().Add(50 * time.Millisecond)
	c.StartTLS(&tls.Config{Certificates: []tls.Certificate{cert}}, true, nil)
	err := c.Handshake()
	if !IsTimeout(err) {
		t.Fatalf("handshake: %v, want a timeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("not a net.Error timeout: %v", err)
	}
}

// TestConn_PlainAllocs: the plain path does not pay for TLS mode.
func TestConn_PlainAllocs(t *testing.T) {
	s, cl := tcpPair(t)
	c, _ := NewConn(s)
	c.ReadTimeout = 5 * time.Second
	var b Buffer
	msg := []byte("x")
	n := testing.AllocsPerRun(200, func() {
		cl.Write(msg)
		m, err := c.Fill(&b)
		if err != nil {
			t.Fatal(err)
		}
		b.Consume(m)
		c.Write(msg)
		cl.Read(msg)
	})
	if n != 0 {
		t.Errorf("plain Fill and Write allocate %v times", n)
	}
}

// TestTLSLayer_Frame: ciphertext goes to crypto/tls one record at a time,
// a record's header and body together when both are there, never past the
// record's end.
func TestTLSLayer_Frame(t *testing.T) {
	rec := func(n int) []byte { return append([]byte{23, 3, 3, byte(n >> 8), byte(n)}, make([]byte, n)...) }
	stream := append(append(append(rec(10), rec(0)...), rec(300)...), rec(2)...)
	tests := []struct {
		name  string
		chunk int // bytes available per call (what the socket brought)
		max   int // room crypto/tls offers
		want  []int
	}{
		{name: "whole records", chunk: len(stream), max: 512, want: []int{15, 5, 305, 7}},
		{name: "small room", chunk: len(stream), max: 100, want: []int{15, 5, 100, 100, 100, 5, 7}},
		{name: "bytes trickle", chunk: 3, max: 512, want: nil}, // checked by the sum only
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l tlsLayer
			var got []int
			off := 0
			for off < len(stream) {
				data := stream[off:min(len(stream), off+tt.chunk)]
				n := l.frame(data, tt.max)
				if n <= 0 {
					t.Fatalf("no progress at %d", off)
				}
				got = append(got, n)
				off += n
			}
			if off != len(stream) || l.left != 0 || l.hdrN != 0 {
				t.Fatalf("ended at %d, left %d, hdrN %d", off, l.left, l.hdrN)
			}
			if tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("reads %v, want %v", got, tt.want)
			}
			// No read crosses a record boundary.
			bounds := map[int]bool{0: true, 15: true, 20: true, 325: true, 332: true}
			pos := 0
			for _, n := range got {
				for b := range bounds {
					if b > pos && b < pos+n {
						t.Fatalf("read %d..%d crosses the record boundary at %d", pos, pos+n, b)
					}
				}
				pos += n
			}
		})
	}
}
