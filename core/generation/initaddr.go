package generation

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/config"
)

// lookupTimeout bounds one name's resolution at build time.
const lookupTimeout = 5 * time.Second

// resolveServers resolves the server names of cfg, all at once. It
// returns the servers that start in maintenance (init_addr none) and an
// error for each name that cannot be resolved otherwise.
func resolveServers(cfg *config.Config, log *slog.Logger) (maint map[*config.Server]bool, errs []*config.Error) {
	type lookup struct {
		s    *config.Server
		host string
		err  error
	}
	var todo []*lookup
	for _, b := range cfg.Backends {
		for _, s := range b.Servers {
			host, _, err := net.SplitHostPort(s.Address)
			if err != nil {
				continue // reported by the configuration already
			}
			if _, err := netip.ParseAddr(host); err == nil {
				continue // an address: nothing to resolve
			}
			todo = append(todo, &lookup{s: s, host: host})
		}
	}
	var wg sync.WaitGroup
	for _, l := range todo {
		if !slices.Contains(l.s.InitAddr, "libc") {
			l.err = errNotResolved
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
			defer cancel()
			_, l.err = net.DefaultResolver.LookupHost(ctx, l.host)
		})
	}
	wg.Wait()
	for _, l := range todo {
		switch {
		case l.err == nil:
		case slices.Contains(l.s.InitAddr, "none"):
			if maint == nil {
				maint = map[*config.Server]bool{}
			}
			maint[l.s] = true
			if log != nil {
				log.Warn("server starts in maintenance: its address does not resolve (init_addr none)", "server", l.s.Path, "address", l.s.Address, "error", l.err)
			}
		default:
			errs = append(errs, unresolvedError(cfg, l.s, l.host, l.err))
		}
	}
	return maint, errs
}

// errNotResolved stands for a name that init_addr does not ask to resolve.
var errNotResolved = &net.DNSError{Err: "not resolved"}

func unresolvedError(cfg *config.Config, s *config.Server, host string, err error) *config.Error {
	path := s.Path + ".address"
	msg := "cannot resolve " + strconv.Quote(host)
	if looksNumeric(host) {
		msg = strconv.Quote(host) + " is not an IP address, and does not resolve as a name"
	}
	if de := (*net.DNSError)(nil); errors.As(err, &de) {
		msg += ": " + de.Err // the name is in the message already
	} else {
		msg += ": " + err.Error()
	}
	return &config.Error{
		Path:   path,
		Msg:    msg,
		Fix:    `correct the address, or set init_addr: "libc,none" on the server (or on its backend) to start with this server in maintenance`,
		Source: cfg.Source(path),
	}
}

// looksNumeric reports whether host is made of digits and dots only, as a
// mistyped IPv4 address is ("10.0.0.300").
func looksNumeric(host string) bool {
	return strings.Trim(host, "0123456789.") == ""
}
