package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"go.yaml.in/yaml/v3"
)

// Sources are the layers of a configuration, applied in this order, each
// overriding the one before: YAML files, environment, --set flags.
type Sources struct {
	// Files are YAML files, merged in order: a later file overrides the
	// keys it sets and adds what it defines; a list replaces a list.
	Files []string
	// YAML is an inline configuration (e.g. Default()), used when Files is
	// empty.
	YAML []byte
	// Env is an os.Environ()-style list; only STRATA_ entries are used
	// (see the package documentation for their syntax).
	Env []string
	// Sets are "key.path=value" overrides, as given to --set.
	Sets []string
}

const (
	envPrefix = "STRATA_"
	// delim is koanf's key delimiter. Names may contain '.', so koanf
	// works with a character no key can hold (the YAML parser refuses
	// control characters in keys).
	delim = "\x1f"
	// inlineName names inline YAML in messages.
	inlineName = "(inline)"
)

// topKeys are the sections of a configuration.
var topKeys = []string{"global", "defaults", "frontends", "backends", "stick_tables", "plugins"}

// Load reads, merges, decodes and validates a configuration. On failure it
// returns nil and an *Errors listing every problem found, in file order
// as far as possible. When a file cannot be read or parsed, or an override
// is malformed, only those errors are listed: checking what was left would
// mostly report their consequences. Load may be called from several
// goroutines at once.
func Load(src Sources) (*Config, error) {
	cfg, err := LoadAll(src)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadAll is Load for a command that reports every error in one pass
// (strata check, strata run): when the files parse but the configuration
// has errors, it returns what was decoded with the *Errors, so that the
// caller can also check what is checked after Load (rules, plugins, server
// addresses) and report those errors with these. A part that has an error
// is decoded as far as it could be; errors the caller finds in it are
// consequences (see Errors.Covers). The configuration is nil when a file
// cannot be read or parsed, or an override is malformed.
func LoadAll(src Sources) (*Config, error) {
	st := newState()
	k := koanf.New(delim)
	dir := ""
	if len(src.Files) > 0 {
		for _, name := range src.Files {
			if err := k.Load(file.Provider(name), &yamlParser{st: st, name: name}); err != nil {
				st.fatal = true
				if !errors.Is(err, errParse) {
					st.add(readError(name, err))
				}
			}
		}
		dir = src.Files[0]
		if a, err := filepath.Abs(dir); err == nil {
			dir = a
		}
		dir = filepath.Dir(dir)
	} else if len(src.YAML) > 0 {
		if err := k.Load(rawbytes.Provider(src.YAML), &yamlParser{st: st, name: inlineName}); err != nil {
			st.fatal = true
		}
	}
	loadEnv(k, st, src.Env)
	loadSets(k, st, src.Sets)
	if st.fatal {
		return nil, &Errors{List: st.errs}
	}

	d := &decoder{st: st, broken: map[string]bool{}, dir: dir}
	cfg := d.config(k.Raw())
	cfg.Dir = dir
	cfg.sources = st.sources
	cfg.index()
	if len(st.errs) > 0 {
		return cfg, &Errors{List: st.errs}
	}
	return cfg, nil
}

func readError(name string, err error) *Error {
	e := &Error{Path: name, Msg: err.Error(), Fix: "check the file name and its permissions", Source: name}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		e.Msg = "cannot read the file: " + pe.Err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		e.Msg = "file not found"
		e.Fix = "check the file name"
	}
	return e
}

