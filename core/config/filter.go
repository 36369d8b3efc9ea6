package config

import (
	"encoding/json"
	"fmt"
)

// DefaultFilterMaxBody is a filter's body limit when max_body is not set.
const DefaultFilterMaxBody = 1 << 20

// Filter is one entry of a frontend's or a backend's `filters`: an HTTP
// filter (a Proxy-Wasm module of `plugins`) in the stream's filter chain,
// in the order written (core/filter says where the chain runs).
type Filter struct {
	// Plugin names the entry of `plugins` that runs the filter; required.
	Plugin string
	// Config is the filter's configuration as the module gets it
	// (on_configure): a string as is, a mapping as JSON; nil when absent.
	// Scalars inside a mapping are JSON strings, as the configuration
	// reads them (a value set by STRATA_… or --set is text too).
	Config []byte
	// MaxBody is the most body bytes buffered for the filter while it
	// pauses a body callback (`max_body`, sizes as memory_limit); past it
	// the request gets 413, the response 502. Default 1MiB.
	MaxBody int64
	// Backends lists the backends the filter may call (proxy_http_call);
	// empty: none.
	Backends []string
	Path     string // "frontends.web.filters[0]"
}

// filters decodes the filter list at key.
func (o *object) filters(key string) []Filter {
	v, p := o.get(key)
	var items []any
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		items = x
	default:
		o.d.errorf(p, "write a list of filters, e.g. filters: [{ plugin: waf }]", "expected a list, got %s", describe(v))
		return nil
	}
	out := make([]Filter, 0, len(items))
	for i, it := range items {
		ep := indexPath(p, i)
		if s, ok := it.(string); ok { // `filters: [waf]`: the plugin alone
			out = append(out, Filter{Plugin: s, MaxBody: DefaultFilterMaxBody, Path: ep})
			continue
		}
		e := o.d.object(ep, it)
		f := Filter{Path: ep, Plugin: e.str("plugin", "")}
		if f.Plugin == "" && !e.bad {
			o.d.errorf(joinPath(ep, "plugin"), "name an entry of plugins, e.g. plugin: waf", "required")
		}
		f.Config = o.d.blob(e, "config")
		f.MaxBody = e.size("max_body", DefaultFilterMaxBody, 0, 1<<30)
		f.Backends = e.list("backends")
		e.done()
		out = append(out, f)
	}
	return out
}

// blob returns the value at key as a plugin gets it: a string as is, a
// mapping or a list as JSON, nil when absent.
func (d *decoder) blob(o *object, key string) []byte {
	v, p := o.get(key)
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			d.errorf(p, "write a string or a mapping of plain values", "cannot be given as JSON: %v", err)
			return nil
		}
		return b
	default:
		return []byte(fmt.Sprint(x))
	}
}

// validateFilters checks what a filter list names: plugins and backends.
func (d *decoder) validateFilters(c *Config, backendNames []string, backends map[string]*Backend) {
	plugins := map[string]bool{}
	var pluginNames []string
	for _, p := range c.Plugins {
		plugins[p.Name] = true
		pluginNames = append(pluginNames, p.Name)
	}
	check := func(fs []Filter, mode Mode, path string) {
		if len(fs) > 0 && mode == ModeTCP {
			d.errorf(joinPath(path, "filters"), "remove filters, or set mode: http", "filters run on HTTP streams only")
		}
		for _, f := range fs {
			if f.Plugin != "" && !plugins[f.Plugin] {
				d.errorf(joinPath(f.Path, "plugin"), refFix("plugin", f.Plugin, pluginNames), "no plugin named %s", quote(f.Plugin))
			}
			for i, b := range f.Backends {
				if backends[b] == nil {
					d.errorf(indexPath(joinPath(f.Path, "backends"), i), refFix("backend", b, backendNames), "no backend named %s", quote(b))
				}
			}
		}
	}
	for _, f := range c.Frontends {
		check(f.Filters, f.Mode, f.Path)
	}
	for _, b := range c.Backends {
		check(b.Filters, b.Mode, b.Path)
	}
}
