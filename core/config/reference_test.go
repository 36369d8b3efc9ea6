package config

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const referenceFile = "../../docs/config-reference.md"

// TestReference_Fresh fails when docs/config-reference.md is not what the
// decoder generates today.
func TestReference_Fresh(t *testing.T) {
	got, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v: run `make docs` (go generate ./core/config)", err)
	}
	if want := ReferenceMarkdown(); !bytes.Equal(got, want) {
		t.Fatalf("docs/config-reference.md is stale: run `make docs` (go generate ./core/config) and commit the result")
	}
}

// TestReference_Complete: every key the decoder reads has a meaning and
// an HAProxy equivalent (or "—"), and every text in keyTexts is about a
// key the decoder still reads.
func TestReference_Complete(t *testing.T) {
	ref := Reference()
	known := map[string]bool{}
	for _, k := range ref {
		known[k.Path] = true
		if k.Type == "" {
			t.Errorf("%s: no type: give it one in keyTexts (typ), the decoder reads it by hand", k.Path)
		}
		if k.Meaning == "" || k.HAProxy == "" {
			t.Errorf("%s: no meaning or HAProxy equivalent: add it to keyTexts in core/config/reference_text.go", k.Path)
		}
	}
	for p := range keyTexts {
		if !known[p] {
			t.Errorf("keyTexts has %s, which the decoder does not read: remove it or fix the path", p)
		}
	}
	for _, want := range []string{"frontends.NAME.timeouts.client", "defaults.NAME.balance", "backends.NAME.servers.NAME.weight", "frontends.NAME.tls.certificates[].cert"} {
		if !known[want] {
			t.Errorf("the reference lacks %s", want)
		}
	}
}

// TestReference_TypesAndDefaults: types and defaults come from the
// decoder's own calls.
func TestReference_TypesAndDefaults(t *testing.T) {
	byPath := map[string]KeyRef{}
	for _, k := range Reference() {
		byPath[k.Path] = k
	}
	tests := []struct {
		path, typ, def string
	}{
		{"frontends.NAME.timeouts.client", "duration", "30s"},
		{"backends.NAME.timeouts.tunnel", "duration", "1h"},
		{"backends.NAME.retries", "integer, from 0 to 100", "3"},
		{"global.tune.bufsize", "size, from 1KiB to 64MiB", "16KiB"},
		{"frontends.NAME.mode", "one of: http, tcp", "http"},
		{"defaults.NAME.timeouts.server", "duration", "30s"},
		{"backends.NAME.servers.NAME.backup", "boolean", "false"},
	}
	for _, tt := range tests {
		k := byPath[tt.path]
		if k.Type != tt.typ || k.Default != tt.def {
			t.Errorf("%s: type %q default %q, want %q %q", tt.path, k.Type, k.Default, tt.typ, tt.def)
		}
	}
}

// TestReference_CoversWrittenKeys: every key written in the example
// configurations and in this package's test configurations is in the
// reference. The probe that Reference decodes opens the branches the
// decoder has today; a new branch it does not open shows up here as soon
// as an example or a test uses the key.
func TestReference_CoversWrittenKeys(t *testing.T) {
	known := map[string]bool{}
	for _, k := range Reference() {
		known[k.Path] = true
	}
	files, _ := filepath.Glob("../../examples/configs/*.yaml")
	more, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no configuration found")
	}
	missing := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tree map[string]any
		if err := yaml.Unmarshal(b, &tree); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range writtenPaths("", tree) {
			if !known[p] {
				missing[p] = append(missing[p], filepath.Base(f))
			}
		}
	}
	var lines []string
	for p, fs := range missing {
		lines = append(lines, p+" (in "+strings.Join(fs, ", ")+")")
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		t.Fatalf("keys written but not in the reference (open their branch in probe(), reference.go):\n%s", strings.Join(lines, "\n"))
	}
}

// namedLevel are the mappings whose keys are names, by parent path.
func namedLevel(parent string) bool {
	switch parent {
	case "defaults", "frontends", "backends", "stick_tables", "plugins",
		"backends.NAME.servers", "frontends.NAME.acls", "backends.NAME.acls",
		"plugins.NAME.env":
		return true
	}
	return false
}

// writtenPaths returns the reference paths of the keys written in v.
func writtenPaths(parent string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if parent == "" && strings.HasPrefix(k, "x-") {
				continue
			}
			if namedLevel(parent) {
				if parent == "frontends.NAME.acls" || parent == "backends.NAME.acls" || parent == "plugins.NAME.env" {
					continue // values are conditions or strings
				}
				out = append(out, writtenPaths(joinPath(parent, refName), e)...)
				continue
			}
			p := joinPath(parent, k)
			out = append(out, p)
			if p == "plugins.NAME.config" {
				continue // free-form, the plugin's own
			}
			out = append(out, writtenPaths(p, e)...)
		}
	case []any:
		for _, e := range x {
			if _, ok := e.(map[string]any); ok {
				out = append(out, writtenPaths(parent+"[]", e)...)
			}
		}
	}
	return out
}
