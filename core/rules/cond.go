package rules

import (
	"fmt"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
)

// cond is a compiled condition: a disjunction of conjunctions of terms,
// possibly inverted by "unless".
type cond struct {
	unless bool
	or     [][]term
}

// term is one ACL reference, possibly negated. A named ACL is every
// definition of the name (OR'ed); an anonymous one is the ACL in braces.
type term struct {
	neg  bool
	acls []*acl
}

func (t *term) eval(ctx *fetch.Ctx) bool {
	for _, a := range t.acls {
		if a.eval(ctx) {
			return true
		}
	}
	return false
}

func (c *cond) eval(ctx *fetch.Ctx) bool {
	r := false
	for _, and := range c.or {
		ok := true
		for i := range and {
			if and[i].eval(ctx) == and[i].neg {
				ok = false
				break
			}
		}
		if ok {
			r = true
			break
		}
	}
	return r != c.unless
}

// compileCond compiles the words after "if" or "unless" for point p and
// checks every fetch they use against p's layers.
func (e *Env) compileCond(kw string, words []string, p Point) (*cond, error) {
	c := &cond{unless: kw == "unless"}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: %q needs a condition", ErrSyntax, kw)
	}
	var and []term
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "||" || w == "or" {
			if len(and) == 0 {
				return nil, fmt.Errorf("%w: %q needs a condition before it", ErrSyntax, w)
			}
			c.or = append(c.or, and)
			and = nil
			continue
		}
		var t term
		for strings.HasPrefix(w, "!") {
			t.neg = !t.neg
			w = w[1:]
			if w == "" {
				i++
				if i >= len(words) {
					return nil, fmt.Errorf("%w: '!' needs an ACL after it", ErrSyntax)
				}
				w = words[i]
			}
		}
		switch {
		case w == "{":
			end := -1
			for j := i + 1; j < len(words); j++ {
				if words[j] == "}" {
					end = j
					break
				}
			}
			if end < 0 {
				for _, x := range words[i+1:] {
					if strings.HasSuffix(x, "}") {
						return nil, fmt.Errorf("%w: missing '}': braces must be separate words (write %q)", ErrSyntax, strings.TrimSuffix(x, "}")+" }")
					}
				}
				return nil, fmt.Errorf("%w: missing '}'", ErrSyntax)
			}
			if end == i+1 {
				return nil, fmt.Errorf("%w: empty anonymous ACL '{ }'", ErrSyntax)
			}
			a, err := e.compileACL(words[i+1:end], p.isResponse())
			if err != nil {
				return nil, fmt.Errorf("acl { %s }: %w", strings.Join(words[i+1:end], " "), err)
			}
			if err := e.checkExpr(a.expr, p); err != nil {
				return nil, err
			}
			t.acls = []*acl{a}
			i = end
		case w == "}":
			return nil, fmt.Errorf("%w: '}' without '{'", ErrSyntax)
		case strings.HasPrefix(w, "{"):
			return nil, fmt.Errorf("%w: braces must be separate words (write %q)", ErrSyntax, "{ "+w[1:])
		case w == "if" || w == "unless":
			return nil, fmt.Errorf("%w: %q inside a condition", ErrSyntax, w)
		default:
			n, ok := e.lookupACL(w)
			if !ok {
				msg := fmt.Sprintf("%q", w)
				if s := fetch.Suggest(w, e.aclNames()); s != "" {
					msg += fmt.Sprintf("; did you mean %s?", s)
				} else if _, isFetch := e.registry().Fetch(fetchName(w)); isFetch || strings.ContainsAny(w, "(") {
					msg += fmt.Sprintf(" (to test a fetch in place, write { %s ... })", w)
				}
				return nil, fmt.Errorf("%w %s", ErrUnknownACL, msg)
			}
			acls, err := e.compiledACL(n, p)
			if err != nil {
				return nil, err
			}
			for _, a := range acls {
				if err := e.checkExpr(a.expr, p); err != nil {
					return nil, fmt.Errorf("acl %s: %w", n.name, err)
				}
			}
			t.acls = acls
		}
		and = append(and, t)
	}
	if len(and) == 0 {
		return nil, fmt.Errorf("%w: condition ends with %q", ErrSyntax, words[len(words)-1])
	}
	c.or = append(c.or, and)
	return c, nil
}
