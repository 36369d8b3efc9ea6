package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder turns the merged tree into typed structs. Every accessor takes
// the key it reads, which both marks the key as known (what remains is
// reported as unknown, with a suggestion) and gives each error its path.
type decoder struct {
	st *state
	// broken holds the paths of named things whose value was not a
	// mapping: they are kept (so references to them resolve) but their
	// own required keys are not reported again.
	broken map[string]bool
	// binds are the valid bind addresses, with their paths, in file order.
	binds []bound
	// dir is the directory relative file names are resolved against
	// (Config.Dir), for the files read while decoding (TLS).
	dir string
	// sections are the defaults sections by name; builtin holds the
	// built-in values, for frontends and backends that take no section
	// (inherit.go).
	sections map[string]*DefaultsSection
	builtin  *DefaultsSection
	// rec, when set, records every key the decoder reads, with its type
	// and default: the configuration reference (reference.go).
	rec *recorder
}

func (d *decoder) errorf(path, fix, format string, args ...any) {
	d.st.add(&Error{Path: path, Msg: fmt.Sprintf(format, args...), Fix: fix, Source: lookupSource(d.st.sources, path)})
}

// object is one mapping of the configuration being decoded.
type object struct {
	d     *decoder
	path  string
	m     map[string]any
	known []string
	// elsewhere maps keys that belong to another section to a fix.
	elsewhere map[string]string
	bad       bool // not a mapping; reported
}

func (d *decoder) object(path string, v any) *object {
	o := &object{d: d, path: path}
	switch m := v.(type) {
	case nil:
	case map[string]any:
		o.m = m
	default:
		d.errorf(path, "write key: value pairs under it", "expected a mapping, got %s", describe(v))
		o.bad = true
	}
	return o
}

// get marks key as known and returns its value (nil when absent or null)
// and its path.
func (o *object) get(key string) (any, string) {
	o.known = append(o.known, key)
	p := joinPath(o.path, key)
	o.d.note(p, "", "", 0)
	return o.m[key], p
}

// has reports whether key is set to something other than null, without
// marking it known.
func (o *object) has(key string) bool { return o.m[key] != nil }

// done reports the keys nobody asked for.
func (o *object) done() {
	if o.m == nil {
		return
	}
	known := make(map[string]bool, len(o.known))
	for _, k := range o.known {
		known[k] = true
	}
	for _, k := range o.d.st.keys(o.path, o.m) {
		if !known[k] {
			o.unknown(k)
		}
	}
}

// unknown reports key as unknown, with the likeliest fix.
func (o *object) unknown(k string) {
	fix := o.elsewhere[k]
	if fix == "" {
		if s := suggest(k, o.known); s != "" {
			fix = "did you mean " + quote(s) + "?"
		} else {
			valid := append([]string(nil), o.known...)
			sort.Strings(valid)
			valid = slices.Compact(valid) // a key may be read twice
			fix = "remove it; valid keys here: " + strings.Join(valid, ", ")
		}
	}
	o.d.errorf(joinPath(o.path, k), fix, "unknown key")
}

// sub returns the mapping at key (empty when absent).
func (o *object) sub(key string) *object {
	v, p := o.get(key)
	o.d.note(p, "mapping", "", 1)
	return o.d.object(p, v)
}

// scalar returns the text of a single value.
func (o *object) scalar(key string) (s, path string, ok bool) {
	v, p := o.get(key)
	if v == nil {
		return "", p, false
	}
	s, ok = o.d.scalar(p, v)
	return s, p, ok
}

func (d *decoder) scalar(path string, v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	d.errorf(path, "write a single value", "expected a single value, got %s", describe(v))
	return "", false
}

// str returns the string at key, trimmed, or def.
func (o *object) str(key, def string) string {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "string", def, 2)
	}
	s, _, ok := o.scalar(key)
	if !ok {
		return def
	}
	return strings.TrimSpace(s)
}

// oneOf returns the value at key, which must be one of allowed (compared
// without case), or def.
func (o *object) oneOf(key, def string, allowed ...string) string {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "one of: "+strings.Join(allowed, ", "), def, 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	v := strings.ToLower(strings.TrimSpace(s))
	for _, a := range allowed {
		if v == a {
			return a
		}
	}
	o.d.errorf(p, didYouMean(v, allowed), "invalid value %s", quote(s))
	return def
}

func (o *object) mode(key string, def Mode) Mode {
	if o.oneOf(key, def.String(), "http", "tcp") == "tcp" {
		return ModeTCP
	}
	return ModeHTTP
}