// loadEnv applies the STRATA_ variables of environ.
//
// A variable names a key path with "__" between keys, since keys contain
// single underscores: STRATA_GLOBAL__ADMIN__TOKEN is global.admin.token.
// Keys are matched without case, and a name is matched with '-' and '.'
// read as '_' when that is unambiguous (STRATA_FRONTENDS__WEB_1__BIND sets
// frontends.web-1.bind). A variable with no "__" is not a key path and is
// left to the command (STRATA_CONFIG, say), unless it starts with a
// section name and '_', which is a mistake reported as such.
func loadEnv(k *koanf.Koanf, st *state, environ []string) {
	if len(environ) == 0 {
		return
	}
	tree := k.Raw()
	set := map[string]string{} // path -> variable
	transform := func(name, value string) (string, any) {
		rest := name[len(envPrefix):]
		src := "env " + name
		if !strings.Contains(rest, "__") {
			low := strings.ToLower(rest)
			for _, t := range topKeys {
				if strings.HasPrefix(low, t+"_") {
					st.add(&Error{Path: name, Msg: "not a key path: keys are separated by __ (two underscores)",
						Fix: "write " + envPrefix + strings.ToUpper(t) + "__" + strings.ToUpper(low[len(t)+1:]), Source: src})
					return "", nil
				}
			}
			if !contains(topKeys, low) {
				return "", nil
			}
		}
		parts := strings.Split(rest, "__")
		for _, p := range parts {
			if p == "" {
				st.add(&Error{Path: name, Msg: "empty key in the variable name", Fix: "separate keys with exactly two underscores", Source: src})
				return "", nil
			}
		}
		segs := resolvePath(tree, parts, envMatch, false)
		path := strings.Join(segs, ".")
		v, ok := overrideValue(st, value, path, segs, src)
		if !ok {
			return "", nil
		}
		set[path] = name
		return strings.Join(segs, delim), v
	}
	p := env.Provider(delim, env.Opt{
		Prefix:        envPrefix,
		TransformFunc: transform,
		EnvironFunc:   func() []string { return environ },
	})
	if err := k.Load(p, nil); err != nil {
		st.add(&Error{Path: "env", Msg: err.Error()})
		st.fatal = true
	}
	// Two variables of which one sets a parent of the other: which wins
	// would depend on the order of the environment.
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for q := p; ; {
			i := strings.LastIndexByte(q, '.')
			if i < 0 {
				break
			}
			q = q[:i]
			if other, ok := set[q]; ok {
				st.add(&Error{Path: p, Msg: "set by both " + set[p] + " and " + other, Fix: "set the value in one variable only", Source: "env " + set[p]})
				st.fatal = true
				break
			}
		}
	}
}

// indexSuffix matches a trailing list index: "http_request[2]".
var indexSuffix = regexp.MustCompile(`^(.+)\[(\d+)\]$`)

// loadSets applies the "key.path=value" overrides in order. Keys are split
// at dots, but a name that holds dots (a backend "api.v2") is matched
// whole when it exists. A trailing [i] replaces element i of a list (or
// appends when i is its length).
func loadSets(k *koanf.Koanf, st *state, sets []string) {
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			st.add(&Error{Path: s, Msg: "not a key.path=value override", Fix: "write e.g. --set frontends.web.timeouts.client=5s", Source: "--set"})
			st.fatal = true
			continue
		}
		idx := -1
		if m := indexSuffix.FindStringSubmatch(key); m != nil {
			key = m[1]
			n, err := strconv.Atoi(m[2])
			if err != nil {
				n = 1 << 30
			}
			idx = n
		}
		parts := strings.Split(key, ".")
		if contains(parts, "") {
			st.add(&Error{Path: key, Msg: "empty key in the path", Fix: "separate keys with single dots", Source: "--set"})
			st.fatal = true
			continue
		}
		tree := k.Raw()
		segs := resolvePath(tree, parts, exactMatch, true)
		path := strings.Join(segs, ".")
		if idx < 0 {
			v, ok := overrideValue(st, value, path, segs, "--set")
			if !ok {
				continue
			}
			must(k.Load(confmap.Provider(map[string]any{strings.Join(segs, delim): v}, delim), nil))
			continue
		}
		list, isList := lookup(tree, segs).([]any)
		if !isList {
			st.add(&Error{Path: path, Msg: "not a list, so [" + strconv.Itoa(idx) + "] cannot be set", Fix: "set the whole value without an index", Source: "--set"})
			st.fatal = true
			continue
		}
		if idx > len(list) {
			st.add(&Error{Path: indexPath(path, idx), Msg: "index out of range: the list has " + strconv.Itoa(len(list)) + " elements",
				Fix: "use an index from 0 to " + strconv.Itoa(len(list)) + " (the length appends)", Source: "--set"})
			st.fatal = true
			continue
		}
		ip := indexPath(path, idx)
		v, ok := overrideValue(st, value, ip, segs, "--set")
		if !ok {
			continue
		}
		list = append(list[:idx:idx], append([]any{v}, list[min(idx+1, len(list)):]...)...)
		must(k.Load(confmap.Provider(map[string]any{strings.Join(segs, delim): list}, delim), nil))
	}
}

