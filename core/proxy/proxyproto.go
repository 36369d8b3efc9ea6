package proxy

import (
	"errors"
	"net/netip"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/proxyproto"
)

// The PROXY protocol on client and server connections (see tls.go for
// where it happens).

// errProxyTooLong is a PROXY header that does not fit in a connection
// buffer (16 KiB): version 2 allows 64 KiB of TLVs, HAProxy refuses what
// exceeds its buffer too.
var errProxyTooLong = errors.New("proxy protocol header larger than the connection buffer")

// readProxyHeader reads and applies the PROXY protocol header that must
// open the connection. Bytes after the header stay in the buffer for the
// next layer (TLS or the stream).
func (cc *clientConn) readProxyHeader() error {
	for {
		h, n, err := proxyproto.Parse(cc.buf.Data())
		if err == nil {
			cc.buf.Consume(n)
			if h.HasAddrs() {
				cc.conn.Src = unmapPort(h.Src)
				cc.conn.Dst = unmapPort(h.Dst)
				cc.clientAddr = cc.conn.Src.String()
			}
			return nil
		}
		if !errors.Is(err, proxyproto.ErrIncomplete) {
			return err
		}
		if cc.buf.Full() {
			return errProxyTooLong
		}
		if _, err := cc.c.Fill(&cc.buf); err != nil {
			return err
		}
	}
}

func unmapPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// maxProxyHeader bounds the headers strata sends (v2 over IPv6, no TLV).
const maxProxyHeader = proxyproto.V2HeaderLen + 36

// sendProxyHeader writes a PROXY header describing the client connection
// (its addresses after its own PROXY header) on a new server connection.
func (cc *clientConn) sendProxyHeader(sc *backend.ServerConn, version int) error {
	b := make([]byte, 0, max(maxProxyHeader, proxyproto.MaxV1))
	if version == 1 {
		b = proxyproto.AppendV1(b, cc.conn.Src, cc.conn.Dst)
	} else {
		b = proxyproto.AppendV2(b, cc.conn.Src, cc.conn.Dst)
	}
	_, err := sc.Write(b)
	return err
}

// localProxyHeader is the PROXY header of a connection strata opens for
// itself (a health check): the LOCAL command in version 2, "PROXY UNKNOWN"
// in version 1. The receiver keeps the connection's own addresses.
func localProxyHeader(version int) []byte {
	if version == 1 {
		return proxyproto.AppendV1(nil, netip.AddrPort{}, netip.AddrPort{})
	}
	return proxyproto.AppendV2(nil, netip.AddrPort{}, netip.AddrPort{})
}
