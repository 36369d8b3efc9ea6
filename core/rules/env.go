package rules

import (
	"fmt"
	"sort"
	"sync"

	"github.com/strata-proxy/strata/core/fetch"
)

// Env is what compiling needs: the registries, the proxy's mode, where
// relative files live, and the named ACLs defined so far. One Env serves
// one frontend or backend of one configuration generation; it is used by
// one goroutine while compiling and is not needed once rules run.
type Env struct {
	Fetches *fetch.Registry // nil: the built-in registry
	Actions *Actions        // nil: the built-in actions
	HTTP    bool            // proxy mode of the frontend/backend being compiled
	Dir     string          // directory of the configuration file, for relative files
	Maps    *fetch.MapCache // shares map and pattern files; nil reads them per use

	acls  map[string]*namedACL
	point Point // the point being compiled, for action parsers
}

var (
	defaultRegistry     *fetch.Registry
	defaultRegistryOnce sync.Once
	defaultActions      *Actions
	defaultActionsOnce  sync.Once
)

func (e *Env) registry() *fetch.Registry {
	if e.Fetches != nil {
		return e.Fetches
	}
	defaultRegistryOnce.Do(func() { defaultRegistry = fetch.NewRegistry() })
	return defaultRegistry
}

func (e *Env) actions() *Actions {
	if e.Actions != nil {
		return e.Actions
	}
	defaultActionsOnce.Do(func() { defaultActions = NewActions() })
	return defaultActions
}

// Point returns the evaluation point of the rule being compiled. Action
// parsers use it to parse log-formats and expressions for that point.
func (e *Env) Point() Point { return e.point }

// ParseExpr compiles a sample expression for the point being compiled and
// checks its layers against it.
func (e *Env) ParseExpr(src string) (*fetch.Expr, error) { return e.parseExpr(src, e.point) }

// ParseLogFormat compiles a log-format string for the point being compiled.
func (e *Env) ParseLogFormat(src string) (*LogFormat, error) { return ParseLogFormat(src, e.point, e) }

func (e *Env) parseExpr(src string, p Point) (*fetch.Expr, error) {
	x, err := e.registry().ParseExpr(src, fetch.ParseOptions{Dir: e.Dir, Maps: e.Maps, Response: p.isResponse()})
	if err != nil {
		return nil, err
	}
	if err := e.checkExpr(x, p); err != nil {
		return nil, err
	}
	return x, nil
}

// checkExpr rejects an expression that needs a layer p lacks.
func (e *Env) checkExpr(x *fetch.Expr, p Point) error {
	have := p.Layers(e.HTTP)
	if miss := have.Missing(x.Needs()); miss != 0 {
		return &LayerError{
			Subject: fmt.Sprintf("fetch %q", x.FetchName()), Fetch: x.FetchName(),
			Need: x.Needs(), Missing: miss, Point: p, Available: have,
		}
	}
	return nil
}

// checkVar rejects a variable whose scope cannot exist at p.
func (e *Env) checkVar(v fetch.VarRef, p Point) error {
	have := p.Layers(e.HTTP)
	if miss := have.Missing(v.Needs()); miss != 0 {
		return &LayerError{
			Subject: fmt.Sprintf("variable %q", v.String()),
			Need:    v.Needs(), Missing: miss, Point: p, Available: have,
		}
	}
	return nil
}

// namedACL is every definition of one ACL name; they are OR'ed. Each is
// compiled lazily per direction, because "hdr" reads the request in
// request rules and the response in response rules.
type namedACL struct {
	name string
	srcs []string
	dirs [2][]*acl // [0] request rules, [1] response rules
}

// validACLName follows HAProxy: letters, digits, '-', '_', '.' and ':'.
func validACLName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// DefineACL adds a definition to the ACL called name. Several definitions
// of one name are OR'ed, like HAProxy's repeated `acl` lines. src is
// `FETCH [flags] [-m METHOD] PATTERN...`. A rule sees the definitions made
// before it was compiled, so define every ACL first.
func (e *Env) DefineACL(name, src string) error {
	if !validACLName(name) {
		return fmt.Errorf("acl %q: %w: names may only contain letters, digits, '-', '_', '.' and ':'", name, ErrSyntax)
	}
	words, err := splitWords(src)
	if err != nil {
		return fmt.Errorf("acl %s %q: %w", name, src, err)
	}
	if len(words) == 0 {
		return fmt.Errorf("acl %s: %w: empty definition", name, ErrSyntax)
	}
	// Compile now for requests so that mistakes surface at once.
	a, err := e.compileACL(words, false)
	if err != nil {
		return fmt.Errorf("acl %s %q: %w", name, src, err)
	}
	if e.acls == nil {
		e.acls = make(map[string]*namedACL)
	}
	n := e.acls[name]
	if n == nil {
		n = &namedACL{name: name}
		e.acls[name] = n
	}
	n.srcs = append(n.srcs, src)
	if len(n.dirs[0]) == len(n.srcs)-1 {
		n.dirs[0] = append(n.dirs[0], a)
	}
	return nil
}

// predefined are HAProxy's built-in ACLs (those strata has the fetches for).
var predefined = map[string]string{
	"TRUE":           "always_true",
	"FALSE":          "always_false",
	"HTTP_1.0":       "req.ver 1.0",
	"HTTP_1.1":       "req.ver 1.1",
	"HTTP_CONTENT":   "req.hdr_val(content-length) gt 0",
	"HTTP_URL_ABS":   `url_reg ^[^/:]*://`,
	"HTTP_URL_SLASH": "url_beg /",
	"HTTP_URL_STAR":  "url *",
	"LOCALHOST":      "src 127.0.0.1/8 ::1",
	"METH_CONNECT":   "method CONNECT",
	"METH_DELETE":    "method DELETE",
	"METH_GET":       "method GET HEAD",
	"METH_HEAD":      "method HEAD",
	"METH_OPTIONS":   "method OPTIONS",
	"METH_POST":      "method POST",
	"METH_PUT":       "method PUT",
	"METH_TRACE":     "method TRACE",
	"REQ_CONTENT":    "req.len gt 0",
}

// lookupACL returns the named ACL, defining a predefined one on first use.
func (e *Env) lookupACL(name string) (*namedACL, bool) {
	if n, ok := e.acls[name]; ok {
		return n, true
	}
	src, ok := predefined[name]
	if !ok {
		return nil, false
	}
	if e.acls == nil {
		e.acls = make(map[string]*namedACL)
	}
	n := &namedACL{name: name, srcs: []string{src}}
	e.acls[name] = n
	return n, true
}

// compiled returns the definitions of n for the direction of p.
func (e *Env) compiledACL(n *namedACL, p Point) ([]*acl, error) {
	d := 0
	if p.isResponse() {
		d = 1
	}
	for len(n.dirs[d]) < len(n.srcs) {
		src := n.srcs[len(n.dirs[d])]
		words, err := splitWords(src)
		if err != nil {
			return nil, fmt.Errorf("acl %s %q: %w", n.name, src, err)
		}
		a, err := e.compileACL(words, d == 1)
		if err != nil {
			return nil, fmt.Errorf("acl %s %q: %w", n.name, src, err)
		}
		n.dirs[d] = append(n.dirs[d], a)
	}
	return n.dirs[d], nil
}

// aclNames lists the named ACLs known, for suggestions.
func (e *Env) aclNames() []string {
	names := make([]string, 0, len(e.acls)+len(predefined))
	for k := range e.acls {
		names = append(names, k)
	}
	for k := range predefined {
		if _, dup := e.acls[k]; !dup {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
