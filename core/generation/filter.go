package generation

import (
	"errors"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/filter"
)

// FilterResolver builds the filters a configuration names. The
// composition root implements it with the plugin host (Proxy-Wasm); core
// never imports plugins. caller is the filter's way to its allowed
// backends (proxy_http_call).
type FilterResolver interface {
	Filter(c config.Filter, caller filter.Caller) (filter.Filter, error)
}

// buildChain makes the run-time chain of a configured filter list.
func (g *Generation) buildChain(fcs []config.Filter, r FilterResolver, fail func(string, error)) []filter.Filter {
	if len(fcs) == 0 {
		return nil
	}
	if r == nil {
		fail(fcs[0].Path, errors.New("filters need a plugin host, and this build of strata has none"))
		return nil
	}
	chain := make([]filter.Filter, 0, len(fcs))
	for _, fc := range fcs {
		f, err := r.Filter(fc, g.newCaller(fc.Backends))
		if err != nil {
			fail(fc.Path, err)
			continue
		}
		chain = append(chain, f)
	}
	return chain
}
