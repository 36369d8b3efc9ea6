package config

import (
	_ "embed"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is a loaded and validated configuration. Load builds it; after
// that it is immutable and may be read by any goroutine. Slices keep the
// order in which things are written in the file(s).
type Config struct {
	// Dir is the absolute directory of the first file ("" for inline YAML),
	// against which relative paths (map files, plugin files, a log file)
	// are resolved; see Resolve.
	Dir         string
	Global      Global
	Frontends   []*Frontend   // `frontends`, in file order
	Backends    []*Backend    // `backends`, in file order
	StickTables []*StickTable // `stick_tables`, in file order
	Plugins     []*Plugin     // `plugins`, in file order

	// lookups, built by Load (a Config built by hand falls back to a scan)
	frontends   map[string]*Frontend
	backends    map[string]*Backend
	stickTables map[string]*StickTable
	plugins     map[string]*Plugin
	sources     map[string]string
}

// Frontend returns the frontend called name, or nil.
func (c *Config) Frontend(name string) *Frontend {
	if c.frontends != nil {
		return c.frontends[name]
	}
	return find(c.Frontends, name, func(f *Frontend) string { return f.Name })
}

// Backend returns the backend called name, or nil.
func (c *Config) Backend(name string) *Backend {
	if c.backends != nil {
		return c.backends[name]
	}
	return find(c.Backends, name, func(b *Backend) string { return b.Name })
}

// StickTable returns the stick table called name, or nil.
func (c *Config) StickTable(name string) *StickTable {
	if c.stickTables != nil {
		return c.stickTables[name]
	}
	return find(c.StickTables, name, func(t *StickTable) string { return t.Name })
}

// Plugin returns the plugin called name, or nil.
func (c *Config) Plugin(name string) *Plugin {
	if c.plugins != nil {
		return c.plugins[name]
	}
	return find(c.Plugins, name, func(p *Plugin) string { return p.Name })
}

func find[T any](list []*T, name string, nameOf func(*T) string) *T {
	for _, x := range list {
		if nameOf(x) == name {
			return x
		}
	}
	return nil
}

// Source returns where the value at path was set — "strata.yaml:12",
// "env STRATA_GLOBAL__MAXCONN" or "--set" — or "" when unknown. A path
// that was not written itself (a default, or a list element set by an
// override) gets the source of its closest written parent. The rule
// compiler uses it to fill Error.Source.
func (c *Config) Source(path string) string {
	return lookupSource(c.sources, path)
}

// Resolve returns name as is when it is absolute or when the configuration
// came from inline YAML, and joined to Dir otherwise.
func (c *Config) Resolve(name string) string {
	if name == "" || c.Dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(c.Dir, name)
}

func (c *Config) index() {
	c.frontends = make(map[string]*Frontend, len(c.Frontends))
	for _, f := range c.Frontends {
		c.frontends[f.Name] = f
	}
	c.backends = make(map[string]*Backend, len(c.Backends))
	for _, b := range c.Backends {
		c.backends[b.Name] = b
	}
	c.stickTables = make(map[string]*StickTable, len(c.StickTables))
	for _, t := range c.StickTables {
		c.stickTables[t.Name] = t
	}
	c.plugins = make(map[string]*Plugin, len(c.Plugins))
	for _, p := range c.Plugins {
		c.plugins[p.Name] = p
	}
}

// Mode is the protocol mode of a frontend or a backend.
type Mode uint8

const (
	ModeHTTP Mode = iota // `mode: http`, the default
	ModeTCP              // `mode: tcp`
)

// String returns "http" or "tcp", as written in the configuration.
func (m Mode) String() string {
	switch m {
	case ModeHTTP:
		return "http"
	case ModeTCP:
		return "tcp"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Rules is one list of rules, kept as written: the rule compiler parses
// them.
type Rules struct {
	// Path is the list's path, e.g. "frontends.web.http_request"; the path
	// of rule i is ItemPath(i).
	Path string
	// List holds the rules in order, each trimmed and never empty.
	List []string
}

// ItemPath returns the path of rule i: Path + "[i]".
func (r Rules) ItemPath(i int) string { return r.Path + "[" + strconv.Itoa(i) + "]" }

//go:embed default.yaml
var defaultYAML []byte

// Default returns the built-in configuration, used by `strata run` when no
// file is given: one HTTP frontend `welcome` on 127.0.0.1:8080 that answers
// every request with the built-in `welcome` service. Load it with
// Sources{YAML: Default()}. The returned slice is a copy.
func Default() []byte { return append([]byte(nil), defaultYAML...) }

// lookupSource returns the source of path or of its closest parent.
func lookupSource(sources map[string]string, path string) string {
	for path != "" {
		if s, ok := sources[path]; ok {
			return s
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ""
}
