package assemble

import (
	"bytes"
	"sync"
	"time"

	"github.com/strata-proxy/strata/plugins"
)

// Versions follows each configured plugin across the generations of one
// process, for the runtime API: which module serves, since when, and how
// many reloads of it failed. Every reload loads every plugin again, so a
// plugin's own counters (plugins.Stats) start from zero at each one;
// Versions is what carries over.
//
// The reloader owns it: it calls Serving once a generation serves and
// Failed when a reload of a plugin is refused. Its methods may be called
// from any goroutine.
type Versions struct {
	mu sync.Mutex
	m  map[string]*Version // by plugin name; guarded by mu
}

// Version is the history of one plugin in GET /v1/plugins.
type Version struct {
	// Generation is 1 for the module first served, one more each time a
	// reload swaps in a module with other bytes (SHA-256): reloading an
	// unchanged file does not count.
	Generation uint64 `json:"generation"`
	// LoadedAt is when the serving module (this Generation) was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// ReloadFailures counts the reloads of this plugin that were refused
	// (POST /v1/plugins/NAME/reload, watch), the previous module serving
	// on; LastError is the latest cause.
	ReloadFailures int64     `json:"reload_failures"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`

	sum [32]byte
}

// PluginStats is a plugin's entry in GET /v1/plugins: its counters in the
// serving generation and its history.
type PluginStats struct {
	plugins.Stats
	Version
}

// NewVersions returns an empty history.
func NewVersions() *Versions { return &Versions{m: map[string]*Version{}} }

// Serving records that g serves new connections now: a plugin seen for
// the first time starts at generation 1, one whose module changed moves
// to the next. Plugins that g no longer has are forgotten.
func (v *Versions) Serving(g *Bundle) {
	now := time.Now()
	v.mu.Lock()
	seen := map[string]bool{}
	for _, p := range g.plugins {
		seen[p.Name()] = true
		sum := p.ModuleSum()
		e := v.m[p.Name()]
		switch {
		case e == nil:
			e = &Version{Generation: 1, LoadedAt: now, sum: sum}
			v.m[p.Name()] = e
		case !bytes.Equal(e.sum[:], sum[:]):
			e.Generation++
			e.LoadedAt, e.sum = now, sum
		}
		p.SetGeneration(e.Generation) // spans and metrics say it
	}
	for name := range v.m {
		if !seen[name] {
			delete(v.m, name)
		}
	}
	v.mu.Unlock()
	g.versions.Store(v)
}

// Failed records that a reload of plugin name was refused because of err.
func (v *Versions) Failed(name string, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.m[name]
	if e == nil {
		return
	}
	e.ReloadFailures++
	e.LastError, e.LastErrorAt = err.Error(), time.Now()
}

// Of returns the history of plugin name (zero when unknown).
func (v *Versions) Of(name string) Version {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e := v.m[name]; e != nil {
		return *e
	}
	return Version{}
}

// pluginStats is p's entry in the runtime API.
func (g *Bundle) pluginStats(p *plugins.Plugin) PluginStats {
	s := PluginStats{Stats: p.Stats()}
	if v := g.versions.Load(); v != nil {
		s.Version = v.Of(p.Name())
	}
	return s
}
