package proxywasm

import (
	"slices"
	"testing"
)

// TestParsePath: a property path's key (segments joined by dots) and its
// segments, for both separators.
func TestParsePath(t *testing.T) {
	tests := []struct {
		name, path, key string
		parts           []string
	}{
		{"NUL", "request\x00path", "request.path", []string{"request", "path"}},
		{"NUL, trailing NULs", "request\x00path\x00\x00", "request.path", []string{"request", "path"}},
		{"NUL header with dots", "request\x00headers\x00x.y", "request.headers.x.y", []string{"request", "headers", "x.y"}},
		{"NUL, more than three", "a\x00b\x00c\x00d\x00e", "a.b.c.d.e", []string{"a", "b", "c", "d.e"}},
		{"dots, at most three", "request.headers.x.y", "request.headers.x.y", []string{"request", "headers", "x.y"}},
		{"one segment", "plugin_name", "plugin_name", []string{"plugin_name"}},
		{"empty", "", "", []string{""}},
		{"strata, dots", "strata.req.hdr(host)", "strata.req.hdr(host)", []string{"strata", "req.hdr(host)"}},
		{"strata, NUL", "strata\x00req\x00hdr(host)", "strata.req.hdr(host)", []string{"strata", "req.hdr(host)"}},
		{"strata alone", "strata", "strata", []string{"strata"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parsePath([]byte(tt.path))
			if p.key != tt.key || !slices.Equal(p.parts(), tt.parts) {
				t.Errorf("parsePath(%q) = %q %q, want %q %q", tt.path, p.key, p.parts(), tt.key, tt.parts)
			}
		})
	}
}
