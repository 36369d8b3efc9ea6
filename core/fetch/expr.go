package fetch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

// ParseOptions adjust how an expression is parsed.
type ParseOptions struct {
	// Dir is the directory relative map files are resolved against.
	Dir string
	// Maps shares loaded map files; nil reads each file for each use.
	Maps *MapCache
	// Response makes direction-dependent fetches ("hdr") read the response,
	// as they do in HAProxy's http-response rules.
	Response bool
}

// Expr is a compiled sample expression: a fetch with its arguments and a
// chain of converters, such as `req.hdr(host),lower,map(hosts.map,default)`.
// It is immutable and safe for concurrent use; evaluation state lives in
// the Ctx.
type Expr struct {
	src   string
	fetch *Fetch
	args  []Arg
	convs []convStep
	needs abi.Layers
	out   sample.Type
}

type convStep struct {
	conv  *Converter
	args  []Arg
	state any
}

// Needs returns the layers the expression needs: its fetch's, plus those of
// any variable named in its arguments.
func (e *Expr) Needs() abi.Layers { return e.needs }

// Out returns the type of the expression's samples (TypeNone: decided at
// run time).
func (e *Expr) Out() sample.Type { return e.out }

// String returns the expression as written.
func (e *Expr) String() string { return e.src }

// FetchName returns the name of the expression's fetch.
func (e *Expr) FetchName() string { return e.fetch.Name }

// HasConverters reports whether converters follow the fetch.
func (e *Expr) HasConverters() bool { return len(e.convs) > 0 }

// Iterable reports whether the fetch can enumerate several occurrences
// (EvalNext yields more than one sample).
func (e *Expr) Iterable() bool { return e.fetch.Next != nil }

// Eval evaluates the expression. False means no sample: a needed layer is
// absent, the fetch found nothing, or a converter failed. Bytes of the
// result may alias the request or ctx's scratch arena (valid until
// ResetScratch).
func (e *Expr) Eval(ctx *Ctx) (sample.Value, bool) {
	if !ctx.Layers.Has(e.needs) {
		return sample.Value{}, false
	}
	v, ok := e.fetch.Fn(ctx, e.args)
	if !ok {
		return sample.Value{}, false
	}
	return e.convert(ctx, v)
}

// EvalNext enumerates the occurrences of a multi-valued fetch, the way ACLs
// test every value of a header. Start with cursor 0 and pass the returned
// cursor back; more is false when there are no more occurrences. An
// occurrence that a converter rejects is returned with ok false (and more
// true) so that the caller can go on to the next. A fetch that is not
// iterable yields its one sample.
func (e *Expr) EvalNext(ctx *Ctx, cursor uint64) (v sample.Value, next uint64, ok, more bool) {
	if !ctx.Layers.Has(e.needs) {
		return sample.Value{}, 0, false, false
	}
	if e.fetch.Next == nil {
		if cursor != 0 {
			return sample.Value{}, 0, false, false
		}
		v, ok = e.Eval(ctx)
		return v, 1, ok, ok
	}
	v, next, more = e.fetch.Next(ctx, e.args, cursor)
	if !more {
		return sample.Value{}, 0, false, false
	}
	v, ok = e.convert(ctx, v)
	return v, next, ok, true
}

func (e *Expr) convert(ctx *Ctx, v sample.Value) (sample.Value, bool) {
	for i := range e.convs {
		c := &e.convs[i]
		if in := c.conv.In; in != sample.TypeNone && v.Type != in {
			var ok bool
			if v, ok = Cast(ctx, v, in); !ok {
				return sample.Value{}, false
			}
		}
		var ok bool
		if v, ok = c.conv.Fn(ctx, c.state, v); !ok {
			return sample.Value{}, false
		}
	}
	return v, true
}

// directional maps fetch names whose meaning follows the direction of the
// rule (HAProxy's "hdr") to their response form.
var directional = map[string]string{"hdr": "res.hdr"}

// ParseExpr compiles src. Errors name the fetch or converter at fault.
func (r *Registry) ParseExpr(src string, opts ParseOptions) (*Expr, error) {
	p := exprParser{s: strings.TrimSpace(src)}
	if p.s == "" {
		return nil, fmt.Errorf("%w: empty expression", ErrSyntax)
	}
	name, args, err := p.item()
	if err != nil {
		return nil, err
	}
	if opts.Response {
		if alt, ok := directional[name]; ok {
			name = alt
		}
	}
	f, ok := r.Fetch(name)
	if !ok {
		if s := Suggest(name, r.FetchNames()); s != "" {
			return nil, fmt.Errorf("%w %q; did you mean %s?", ErrUnknownFetch, name, s)
		}
		return nil, fmt.Errorf("%w %q", ErrUnknownFetch, name)
	}
	e := &Expr{src: p.s, fetch: f, needs: f.Needs, out: f.Out}
	if e.args, err = buildArgs("fetch", name, args, f.MinArgs, f.MaxArgs, f.ArgKinds); err != nil {
		return nil, err
	}
	if f.Check != nil {
		if err := f.Check(e.args); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", name, err)
		}
	}
	e.needs |= argNeeds(e.args)
	for !p.done() {
		if !p.eat(',') {
			return nil, fmt.Errorf("%w: expression %q: unexpected %q after %s", ErrSyntax, p.s, p.rest(), name)
		}
		cname, cargs, err := p.item()
		if err != nil {
			return nil, err
		}
		c, ok := r.Converter(cname)
		if !ok {
			if s := Suggest(cname, r.ConverterNames()); s != "" {
				return nil, fmt.Errorf("%w %q; did you mean %s?", ErrUnknownConverter, cname, s)
			}
			if _, isFetch := r.Fetch(cname); isFetch {
				return nil, fmt.Errorf("%w %q (%s is a fetch; an expression has one fetch followed by converters)", ErrUnknownConverter, cname, cname)
			}
			return nil, fmt.Errorf("%w %q", ErrUnknownConverter, cname)
		}
		st := convStep{conv: c}
		if st.args, err = buildArgs("converter", cname, cargs, c.MinArgs, c.MaxArgs, c.ArgKinds); err != nil {
			return nil, err
		}
		if !CanCast(e.out, c.In) {
			return nil, fmt.Errorf("%w: converter %s takes %s, but %s gives %s", ErrType, cname, c.In, name, e.out)
		}
		switch {
		case c.compileOpts != nil:
			st.state, err = c.compileOpts(st.args, &opts)
		case c.Compile != nil:
			st.state, err = c.Compile(st.args, opts.Dir)
		default:
			st.state = st.args
		}
		if err != nil {
			return nil, fmt.Errorf("converter %s: %w", cname, err)
		}
		e.needs |= argNeeds(st.args)
		if c.Out != sample.TypeNone {
			e.out = c.Out
		}
		e.convs = append(e.convs, st)
		name = cname
	}
	return e, nil
}

