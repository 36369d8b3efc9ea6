package listen

import (
	"errors"
	"net/netip"

	"github.com/strata-proxy/strata/core/proxyproto"
	"github.com/strata-proxy/strata/core/transport"
)

// The PROXY protocol on connections: read at accept (accept_proxy),
// written on new server connections (send_proxy) and health checks. The
// codec itself is core/proxyproto.

// ErrProxyTooLong is a PROXY header that does not fit in a connection
// buffer (16 KiB): version 2 allows 64 KiB of TLVs, HAProxy refuses what
// exceeds its buffer too.
var ErrProxyTooLong = errors.New("proxy protocol header larger than the connection buffer")

// ReadProxyHeader reads the PROXY protocol header that must open c,
// filling buf from c as needed, and consumes it from buf. Bytes after the
// header stay in buf for the next layer (TLS or the stream). ok reports
// whether the header carries addresses (IPv4-mapped addresses unmapped);
// when it does not, the connection keeps its own.
func ReadProxyHeader(c *transport.Conn, buf *transport.Buffer) (src, dst netip.AddrPort, ok bool, err error) {
	for {
		h, n, err := proxyproto.Parse(buf.Data())
		if err == nil {
			buf.Consume(n)
			if !h.HasAddrs() {
				return netip.AddrPort{}, netip.AddrPort{}, false, nil
			}
			return unmapPort(h.Src), unmapPort(h.Dst), true, nil
		}
		if !errors.Is(err, proxyproto.ErrIncomplete) {
			return netip.AddrPort{}, netip.AddrPort{}, false, err
		}
		if buf.Full() {
			return netip.AddrPort{}, netip.AddrPort{}, false, ErrProxyTooLong
		}
		if _, err := c.Fill(buf); err != nil {
			return netip.AddrPort{}, netip.AddrPort{}, false, err
		}
	}
}

func unmapPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// maxProxyHeader bounds the headers strata sends (v2 over IPv6, no TLV).
const maxProxyHeader = proxyproto.V2HeaderLen + 36

// ProxyHeader returns the PROXY header of the given version (1 or 2)
// describing a connection from src to dst, for a new server connection.
func ProxyHeader(version int, src, dst netip.AddrPort) []byte {
	b := make([]byte, 0, max(maxProxyHeader, proxyproto.MaxV1))
	if version == 1 {
		return proxyproto.AppendV1(b, src, dst)
	}
	return proxyproto.AppendV2(b, src, dst)
}

// LocalProxyHeader is the PROXY header of a connection strata opens for
// itself (a health check): the LOCAL command in version 2, "PROXY UNKNOWN"
// in version 1. The receiver keeps the connection's own addresses.
func LocalProxyHeader(version int) []byte {
	if version == 1 {
		return proxyproto.AppendV1(nil, netip.AddrPort{}, netip.AddrPort{})
	}
	return proxyproto.AppendV2(nil, netip.AddrPort{}, netip.AddrPort{})
}
