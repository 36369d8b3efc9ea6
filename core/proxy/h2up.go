package proxy

import (
	"github.com/strata-proxy/strata/core/backend"
)

// HTTP/2 to servers (`h2: true`). A server spoken to in HTTP/2 has a pool
// of multiplexed connections (backend.H2Pool): a stream opens an HTTP/2 stream on
// one that can take it, or dials a new one through the same path as
// HTTP/1.1 connections (TCP, PROXY header, TLS with ALPN h2). What a
// stream does on it is h2Server's (server_h2.go). maxconn and queues count
// streams, as for HTTP/1.1.

// h2Upstream returns the HTTP/2 pool of srv, nil when srv speaks HTTP/1.1.
func (cc *clientConn) h2Upstream(srv *backend.Server) *backend.H2Pool {
	if cc.l4 == nil || cc.l4.servers == nil {
		return nil
	}
	if ls := cc.l4.servers[srv]; ls != nil {
		return ls.h2
	}
	return nil
}
