package listen

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestCheckL4_NoALPNAndLocalHeader: a server's checks send the LOCAL
// PROXY header of its version, and their TLS handshake verifies the
// server as traffic does but offers no ALPN, leaving the traffic's
// configuration (which asks for h2) untouched.
func TestCheckL4_NoALPNAndLocalHeader(t *testing.T) {
	ca, site := testsupport.NewSite(t, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{site.TLS}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	alpn := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.Handshake()
		alpn <- tc.ConnectionState().NegotiatedProtocol
	}()

	traffic := &tls.Config{ServerName: "127.0.0.1", RootCAs: ca.Pool, NextProtos: []string{"h2"}}
	c := CheckL4(traffic, 2)
	if !bytes.Equal(c.ProxyHeader, LocalProxyHeader(2)) {
		t.Fatalf("check header %q, want the v2 LOCAL header", c.ProxyHeader)
	}
	if c.Handshake == nil {
		t.Fatal("no handshake for a TLS server")
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.Handshake(ctx, nc)
	if err != nil {
		t.Fatalf("check handshake: %v", err)
	}
	if got := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; got != "" {
		t.Fatalf("check negotiated ALPN %q, want none", got)
	}
	if got := <-alpn; got != "" {
		t.Fatalf("server saw ALPN %q, want none", got)
	}
	if len(traffic.NextProtos) != 1 || traffic.NextProtos[0] != "h2" {
		t.Fatalf("traffic's ALPN changed to %v", traffic.NextProtos)
	}

	if p := CheckL4(nil, 0); p.ProxyHeader != nil || p.Handshake != nil {
		t.Fatalf("plain server without send_proxy: %+v, want nothing to do", p)
	}
	if p := CheckL4(nil, 1); string(p.ProxyHeader) != "PROXY UNKNOWN\r\n" {
		t.Fatalf("v1 check header %q, want PROXY UNKNOWN", p.ProxyHeader)
	}
}
