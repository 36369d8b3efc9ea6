package fetch

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/strata-proxy/strata/core/sample"
)

// MapCache shares map and pattern files between the expressions and ACLs of
// one configuration generation: each file is read once (keyed by its
// absolute path) and each (file, match method, output type) index is built
// once. A new generation uses a new cache, so a reload reads files again.
// It is safe for concurrent use. A nil *MapCache reads files every time.
type MapCache struct {
	mu    sync.Mutex
	files map[string]*mapFile
}

// NewMapCache returns an empty cache.
func NewMapCache() *MapCache { return &MapCache{files: make(map[string]*mapFile)} }

// mapFile is a loaded file: its meaningful lines, and for maps each line cut
// into a key and a value.
type mapFile struct {
	path   string
	lines  []string
	keys   []string
	values []string

	mu       sync.Mutex
	compiled map[mapIndexKey]*mapIndex
}

type mapIndexKey struct {
	method MatchMethod
	out    sample.Type
}

// mapIndex is a map compiled for one match method and output type.
type mapIndex struct {
	m    *Matcher
	vals []sample.Value
}

// resolvePath joins a relative name to dir.
func resolvePath(name, dir string) string {
	if filepath.IsAbs(name) || dir == "" {
		return filepath.Clean(name)
	}
	return filepath.Join(dir, name)
}

func (c *MapCache) load(path string) (*mapFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if c == nil {
		return readMapFile(path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.files[abs]; ok {
		return f, nil
	}
	f, err := readMapFile(path)
	if err != nil {
		return nil, err
	}
	if c.files == nil {
		c.files = make(map[string]*mapFile)
	}
	c.files[abs] = f
	return f, nil
}

// maxMapFile bounds the size of a map or pattern file.
const maxMapFile = 256 << 20

// readMapFile reads path: one entry per line, '#' comments and blank lines
// ignored, leading and trailing spaces and tabs stripped. For maps the key
// is the first word and the value the rest of the line.
func readMapFile(path string) (*mapFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrMapFile, path)
	}
	if st.Size() > maxMapFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMapFile, path, maxMapFile)
	}
	f := &mapFile{path: path}
	lr := &io.LimitedReader{R: fh, N: maxMapFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.Trim(sc.Text(), " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		f.lines = append(f.lines, line)
		key, val := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, val = line[:i], strings.TrimLeft(line[i:], " \t")
		}
		f.keys = append(f.keys, key)
		f.values = append(f.values, val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMapFile, path, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMapFile, path, maxMapFile)
	}
	return f, nil
}

// Patterns returns the patterns of a pattern file (ACL "-f"): one per line,
// comments and blank lines skipped.
func (c *MapCache) Patterns(path string) ([]string, error) {
	f, err := c.load(path)
	if err != nil {
		return nil, err
	}
	return f.lines, nil
}

// MapKeys returns the keys of a map file (ACL "-M -f").
func (c *MapCache) MapKeys(path string) ([]string, error) {
	f, err := c.load(path)
	if err != nil {
		return nil, err
	}
	return f.keys, nil
}

// index returns f compiled for method with values of type out.
func (f *mapFile) index(method MatchMethod, out sample.Type) (*mapIndex, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := mapIndexKey{method, out}
	if ix, ok := f.compiled[k]; ok {
		return ix, nil
	}
	m, err := NewMatcher(method, f.keys, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMapFile, f.path, err)
	}
	ix := &mapIndex{m: m, vals: make([]sample.Value, len(f.values))}
	for i, v := range f.values {
		val, err := mapValue(v, out)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: key %q: %v", ErrMapFile, f.path, f.keys[i], err)
		}
		ix.vals[i] = val
	}
	if f.compiled == nil {
		f.compiled = make(map[mapIndexKey]*mapIndex)
	}
	f.compiled[k] = ix
	return ix, nil
}

// mapValue parses a map value (or a default) as type out.
func mapValue(s string, out sample.Type) (sample.Value, error) {
	switch out {
	case sample.TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return sample.Value{}, fmt.Errorf("value %q is not an integer", s)
		}
		return sample.Int(n), nil
	case sample.TypeIP:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return sample.Value{}, fmt.Errorf("value %q is not an IP address", s)
		}
		return sample.IP(a), nil
	}
	return sample.Str([]byte(s)), nil
}

// mapState is the compiled state of one use of a map converter.
type mapState struct {
	ix     *mapIndex
	def    sample.Value
	hasDef bool
}

// mapConverters returns map, map_<match> and map_<match>_<out> for every
// match method HAProxy offers for maps.
func mapConverters() []Converter {
	type kind struct {
		name   string
		method MatchMethod
		in     sample.Type
	}
	kinds := []kind{
		{"str", MatchStr, sample.TypeStr},
		{"beg", MatchBeg, sample.TypeStr},
		{"sub", MatchSub, sample.TypeStr},
		{"dir", MatchDir, sample.TypeStr},
		{"dom", MatchDom, sample.TypeStr},
		{"end", MatchEnd, sample.TypeStr},
		{"reg", MatchReg, sample.TypeStr},
		{"int", MatchInt, sample.TypeInt},
		{"ip", MatchIP, sample.TypeIP},
	}
	outs := []struct {
		suffix string
		t      sample.Type
	}{{"", sample.TypeStr}, {"_int", sample.TypeInt}, {"_ip", sample.TypeIP}}
	var cs []Converter
	for _, k := range kinds {
		for _, o := range outs {
			name := "map_" + k.name + o.suffix
			cs = append(cs, mapConverter(name, k.method, k.in, o.t))
			if k.name == "str" && o.suffix == "" {
				cs = append(cs, mapConverter("map", k.method, k.in, o.t))
			}
		}
	}
	return cs
}

func mapConverter(name string, method MatchMethod, in, out sample.Type) Converter {
	return Converter{
		Name: name, MinArgs: 1, MaxArgs: 2, In: in, Out: out,
		compileOpts: func(args []Arg, opts *ParseOptions) (any, error) {
			f, err := opts.Maps.load(resolvePath(args[0].Str, opts.Dir))
			if err != nil {
				return nil, err
			}
			ix, err := f.index(method, out)
			if err != nil {
				return nil, err
			}
			st := &mapState{ix: ix}
			if len(args) > 1 {
				st.def, err = mapValue(args[1].Str, out)
				if err != nil {
					return nil, fmt.Errorf("%w: default %v", ErrArgs, err)
				}
				st.hasDef = true
			}
			return st, nil
		},
		Fn: convMap,
	}
}

func convMap(ctx *Ctx, state any, in sample.Value) (sample.Value, bool) {
	st := state.(*mapState)
	if i, ok := st.ix.m.Lookup(ctx, in); ok {
		return st.ix.vals[i], true
	}
	return st.def, st.hasDef
}
