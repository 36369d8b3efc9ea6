package generation

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/listen"
)

// L4 is the L4 state of one generation. Immutable once built.
type L4 struct {
	frontends map[*Frontend]*L4Frontend
	servers   map[*backend.Server]*L4Server
}

// L4Frontend is what the binds of one frontend need below the session.
// Immutable once built; shared by every connection of the frontend.
type L4Frontend struct {
	TLS         *tls.Config // nil: plain TCP
	AcceptProxy bool
	// Servers holds every server of the generation with send_proxy or
	// tls; nil when there is none.
	Servers map[*backend.Server]*L4Server
}

// L4Server is what new connections to one server need.
type L4Server struct {
	TLS       *tls.Config     // nil: plain TCP
	SendProxy int             // PROXY protocol version sent, 0 for none
	H2        *backend.H2Pool // the server speaks HTTP/2 (core/stream/server_h2.go); nil: HTTP/1.1
}

// BuildL4 prepares the TLS configurations and PROXY protocol settings of
// g. It returns nil when g needs none, so that plain configurations pay
// nothing.
func BuildL4(g *Generation, log *slog.Logger) (*L4, error) {
	cfg := g.Config
	l := &L4{frontends: map[*Frontend]*L4Frontend{}, servers: map[*backend.Server]*L4Server{}}
	for _, be := range g.Backends {
		bc := cfg.Backend(be.Name)
		if bc == nil {
			continue
		}
		for _, srv := range be.Servers {
			if srv.Index >= len(bc.Servers) || bc.Servers[srv.Index].Name != srv.Name {
				continue
			}
			sc := bc.Servers[srv.Index]
			ls := &L4Server{}
			switch sc.SendProxy {
			case "v1":
				ls.SendProxy = 1
			case "v2":
				ls.SendProxy = 2
			}
			if sc.TLS != nil {
				c, err := listen.ServerTLS(cfg, sc)
				if err != nil {
					return nil, fmt.Errorf("%s.tls: %w", sc.Path, err)
				}
				ls.TLS = c
			}
			if sc.H2 && be.HTTP {
				ls.H2 = &backend.H2Pool{KeepAlive: be.Timeouts.HTTPKeepAlive}
				g.OnClose(ls.H2.Close)
				if ls.TLS != nil {
					ls.TLS.NextProtos = []string{"h2"}
				}
			}
			if ls.TLS != nil || ls.SendProxy != 0 || ls.H2 != nil {
				l.servers[srv] = ls
			}
			if ls.TLS != nil || ls.SendProxy != 0 {
				srv.CheckL4 = listen.CheckL4(ls.TLS, ls.SendProxy) // before g.start starts the checks
			}
		}
	}
	if len(l.servers) == 0 {
		l.servers = nil
	}
	for _, fe := range g.Frontends {
		fc := cfg.Frontend(fe.Name)
		if fc == nil {
			continue
		}
		lf := &L4Frontend{AcceptProxy: fc.AcceptProxy, Servers: l.servers}
		if fc.TLS != nil {
			c, err := listen.FrontendTLS(cfg, fc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fc.TLS.Path, err)
			}
			lf.TLS = c
		}
		if lf.TLS != nil || lf.AcceptProxy || lf.Servers != nil {
			l.frontends[fe] = lf
		}
	}
	if len(l.frontends) == 0 && l.servers == nil {
		return nil, nil
	}
	return l, nil
}

// Frontend returns the L4 state of fe's connections, nil when they need
// none.
func (l *L4) Frontend(fe *Frontend) *L4Frontend {
	if l == nil {
		return nil
	}
	return l.frontends[fe]
}