// argNeeds returns the layers of the variables named by args.
func argNeeds(args []Arg) abi.Layers {
	var l abi.Layers
	for i := range args {
		if args[i].Kind == ArgVar {
			l |= args[i].Var.Needs()
		}
	}
	return l
}

// buildArgs checks the count of raw arguments and parses each by kind.
func buildArgs(what, name string, raw []string, minArgs, maxArgs int, kinds []ArgKind) ([]Arg, error) {
	if len(raw) < minArgs || len(raw) > maxArgs {
		switch {
		case maxArgs == 0:
			return nil, fmt.Errorf("%w: %s %s takes no arguments, got %d", ErrArgs, what, name, len(raw))
		case minArgs == maxArgs:
			return nil, fmt.Errorf("%w: %s %s takes %d argument%s, got %d", ErrArgs, what, name, minArgs, plural(minArgs), len(raw))
		default:
			return nil, fmt.Errorf("%w: %s %s takes %d to %d arguments, got %d", ErrArgs, what, name, minArgs, maxArgs, len(raw))
		}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	args := make([]Arg, len(raw))
	for i, s := range raw {
		a := Arg{Kind: ArgStr, Str: s, Bytes: []byte(s)}
		if i < len(kinds) {
			a.Kind = kinds[i]
		}
		switch a.Kind {
		case ArgInt:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %s: argument %d: %q is not an integer", ErrArgs, what, name, i+1, s)
			}
			a.Int = n
		case ArgVar:
			v, err := ParseVarRef(s)
			if err != nil {
				return nil, fmt.Errorf("%s %s: argument %d: %w", what, name, i+1, err)
			}
			a.Var = v
		case ArgTable:
			if s == "" {
				return nil, fmt.Errorf("%w: %s %s: argument %d: empty table name", ErrArgs, what, name, i+1)
			}
		}
		args[i] = a
	}
	return args, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// exprParser reads `name[(args)]{,name[(args)]}`.
type exprParser struct {
	s   string
	pos int
}

func (p *exprParser) done() bool   { return p.pos >= len(p.s) }
func (p *exprParser) rest() string { return p.s[p.pos:] }

func (p *exprParser) eat(c byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// item reads a name and its optional argument list.
func (p *exprParser) item() (string, []string, error) {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			p.pos++
			continue
		}
		break
	}
	name := p.s[start:p.pos]
	if name == "" {
		if p.done() {
			return "", nil, fmt.Errorf("%w: expression %q ends where a name is expected", ErrSyntax, p.s)
		}
		return "", nil, fmt.Errorf("%w: expression %q: unexpected %q where a name is expected", ErrSyntax, p.s, p.rest())
	}
	if !p.eat('(') {
		return name, nil, nil
	}
	args, err := p.argList(name)
	return name, args, err
}

// argList reads arguments up to the closing parenthesis. Arguments are
// separated by commas; single quotes protect everything, double quotes and
// backslashes protect the next character, and nested parentheses are kept
// (a regular expression may contain them).
func (p *exprParser) argList(name string) ([]string, error) {
	var (
		args   []string
		cur    []byte
		depth  int
		sawAny bool
	)
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '\'':
			end := strings.IndexByte(p.s[p.pos:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: %s: unterminated single quote", ErrSyntax, name)
			}
			cur = append(cur, p.s[p.pos:p.pos+end]...)
			p.pos += end + 1
			sawAny = true
		case c == '"':
			closed := false
			for p.pos < len(p.s) {
				d := p.s[p.pos]
				p.pos++
				if d == '\\' && p.pos < len(p.s) {
					cur = append(cur, p.s[p.pos])
					p.pos++
					continue
				}
				if d == '"' {
					closed = true
					break
				}
				cur = append(cur, d)
			}
			if !closed {
				return nil, fmt.Errorf("%w: %s: unterminated double quote", ErrSyntax, name)
			}
			sawAny = true
		case c == '\\':
			if p.pos < len(p.s) {
				cur = append(cur, p.s[p.pos])
				p.pos++
			}
			sawAny = true
		case c == '(':
			depth++
			cur = append(cur, c)
			sawAny = true
		case c == ')' && depth > 0:
			depth--
			cur = append(cur, c)
		case c == ')':
			if sawAny || len(args) > 0 {
				args = append(args, string(cur))
			}
			return args, nil
		case c == ',' && depth == 0:
			args = append(args, string(cur))
			cur = cur[:0]
			sawAny = true
		default:
			cur = append(cur, c)
			sawAny = true
		}
	}
	return nil, fmt.Errorf("%w: %s: missing ')'", ErrSyntax, name)
}
