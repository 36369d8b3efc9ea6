package handover

import (
	"errors"
	"net"
	"testing"
)

// TestSockets_InheritedOnceThenClosed: an address handed over gets the
// handed-over socket, once; an address not handed over gets a new socket;
// CloseUnused closes what no address took and leaves taken ones open.
func TestSockets_InheritedOnceThenClosed(t *testing.T) {
	listen := func() *net.TCPListener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l.(*net.TCPListener)
	}
	used, unused := listen(), listen()
	var s Sockets
	addr := used.Addr().String()
	s.Add(map[string]*net.TCPListener{addr: used, unused.Addr().String(): unused})

	got, err := s.Listen(addr)
	if err != nil || got != used {
		t.Fatalf("Listen(%s) = %v, %v; want the handed-over socket", addr, got, err)
	}
	// Given once: the same address again is bound anew, and it is busy.
	if l, err := s.Listen(addr); err == nil {
		l.Close()
		t.Fatal("the handed-over socket was given twice, or its address bound twice")
	}
	fresh, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("a new socket: %v", err)
	}
	defer fresh.Close()

	s.CloseUnused()
	if _, err := unused.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("an unused handed-over socket after CloseUnused: accept error %v, want closed", err)
	}
	c, err := net.Dial("tcp", used.Addr().String())
	if err != nil {
		t.Fatalf("the taken socket was closed: %v", err)
	}
	c.Close()
}
