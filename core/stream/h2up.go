package stream

import (
	"github.com/strata-proxy/strata/core/backend"
)

// h2Upstream returns the HTTP/2 pool of srv, nil when srv speaks HTTP/1.1.
func (cc *Conn) h2Upstream(srv *backend.Server) *backend.H2Pool {
	if cc.l4 == nil || cc.l4.Servers == nil {
		return nil
	}
	if ls := cc.l4.Servers[srv]; ls != nil {
		return ls.H2
	}
	return nil
}
