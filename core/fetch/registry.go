package fetch

import (
	"fmt"
	"sort"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

// ArgKind is the form an argument takes once parsed at load.
type ArgKind uint8

const (
	// ArgStr is any text (Str, and Bytes holding the same bytes).
	ArgStr ArgKind = iota
	// ArgInt is a decimal integer (Int).
	ArgInt
	// ArgVar is a variable reference "scope.name" (Var).
	ArgVar
	// ArgTable names a stick table (Str); it is resolved by whoever
	// registered the fetch.
	ArgTable
)

var argKindNames = [...]string{"string", "integer", "variable", "table"}

func (k ArgKind) String() string {
	if int(k) < len(argKindNames) {
		return argKindNames[k]
	}
	return fmt.Sprintf("argkind(%d)", uint8(k))
}

// Arg is one argument of a fetch or converter, parsed at load.
type Arg struct {
	Kind  ArgKind
	Str   string // the argument as written, quotes and escapes removed
	Int   int64  // ArgInt
	Var   VarRef // ArgVar
	Bytes []byte // Str as bytes, so run-time code needs no conversion
	// Val is free for a Check or Compile function to keep a precomputed
	// form of the argument.
	Val any
}

// Fetch describes a sample fetch. Fetches are immutable once registered and
// shared by every goroutine.
type Fetch struct {
	Name  string
	Needs abi.Layers // layers the fetch needs
	// MinArgs and MaxArgs bound the number of arguments.
	MinArgs, MaxArgs int
	// ArgKinds gives the kind of each argument by position; positions past
	// its end are ArgStr.
	ArgKinds []ArgKind
	// Out is the type of the samples the fetch returns; TypeNone means
	// "depends on the run" (var).
	Out sample.Type
	// Check validates args at load (may be nil) and may precompute into
	// Arg fields.
	Check func(args []Arg) error
	// Fn returns the sample, false when there is none. It must not panic
	// when a layer is absent (Ctx.Layers is checked before Fn is called, but
	// Fn should still treat a nil layer pointer as "no sample").
	Fn func(ctx *Ctx, args []Arg) (sample.Value, bool)
	// Next, when set, enumerates every occurrence of a multi-valued fetch
	// (req.hdr without a position) for ACL matching, the way HAProxy
	// iterates. Called first with cursor 0, it returns an occurrence and the
	// cursor to pass next; false when there are no more. Cursors are opaque
	// to the caller.
	Next func(ctx *Ctx, args []Arg, cursor uint64) (sample.Value, uint64, bool)
}

// Converter describes a converter: a step applied to a sample.
type Converter struct {
	Name             string
	MinArgs, MaxArgs int
	ArgKinds         []ArgKind // as Fetch.ArgKinds
	// In is the type the input is converted to before Fn; TypeNone means
	// any. Out is the output type; TypeNone means "same as the input".
	In, Out sample.Type
	// Compile turns args into per-use state at load (map files, masks); may
	// be nil, in which case Fn receives the []Arg itself as state. dir is
	// the directory relative file names are resolved against.
	Compile func(args []Arg, dir string) (any, error)
	// Fn converts in, writing any new bytes into ctx.Scratch; it must not
	// modify in.Bytes. False means no sample.
	Fn func(ctx *Ctx, state any, in sample.Value) (sample.Value, bool)

	// compileOpts is Compile for built-ins that need the parse options
	// (the shared map cache).
	compileOpts func(args []Arg, opts *ParseOptions) (any, error)
}

// Registry holds fetches and converters by name. Registration happens at
// setup; afterwards a Registry is safe for concurrent reads. The zero value
// is an empty registry; NewRegistry has the built-ins.
type Registry struct {
	fetches   map[string]*Fetch
	convs     map[string]*Converter
	resolvers []func(name string) (*Fetch, bool)
}

// NewRegistry returns a registry containing every built-in fetch and
// converter.
func NewRegistry() *Registry {
	r := &Registry{
		fetches: make(map[string]*Fetch, 64),
		convs:   make(map[string]*Converter, 64),
	}
	for _, f := range builtinFetches() {
		if err := r.RegisterFetch(f); err != nil {
			panic(err) // a bug in the built-in table
		}
	}
	for _, c := range builtinConverters() {
		if err := r.RegisterConverter(c); err != nil {
			panic(err)
		}
	}
	return r
}

// Clone returns a registry with the same registrations, to which a new
// configuration generation (and its plugins) may add without touching r.
func (r *Registry) Clone() *Registry {
	n := &Registry{
		fetches:   make(map[string]*Fetch, len(r.fetches)),
		convs:     make(map[string]*Converter, len(r.convs)),
		resolvers: append([]func(string) (*Fetch, bool)(nil), r.resolvers...),
	}
	for k, v := range r.fetches {
		n.fetches[k] = v
	}
	for k, v := range r.convs {
		n.convs[k] = v
	}
	return n
}

// validName reports whether s may name a fetch or converter: letters,
// digits, '.', '_' and '-'.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RegisterFetch adds f. It fails when the name is taken or f is incomplete.
func (r *Registry) RegisterFetch(f Fetch) error {
	if !validName(f.Name) {
		return fmt.Errorf("%w: fetch name %q", ErrArgs, f.Name)
	}
	if f.Fn == nil {
		return fmt.Errorf("%w: fetch %s has no function", ErrArgs, f.Name)
	}
	if f.MinArgs < 0 || f.MaxArgs < f.MinArgs {
		return fmt.Errorf("%w: fetch %s: MinArgs %d, MaxArgs %d", ErrArgs, f.Name, f.MinArgs, f.MaxArgs)
	}
	if _, dup := r.fetches[f.Name]; dup {
		return fmt.Errorf("fetch %s: %w", f.Name, ErrDuplicate)
	}
	if r.fetches == nil {
		r.fetches = make(map[string]*Fetch)
	}
	r.fetches[f.Name] = &f
	return nil
}

// RegisterConverter adds c. It fails when the name is taken or c is
// incomplete.
func (r *Registry) RegisterConverter(c Converter) error {
	if !validName(c.Name) {
		return fmt.Errorf("%w: converter name %q", ErrArgs, c.Name)
	}
	if c.Fn == nil {
		return fmt.Errorf("%w: converter %s has no function", ErrArgs, c.Name)
	}
	if c.MinArgs < 0 || c.MaxArgs < c.MinArgs {
		return fmt.Errorf("%w: converter %s: MinArgs %d, MaxArgs %d", ErrArgs, c.Name, c.MinArgs, c.MaxArgs)
	}
	if _, dup := r.convs[c.Name]; dup {
		return fmt.Errorf("converter %s: %w", c.Name, ErrDuplicate)
	}
	if r.convs == nil {
		r.convs = make(map[string]*Converter)
	}
	r.convs[c.Name] = &c
	return nil
}

// RegisterResolver adds a function consulted, in registration order, for
// fetch names that are not registered by name: families such as
// sc0_http_req_rate are resolved on demand. A resolver returns a Fetch
// whose Name is the name asked for.
func (r *Registry) RegisterResolver(resolve func(name string) (*Fetch, bool)) {
	if resolve != nil {
		r.resolvers = append(r.resolvers, resolve)
	}
}

// Fetch returns the fetch called name.
func (r *Registry) Fetch(name string) (*Fetch, bool) {
	if f, ok := r.fetches[name]; ok {
		return f, true
	}
	for _, res := range r.resolvers {
		if f, ok := res(name); ok && f != nil && f.Fn != nil {
			return f, true
		}
	}
	return nil, false
}

// Converter returns the converter called name.
func (r *Registry) Converter(name string) (*Converter, bool) {
	c, ok := r.convs[name]
	return c, ok
}

// FetchNames returns the names of the registered fetches, sorted (families
// served by resolvers are not listed).
func (r *Registry) FetchNames() []string { return sortedKeys(r.fetches) }

// ConverterNames returns the names of the registered converters, sorted.
func (r *Registry) ConverterNames() []string { return sortedKeys(r.convs) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Suggest returns the candidate closest to name by edit distance, or "" when
// none is close enough to be a likely typo.
func Suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	limit := 2
	if len(name) > 8 {
		limit = 3
	}
	for _, c := range candidates {
		d := editDistance(name, c)
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if bestD <= limit && bestD < len(name) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
