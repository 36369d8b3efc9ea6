package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A document may expand, through aliases, to aliasSlack values plus
// aliasRatio times its own number of nodes, and never to more than
// maxValues: a few aliases must not make a small file expand to
// gigabytes, while a file that reuses its anchors loads as usual.
const (
	maxValues  = 1 << 20
	aliasSlack = 10000
	aliasRatio = 10
)

// valueBudget returns how many values the document under n may expand to.
func valueBudget(n *yaml.Node) int {
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] || len(seen) > maxValues {
			return
		}
		seen[n] = true
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return min(maxValues, aliasSlack+aliasRatio*len(seen))
}

// yamlParser is the koanf.Parser of strata's YAML. It differs from koanf's
// stock YAML parser in what a configuration needs:
//   - it works on the node tree, so it records the order of mapping keys
//     (servers are tried in the order written) and the line of each value;
//   - every scalar stays the string it was written as ("0x1F" stays "0x1F",
//     "1.10" stays "1.10"): the field it lands in gives it a type, exactly as
//     for a value from the environment or --set. Only the free-form
//     `plugins.NAME.config` keeps YAML's types, for the plugin to read;
//   - duplicate keys, keys that are not scalars and alias loops are errors
//     with a path; merge keys (`<<: *defaults`) work.
type yamlParser struct {
	st   *state
	name string // file name, or "(inline)"
}

// Unmarshal parses one YAML document into a nested map.
func (p *yamlParser) Unmarshal(b []byte) (map[string]any, error) {
	doc, serr := parseDocument(b)
	if serr != nil {
		e := &Error{Path: p.name, Msg: serr.msg, Source: p.name}
		if serr.line > 0 {
			e.Path = p.name + ":" + strconv.Itoa(serr.line)
			e.Source = e.Path
		}
		e.Fix = serr.fix
		p.st.add(e)
		return nil, errParse
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	c := &converter{st: p.st, src: func(n *yaml.Node) string { return p.name + ":" + strconv.Itoa(n.Line) }, budget: valueBudget(doc)}
	root := resolveAlias(doc)
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			return map[string]any{}, nil
		}
		p.st.add(&Error{Path: p.name + ":" + strconv.Itoa(root.Line), Msg: "the configuration is " + nodeKind(root) + ", not a mapping",
			Fix: "start with top-level keys such as global:, frontends: and backends:", Source: p.name})
		return nil, errParse
	}
	v := c.value(root, "", nil, false)
	m, _ := v.(map[string]any)
	if c.failed || m == nil {
		return nil, errParse
	}
	return m, nil
}

// Marshal is not supported: strata never writes configuration files.
func (p *yamlParser) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("config: writing YAML is not supported")
}

// errParse tells koanf's Load that the parser has recorded its errors.
var errParse = errors.New("config: parse failed")

type syntaxError struct {
	line     int
	msg, fix string
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parseDocument parses b, which must hold at most one YAML document. It
// returns nil for an empty input.
func parseDocument(b []byte) (doc *yaml.Node, serr *syntaxError) {
	defer func() {
		// The YAML parser is not ours; a bug in it must not take the
		// process down with a configuration file.
		if r := recover(); r != nil {
			doc, serr = nil, &syntaxError{msg: fmt.Sprintf("the YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, yamlSyntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, yamlSyntaxError(err)
		}
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &syntaxError{line: line, msg: "more than one YAML document (a second ---)", fix: "put one configuration in each file, and give the files in order"}
	}
	return &n, nil
}

func yamlSyntaxError(err error) *syntaxError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &syntaxError{line: line, msg: m[2], fix: "check the indentation and quoting on that line"}
	}
	return &syntaxError{msg: msg}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 100; i++ {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
			}
			n = n.Content[0]
		case yaml.AliasNode:
			if n.Alias == nil {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
			}
			n = n.Alias
		default:
			return n
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "empty"
		}
		return "a scalar"
	}
	return "not a value"
}

// converter turns a YAML node tree into the nested maps koanf merges,
// recording key order and sources in st.
type converter struct {
	st     *state
	src    func(*yaml.Node) string // where a node was written
	count  int
	budget int                 // values it may produce; see valueBudget
	active map[*yaml.Node]bool // mappings and aliases being expanded
	failed bool
}

func (c *converter) errorf(n *yaml.Node, path, fix, format string, args ...any) {
	c.st.add(&Error{Path: path, Msg: fmt.Sprintf(format, args...), Fix: fix, Source: c.src(n)})
}

