package sockstat

import (
	"net"
	"testing"
	"time"
)

// TestAcceptQueue: connections to a listener nobody accepts on are counted
// in its accept queue; once accepted they are not.
func TestAcceptQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if n, err := AcceptQueue(addr); err != nil || n != 0 {
		t.Fatalf("empty listener: %d, %v", n, err)
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if n, err := AcceptQueue(addr); err != nil || n != 3 {
		t.Fatalf("3 connections not accepted: queue %d, %v", n, err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n, err := AcceptQueue(addr); err != nil || n != 2 {
		t.Fatalf("one accepted: queue %d, %v", n, err)
	}
	if _, err := AcceptQueue("127.0.0.1:1"); err != ErrNotFound {
		t.Fatalf("no listener: %v, want ErrNotFound", err)
	}
}
