package listen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/strata-proxy/strata/core/backend"
)

// CheckL4 is how the health checks of a server reach it, given the
// client-side TLS configuration of its traffic (nil: plain) and the PROXY
// protocol version it is sent (0: none): with its TLS settings (verify,
// CA, SNI, client certificate) and, with send_proxy, a PROXY header of a connection the proxy opens for itself (v2 LOCAL, v1
// "PROXY UNKNOWN"), as HAProxy's checks do by default (check-ssl and
// check-send-proxy follow ssl and send-proxy). A check offers no ALPN: it
// speaks HTTP/1.1, which is what a server assumes without ALPN. A failed
// handshake fails the check (L6RSP, L6TOUT) and is not counted in the
// server's handshake_errors, which count traffic.
func CheckL4(tc *tls.Config, sendProxy int) *backend.CheckL4 {
	c := &backend.CheckL4{}
	if sendProxy != 0 {
		c.ProxyHeader = LocalProxyHeader(sendProxy)
	}
	if tc != nil {
		cfg := tc.Clone()
		cfg.NextProtos = nil
		// A session cache of their own: checks resume their sessions,
		// and traffic never resumes one negotiated without its ALPN.
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		c.Handshake = func(ctx context.Context, nc net.Conn) (net.Conn, error) {
			conn := tls.Client(nc, cfg)
			if err := conn.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("tls handshake: %w", err)
			}
			return conn, nil
		}
	}
	return c
}