func (o *object) boolean(key string, def bool) bool {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "boolean", strconv.FormatBool(def), 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	b, ok := parseBool(s)
	if !ok {
		o.d.errorf(p, "write true or false", "invalid boolean %s", quote(s))
		return def
	}
	return b
}

// integer returns the whole number at key, in [lo, hi], or def.
func (o *object) integer(key string, def, lo, hi int) int {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "integer, "+rangeText(int64(lo), int64(hi), strconv.FormatInt), strconv.Itoa(def), 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	t := strings.TrimSpace(s)
	n, err := strconv.Atoi(t)
	if err != nil || !isDigits(strings.TrimPrefix(t, "-")) {
		o.d.errorf(p, rangeFix(int64(lo), int64(hi), "a whole number"), "invalid number %s", quote(s))
		return def
	}
	if n < lo || n > hi {
		fix := rangeFix(int64(lo), int64(hi), "a value")
		if n > hi { // "at least lo" would not say what is wrong
			fix = fmt.Sprintf("write a value from %d to %d", lo, hi)
		}
		o.d.errorf(p, fix, "%d is out of range", n)
		return def
	}
	return n
}

func rangeFix(lo, hi int64, what string) string {
	if hi == math.MaxInt32 || hi == math.MaxInt64 {
		return fmt.Sprintf("write %s of at least %d", what, lo)
	}
	return fmt.Sprintf("write %s from %d to %d", what, lo, hi)
}

// size returns the size at key (see parseSize), in [lo, hi], or def.
func (o *object) size(key string, def, lo, hi int64) int64 {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "size, "+rangeText(lo, hi, func(n int64, _ int) string { return formatSize(n) }), formatSize(def), 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	n, ok := parseSize(s)
	if !ok {
		o.d.errorf(p, "write a whole number with an optional suffix k, m or g (powers of 1024), e.g. 16k or 32MiB", "invalid size %s", quote(s))
		return def
	}
	if n < lo || n > hi {
		o.d.errorf(p, fmt.Sprintf("write a size from %s to %s", formatSize(lo), formatSize(hi)), "%s is out of range", strings.TrimSpace(s))
		return def
	}
	return n
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

const durationFix = "write a duration such as 500ms, 5s, 1m30s or 1h, or a number of milliseconds"

// duration returns the duration at key, at least lo, or def; set tells
// whether the key was given.
func (o *object) duration(key string, def, lo time.Duration) (d time.Duration, set bool) {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "duration", formatDuration(def), 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def, false
	}
	d, ok = parseDuration(s)
	if !ok && strings.HasPrefix(strings.TrimSpace(s), "-") {
		o.d.errorf(p, "write a duration of 0 or more", "negative duration %s", quote(s))
		return def, false
	}
	if !ok {
		o.d.errorf(p, durationFix, "invalid duration %s", quote(s))
		return def, false
	}
	if d < lo {
		if lo == 1 {
			o.d.errorf(p, "write a duration greater than 0, e.g. "+def.String(), "must be greater than 0")
		} else {
			o.d.errorf(p, "write a duration of at least "+lo.String(), "%s is too short", d)
		}
		return def, false
	}
	return d, true
}

// list returns the list at key. A single string is split at commas, so
// that `bind: ":80, :81"` and STRATA_…__BIND=":80,:81" both work.
func (o *object) list(key string) []string {
	v, p := o.get(key)
	return o.d.list(p, v)
}

func (d *decoder) list(path string, v any) []string {
	d.note(path, "list of strings", "", 1)
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			ep := indexPath(path, i)
			if e == nil {
				d.errorf(ep, "remove it or write a value", "empty value")
				continue
			}
			s, ok := d.scalar(ep, e)
			if !ok {
				continue
			}
			if s = strings.TrimSpace(s); s == "" {
				d.errorf(ep, "remove it or write a value", "empty value")
				continue
			}
			out = append(out, s)
		}
		return out
	default:
		s, ok := d.scalar(path, v)
		if !ok {
			return nil
		}
		var out []string
		for _, part := range splitTopLevel(s) {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out
	}
}

// splitTopLevel splits a comma-separated list at the commas that are not
// inside parentheses, so that "conn_cur, gpc_rate(2,10s)" is two items.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// rules returns the rule list at key. A single string is one rule (rules
// contain commas: `req.hdr(host),lower`).
func (o *object) rules(key string) Rules {
	v, p := o.get(key)
	return o.d.rules(p, v)
}