// must panics on an error that cannot happen: a confmap provider and no
// parser.
func must(err error) {
	if err != nil {
		panic("config: " + err.Error())
	}
}

// overrideValue converts the value of an override set at path. A value
// written as a YAML flow list or mapping ("[a, b]", "{client: 5s}") is
// parsed as such; anything else is a string, which the field it lands in
// converts (a string given for a list of addresses is split at commas).
// It records the override's key order and source.
func overrideValue(st *state, raw, path string, segs []string, src string) (any, bool) {
	parent := ""
	for i, s := range segs {
		st.addKey(parent, s)
		parent = strings.Join(segs[:i+1], ".")
	}
	st.setSource(path, src, true)
	t := strings.TrimSpace(raw)
	if !(strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") || strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")) {
		return raw, true
	}
	doc, serr := parseDocument([]byte(t))
	if serr != nil {
		st.add(&Error{Path: path, Msg: "invalid YAML value: " + serr.msg, Fix: `write a flow list or mapping, e.g. "[a, b]" or "{key: value}"`, Source: src})
		st.fatal = true
		return nil, false
	}
	c := &converter{st: st, src: func(*yaml.Node) string { return src }, budget: valueBudget(doc)}
	typed := len(segs) >= 3 && segs[0] == "plugins" && segs[2] == "config"
	v := c.value(doc, path, segs, typed)
	if c.failed {
		st.fatal = true
		return nil, false
	}
	return v, true
}

type matcher func(m map[string]any, part string) (string, bool)

// resolvePath maps the parts of an override's key to the keys of tree,
// so that an override reaches what the file wrote. A part with no match
// is kept (it adds a key, or is reported as unknown when decoding). With
// span, a name that holds dots may span several parts (--set keys are
// split at dots).
func resolvePath(tree map[string]any, parts []string, match matcher, span bool) []string {
	var out []string
	cur := tree
	for i := 0; i < len(parts); i++ {
		key, n := parts[i], 1
		found := false
		if span && cur != nil {
			for j := len(parts); j > i+1 && !found; j-- {
				if k, ok := match(cur, strings.Join(parts[i:j], ".")); ok {
					key, n, found = k, j-i, true
				}
			}
		}
		if !found {
			if k, ok := match(cur, parts[i]); ok {
				key = k
			} else if k, ok := match(nil, parts[i]); ok {
				key = k
			}
		}
		out = append(out, key)
		i += n - 1
		next, _ := cur[key].(map[string]any)
		cur = next
	}
	return out
}

func exactMatch(m map[string]any, part string) (string, bool) {
	if m == nil {
		return "", false
	}
	_, ok := m[part]
	return part, ok
}

// envMatch matches a part of a variable name: exactly in lower case,
// then without case, then with '-' and '.' read as '_', when only one key
// matches. With no map it returns the lower-case form of a new key.
func envMatch(m map[string]any, part string) (string, bool) {
	low := strings.ToLower(part)
	if m == nil {
		return low, true
	}
	if _, ok := m[low]; ok {
		return low, true
	}
	for _, norm := range []func(string) string{
		strings.ToLower,
		func(s string) string { return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToLower(s)) },
	} {
		found, n := "", 0
		for k := range m {
			if norm(k) == norm(part) {
				found, n = k, n+1
			}
		}
		if n == 1 {
			return found, true
		}
	}
	return "", false
}

func lookup(tree map[string]any, segs []string) any {
	var cur any = tree
	for _, s := range segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[s]
	}
	return cur
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
