package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// state is what the layers of a load share: the errors found so far, the
// order in which keys were first written (koanf keeps maps, which have no
// order) and where each value was set.
type state struct {
	errs []*Error
	// fatal is set when a layer could not be read or parsed at all: then
	// decoding would only report the consequences, so Load stops before.
	fatal bool
	// order maps a path to the keys of the mapping at that path, in the
	// order they were first written across all layers.
	order map[string][]string
	seen  map[string]map[string]bool
	// sources maps a path to where its value was set.
	sources map[string]string
}

func newState() *state {
	return &state{
		order:   map[string][]string{},
		seen:    map[string]map[string]bool{},
		sources: map[string]string{},
	}
}

func (s *state) add(e *Error) { s.errs = append(s.errs, e) }

// addKey records that key was written in the mapping at parent.
func (s *state) addKey(parent, key string) {
	m := s.seen[parent]
	if m == nil {
		m = map[string]bool{}
		s.seen[parent] = m
	}
	if !m[key] {
		m[key] = true
		s.order[parent] = append(s.order[parent], key)
	}
}

// setSource records that the value at path was set by src. When override
// is set, whatever was recorded below path is forgotten: the new value
// replaced it.
func (s *state) setSource(path, src string, override bool) {
	if override {
		for p := range s.sources {
			if len(p) > len(path) && strings.HasPrefix(p, path) && (p[len(path)] == '.' || p[len(path)] == '[') {
				delete(s.sources, p)
			}
		}
	}
	s.sources[path] = src
}

// keys returns the keys of m in the order they were written at path; keys
// with no recorded order (none, unless a bug) follow, sorted.
func (s *state) keys(path string, m map[string]any) []string {
	out := make([]string, 0, len(m))
	done := make(map[string]bool, len(m))
	for _, k := range s.order[path] {
		if _, ok := m[k]; ok && !done[k] {
			out = append(out, k)
			done[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// quote quotes s for a message.
func quote(s string) string { return strconv.Quote(s) }

// describe names the YAML kind of v for a message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}