func (c *converter) enter(n *yaml.Node, path string) bool {
	if c.failed {
		return false
	}
	c.count++
	if c.count > c.budget {
		c.failed = true
		c.errorf(n, path, "use fewer nested aliases", "more than %d values once aliases are expanded", c.budget)
		return false
	}
	if c.active == nil {
		c.active = map[*yaml.Node]bool{}
	}
	if c.active[n] {
		c.failed = true
		c.errorf(n, path, "an anchor may not be used inside its own value", "alias refers to a value that contains it")
		return false
	}
	return true
}

// value converts n, found at path (segs are the keys of path, for the
// typed sub-tree of plugin configs).
func (c *converter) value(n *yaml.Node, path string, segs []string, typed bool) any {
	if !c.enter(n, path) {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.value(n.Content[0], path, segs, typed)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		c.active[n] = true
		v := c.value(n.Alias, path, segs, typed)
		delete(c.active, n)
		return v
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return nil
		}
		if typed {
			var v any
			if err := n.Decode(&v); err == nil {
				return v
			}
		}
		return n.Value
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			p := indexPath(path, i)
			c.st.setSource(p, c.src(e), false)
			out = append(out, c.value(e, p, segs, typed))
		}
		return out
	case yaml.MappingNode:
		c.active[n] = true
		defer delete(c.active, n)
		entries := c.entries(n, path)
		out := make(map[string]any, len(entries))
		for _, e := range entries {
			p := joinPath(path, e.key)
			c.st.addKey(path, e.key)
			c.st.setSource(p, c.src(e.k), false)
			s := append(segs[:len(segs):len(segs)], e.key)
			t := typed || (len(s) == 3 && s[0] == "plugins" && s[2] == "config")
			out[e.key] = c.value(e.v, p, s, t)
		}
		return out
	}
	return nil
}

type entry struct {
	key  string
	k, v *yaml.Node
}

// entries returns the key/value pairs of mapping n in order, with merge
// keys expanded: keys written in n win over merged ones, and among merged
// mappings the first listed wins, as YAML specifies.
func (c *converter) entries(n *yaml.Node, path string) []entry {
	keys := make([]string, len(n.Content)/2)
	explicit := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMergeKey(k) {
			continue
		}
		key, ok := c.key(k, path)
		if !ok {
			continue
		}
		if first, dup := explicit[key]; dup {
			c.errorf(k, joinPath(path, key), "remove one of them", "duplicate key (first written at line %d)", first.Line)
			continue
		}
		explicit[key] = k
		keys[i/2] = key
	}
	var out []entry
	taken := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			for _, e := range c.merged(v, path) {
				if explicit[e.key] == nil && !taken[e.key] {
					taken[e.key] = true
					out = append(out, e)
				}
			}
			continue
		}
		if key := keys[i/2]; key != "" {
			taken[key] = true
			out = append(out, entry{key, k, v})
		}
	}
	return out
}

// merged returns the entries a merge key brings: those of a mapping, or
// of each mapping of a list, in order.
func (c *converter) merged(v *yaml.Node, path string) []entry {
	if !c.enter(v, path) {
		return nil
	}
	c.active[v] = true
	defer delete(c.active, v)
	switch v.Kind {
	case yaml.AliasNode:
		if v.Alias == nil {
			return nil
		}
		return c.merged(v.Alias, path)
	case yaml.MappingNode:
		return c.entries(v, path)
	case yaml.SequenceNode:
		var out []entry
		for _, e := range v.Content {
			out = append(out, c.merged(e, path)...)
		}
		return out
	}
	c.errorf(v, joinPath(path, "<<"), "merge a mapping, e.g. <<: *defaults", "merge key with %s", nodeKind(v))
	return nil
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// key returns the text of a mapping key, which must be a non-empty scalar
// without control characters.
func (c *converter) key(k *yaml.Node, path string) (string, bool) {
	r := resolveAlias(k)
	if r.Kind != yaml.ScalarNode || r.ShortTag() == "!!null" || r.Value == "" {
		c.errorf(k, joinPath(path, "?"), "keys are names: write name: value", "key is %s", nodeKind(r))
		return "", false
	}
	for _, ch := range r.Value {
		if ch < 0x20 || ch == 0x7f {
			c.errorf(k, joinPath(path, strconv.Quote(r.Value)), "use letters, digits, '_', '.' and '-' in keys", "key has a control character")
			return "", false
		}
	}
	return r.Value, true
}
