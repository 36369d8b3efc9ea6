package config

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The configuration reference (docs/config-reference.md) is generated from
// the decoder itself: Reference decodes a probe configuration with a
// recorder attached, and every accessor the decoder calls (str, duration,
// integer, oneOf, …) records the key's path, its type and the default it
// was given. A key added to the decoder appears in the reference with its
// type and default without anyone writing them; what the code cannot say —
// the meaning and the HAProxy equivalent — comes from keyTexts
// (reference_text.go), and TestReference_Complete fails for a key that has
// none, or for text about a key the decoder no longer reads.
//
//go:generate go run ./internal/genref -o ../../docs/config-reference.md

// KeyRef describes one configuration key.
type KeyRef struct {
	// Path is the key's path with NAME for the name of a frontend,
	// backend, server, defaults section, stick table, plugin or ACL:
	// "frontends.NAME.timeouts.client".
	Path    string
	Type    string // as the decoder reads it: "duration", "integer, from 0 to 100", …
	Default string // "" when none
	Meaning string
	HAProxy string // the HAProxy equivalent; "—" when none
	// prose says Default is a description ("the interval"), not a value.
	prose bool
}

// recorder collects the keys read by a decoder.
type recorder struct {
	keys map[string]*recorded
}

type recorded struct {
	typ, def string
	prio     int // how specific typ is: 0 read, 1 container, 2 typed accessor
}

// note records the key at path, read as typ with default def; a more
// specific reading (higher prio) replaces a less specific one. A no-op
// unless the decoder records.
func (d *decoder) note(path, typ, def string, prio int) {
	if d.rec == nil {
		return
	}
	path = indexRE.ReplaceAllString(path, "[]")
	r := d.rec.keys[path]
	if r == nil {
		r = &recorded{prio: -1}
		d.rec.keys[path] = r
	}
	if prio > r.prio {
		r.typ, r.def, r.prio = typ, def, prio
	}
}

// indexRE matches the index of a list element in a path: the reference
// speaks of any element, "certificates[].cert".
var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

// refName stands for any name in a reference path.
const refName = "NAME"

// probe is the configuration the recorder decodes: one of every named
// thing, and a mapping wherever a mapping opens more keys (a TLS block, a
// health check), so that the decoder reads every key it knows.
func probe() map[string]any {
	type m = map[string]any
	return m{
		"global":   m{},
		"defaults": m{refName: m{"health_check": m{"expect": m{}}, "forward_for": m{}}},
		"frontends": m{refName: m{
			"tls":         m{"certificates": []any{m{}}, "client_auth": m{}},
			"h2":          m{},
			"forward_for": m{},
			"acls":        m{refName: "always_true"},
		}},
		"backends": m{refName: m{
			"health_check": m{"type": "http", "expect": m{}},
			"stick":        m{},
			"forward_for":  m{},
			"acls":         m{refName: "always_true"},
			"servers":      m{refName: m{"tls": m{}}},
		}},
		"stick_tables": m{refName: m{"shared": m{"redis": m{"sentinel": m{}}}}},
		"plugins":      m{refName: m{"env": m{}, "config": m{}}},
	}
}

// Reference returns every configuration key the decoder reads, sorted by
// path, with its type, default, meaning and HAProxy equivalent.
func Reference() []KeyRef {
	st := newState()
	d := &decoder{st: st, broken: map[string]bool{}, rec: &recorder{keys: map[string]*recorded{}}}
	d.config(probe()) // the probe's errors (no bind, no certificate file) do not matter
	out := make([]KeyRef, 0, len(d.rec.keys))
	for p, r := range d.rec.keys {
		k := KeyRef{Path: p, Type: r.typ, Default: r.def}
		if t, ok := textOf(p); ok {
			k.Meaning, k.HAProxy = t.meaning, t.haproxy
			if t.typ != "" {
				k.Type = t.typ
			}
			if t.def != "" {
				k.Default, k.prose = t.def, true
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return refLess(out[i].Path, out[j].Path) })
	return out
}

// textOf returns the text of the key at path. A key of a defaults section
// that has none of its own takes that of the frontend or backend key it
// is the default of.
func textOf(path string) (keyText, bool) {
	if t, ok := keyTexts[path]; ok {
		return t, true
	}
	rest, ok := strings.CutPrefix(path, "defaults."+refName+".")
	if !ok {
		return keyText{}, false
	}
	for _, side := range []string{"frontends.", "backends."} {
		if t, ok := keyTexts[side+refName+"."+rest]; ok {
			t.meaning = "Default of " + side + refName + "." + rest + ": " + lowerFirst(t.meaning)
			return t, true
		}
	}
	return keyText{}, false
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// formatDuration writes d as a configuration would: 1h rather than 1h0m0s,
// 0 rather than 0s.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// refLess orders paths by section as a configuration is written, then
// alphabetically.
func refLess(a, b string) bool {
	sa, _, _ := strings.Cut(a, ".")
	sb, _, _ := strings.Cut(b, ".")
	if sa != sb {
		return sectionRank(sa) < sectionRank(sb)
	}
	return a < b
}

func sectionRank(s string) int {
	for i, k := range topKeys {
		if k == s {
			return i
		}
	}
	return len(topKeys)
}

// rangeText says which whole numbers are accepted.
func rangeText(lo, hi int64, format func(int64, int) string) string {
	if hi == math.MaxInt32 || hi == math.MaxInt64 {
		return "at least " + format(lo, 10)
	}
	return "from " + format(lo, 10) + " to " + format(hi, 10)
}

// ReferenceMarkdown renders Reference as docs/config-reference.md.
func ReferenceMarkdown() []byte {
	var b strings.Builder
	b.WriteString(`# strata configuration reference

<!-- Generated from core/config's decoder by ` + "`make docs`" + ` (go generate ./core/config). Do not edit. -->

Every key strata reads, by path. ` + "`NAME`" + ` stands for the name of a
frontend, backend, server, defaults section, stick table, plugin or ACL.
Durations are Go durations (` + "`5s`, `1m30s`" + `) or bare milliseconds;
sizes take k, m and g suffixes (powers of 1024). Any key can also be set
from the environment (` + "`STRATA_FRONTENDS__WEB__TIMEOUTS__CLIENT=5s`" + `) or
with ` + "`--set frontends.web.timeouts.client=5s`" + `. Keys that start
with ` + "`x-`" + ` at the top level are free (to hold YAML anchors).
`)
	section := ""
	for _, k := range Reference() {
		top, _, _ := strings.Cut(k.Path, ".")
		if top != section {
			section = top
			fmt.Fprintf(&b, "\n## %s\n\n| key | type | default | meaning | HAProxy |\n|---|---|---|---|---|\n", section)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Path, cell(k.Type), defaultCell(k), cell(k.Meaning), cell(k.HAProxy))
	}
	return []byte(b.String())
}

func cell(s string) string {
	if s == "" {
		return ""
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func defaultCell(k KeyRef) string {
	if k.Default == "" || k.prose {
		return cell(k.Default)
	}
	return "`" + strings.ReplaceAll(k.Default, "|", `\|`) + "`"
}