func (d *decoder) rules(path string, v any) Rules {
	d.note(path, "list of rules", "", 2)
	r := Rules{Path: path}
	var items []any
	switch x := v.(type) {
	case nil:
		return r
	case []any:
		items = x
	case string:
		if strings.TrimSpace(x) == "" {
			d.errorf(path, "remove the key or write a rule", "empty rule")
			return r
		}
		r.List = []string{strings.TrimSpace(x)}
		return r
	default:
		d.errorf(path, "write a list of rules, one string each", "expected a list of rules, got %s", describe(v))
		return r
	}
	for i, e := range items {
		ep := indexPath(path, i)
		s, ok := e.(string)
		switch {
		case e == nil || ok && strings.TrimSpace(s) == "":
			d.errorf(ep, "remove it or write a rule", "empty rule")
		case !ok:
			if _, isMap := e.(map[string]any); isMap {
				d.errorf(ep, `quote the rule: an unquoted ": " makes YAML read a mapping`, "expected a rule, got a mapping")
			} else {
				d.errorf(ep, "write the rule as one string", "expected a rule, got %s", describe(e))
			}
		default:
			r.List = append(r.List, strings.TrimSpace(s))
		}
	}
	return r
}

// named returns the names of the mapping at key in the order written,
// with their values. The mapping is optional; names are checked.
func (o *object) named(key string) (names []string, values map[string]any, path string) {
	v, p := o.get(key)
	o.d.note(p, "mapping of names", "", 1)
	switch m := v.(type) {
	case nil:
		return nil, nil, p
	case map[string]any:
		for _, name := range o.d.st.keys(p, m) {
			if !validName(name) {
				o.d.errorf(joinPath(p, name), nameFix, "invalid name %s", quote(name))
			}
			names = append(names, name)
		}
		return names, m, p
	case []any:
		o.d.errorf(p, "write a mapping of names, e.g. "+key+": { NAME: { … } }", "expected a mapping of names, got a list")
	default:
		o.d.errorf(p, "write a mapping of names, e.g. "+key+": { NAME: { … } }", "expected a mapping of names, got %s", describe(v))
	}
	return nil, nil, p
}

// entity returns the object of a named thing (a frontend, a server, …).
func (d *decoder) entity(path string, v any) *object {
	o := d.object(path, v)
	if o.bad {
		d.broken[path] = true
	}
	return o
}

// acls decodes `acls: { name: "cond" | ["cond", …] }`.
func (o *object) acls(key string) (acls map[string][]string, order []string, path string) {
	names, values, p := o.named(key)
	o.d.note(p, "mapping of names to conditions", "", 2)
	if len(names) == 0 {
		return nil, nil, p
	}
	acls = make(map[string][]string, len(names))
	for _, name := range names {
		np := joinPath(p, name)
		var conds []string
		switch x := values[name].(type) {
		case nil:
		case string:
			if s := strings.TrimSpace(x); s != "" {
				conds = []string{s}
			}
		case []any:
			conds = o.d.list(np, x)
		default:
			o.d.errorf(np, "write the condition as a string, or a list of strings", "expected a condition, got %s", describe(x))
			continue
		}
		if len(conds) == 0 {
			o.d.errorf(np, "write a condition, e.g. "+name+`: "path_beg /admin"`, "empty ACL")
			continue
		}
		acls[name] = conds
		order = append(order, name)
	}
	return acls, order, p
}

// forwardFor decodes `forward_for: true | false | { header, except }`.
func (o *object) forwardFor(key string) *ForwardFor {
	v, p := o.get(key)
	o.d.note(p, "boolean, or mapping { header, except }", "false", 2)
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		ff := o.d.object(p, x)
		f := &ForwardFor{Header: ff.str("header", DefaultForwardForHeader)}
		if !isToken(f.Header) {
			o.d.errorf(joinPath(p, "header"), "write a header name, e.g. x-forwarded-for", "invalid header name %s", quote(f.Header))
		}
		ev, ep := ff.get("except")
		for i, s := range o.d.list(ep, ev) {
			pp := ep
			if _, isList := ev.([]any); isList {
				pp = indexPath(ep, i)
			}
			pfx, ok := parsePrefix(s)
			if !ok {
				o.d.errorf(pp, "write an address or a CIDR prefix, e.g. 127.0.0.0/8", "invalid prefix %s", quote(s))
				continue
			}
			f.Except = append(f.Except, pfx)
		}
		ff.done()
		return f
	default:
		s, ok := o.d.scalar(p, v)
		if !ok {
			return nil
		}
		b, ok := parseBool(s)
		if !ok {
			o.d.errorf(p, "write true, false, or { header: NAME, except: [PREFIX, …] }", "invalid value %s", quote(s))
			return nil
		}
		if !b {
			return nil
		}
		return &ForwardFor{Header: DefaultForwardForHeader}
	}
}
