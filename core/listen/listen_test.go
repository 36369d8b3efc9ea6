package listen

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/strata-proxy/strata/core/proxyproto"
	"github.com/strata-proxy/strata/core/transport"
)

// pair returns the accepted side of a loopback TCP connection, wrapped as
// the proxy wraps client connections, and the dialing side.
func pair(t *testing.T) (*transport.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.NewConn(nc.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client
}

// TestReadProxyHeader_SplitAcrossReads reads a v2 header that arrives in
// two writes, gets its addresses with IPv4-mapped ones unmapped, and leaves
// the bytes after it in the buffer.
func TestReadProxyHeader_SplitAcrossReads(t *testing.T) {
	c, client := pair(t)
	src := netip.MustParseAddrPort("[::ffff:203.0.113.7]:40000")
	dst := netip.MustParseAddrPort("[::ffff:192.0.2.1]:443")
	h := ProxyHeader(2, src, dst)
	go func() {
		client.Write(h[:5])
		client.Write(append(h[5:], "GET / HTTP/1.1\r\n"...))
	}()
	var buf transport.Buffer
	defer buf.Release()
	gotSrc, gotDst, ok, err := ReadProxyHeader(c, &buf)
	if err != nil || !ok {
		t.Fatalf("ReadProxyHeader: ok %v, err %v", ok, err)
	}
	if gotSrc.String() != "203.0.113.7:40000" || gotDst.String() != "192.0.2.1:443" {
		t.Fatalf("addresses %v -> %v, want 203.0.113.7:40000 -> 192.0.2.1:443", gotSrc, gotDst)
	}
	for buf.Len() < len("GET / HTTP/1.1\r\n") {
		if _, err := c.Fill(&buf); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(buf.Data()); got != "GET / HTTP/1.1\r\n" {
		t.Fatalf("bytes after the header %q", got)
	}
}

// TestReadProxyHeader_LocalKeepsAddresses: a header without addresses (a
// health check's LOCAL) is consumed and reports none.
func TestReadProxyHeader_LocalKeepsAddresses(t *testing.T) {
	for _, v := range []int{1, 2} {
		c, client := pair(t)
		go client.Write(LocalProxyHeader(v))
		var buf transport.Buffer
		_, _, ok, err := ReadProxyHeader(c, &buf)
		if err != nil || ok {
			t.Fatalf("v%d: ok %v, err %v; want a header without addresses", v, ok, err)
		}
		if buf.Len() != 0 {
			t.Fatalf("v%d: %d bytes left in the buffer", v, buf.Len())
		}
		buf.Release()
	}
}

// TestReadProxyHeader_Refusals: garbage is refused by the codec, and a v2
// header whose TLVs exceed the connection buffer is refused before the
// buffer would overflow.
func TestReadProxyHeader_Refusals(t *testing.T) {
	c, client := pair(t)
	go client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	var buf transport.Buffer
	if _, _, _, err := ReadProxyHeader(c, &buf); !errors.Is(err, proxyproto.ErrInvalid) {
		t.Fatalf("plain HTTP: err %v, want ErrInvalid", err)
	}
	buf.Release()

	c, client = pair(t)
	big := proxyproto.AppendV2(nil, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"),
		proxyproto.TLV{Type: 0xE0, Value: make([]byte, 60000)})
	go client.Write(big)
	buf = transport.Buffer{}
	defer buf.Release()
	if _, _, _, err := ReadProxyHeader(c, &buf); !errors.Is(err, ErrProxyTooLong) {
		t.Fatalf("oversized header: err %v, want ErrProxyTooLong", err)
	}
}

// TestOnelineDN writes attributes in the certificate's order with
// OpenSSL's short names, and unknown attributes by OID.
func TestOnelineDN(t *testing.T) {
	n := pkix.Name{Names: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "FR"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example"},
		{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "x"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "client"},
	}}
	if got, want := OnelineDN(n), "/C=FR/O=Example/1.2.3.4=x/CN=client"; got != want {
		t.Fatalf("OnelineDN = %q, want %q", got, want)
	}
	if got := OnelineDN(pkix.Name{}); got != "" {
		t.Fatalf("empty name = %q", got)
	}
}
