package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
)

// Action is a compiled action. Do runs it and returns Continue, or the
// final verdict that stops the rule set. Actions are shared by every
// goroutine and must keep per-request state in the Ctx or the layers.
type Action interface {
	Do(ctx *fetch.Ctx) Verdict
}

// ActionFunc adapts a function to Action.
type ActionFunc func(ctx *fetch.Ctx) Verdict

// Do calls f.
func (f ActionFunc) Do(ctx *fetch.Ctx) Verdict { return f(ctx) }

// ParseFunc compiles an action from the words after its name, before
// if/unless. When the action was written with a parenthesised list
// (`set-var(txn.x)`, `waf.check(strict,5)`), args[0] is that list with its
// parentheses, "(txn.x)"; ParenArgs splits it. env.Point() is the point
// being compiled.
type ParseFunc func(args []string, env *Env) (Action, error)

// Actions holds the actions known at each point. Registration happens at
// setup; afterwards it is safe for concurrent reads.
type Actions struct {
	m map[string]*[numPoints]ParseFunc
}

// Clone returns a copy to which a new configuration generation (and its
// plugins) may add without touching a.
func (a *Actions) Clone() *Actions {
	n := &Actions{m: make(map[string]*[numPoints]ParseFunc, len(a.m))}
	for k, v := range a.m {
		c := *v
		n.m[k] = &c
	}
	return n
}

func validActionName(s string) bool {
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

// Register makes the action called name available at points. Names may
// contain letters, digits, '.', '_' and '-' ("waf.check"). Registering a
// name twice at one point is an error; the same name may have different
// parsers at different points.
func (a *Actions) Register(name string, points []Point, parse ParseFunc) error {
	if !validActionName(name) {
		return fmt.Errorf("%w: action name %q: use letters, digits, '.', '_' and '-'", ErrSyntax, name)
	}
	if parse == nil || len(points) == 0 {
		return fmt.Errorf("%w: action %s needs a parser and at least one point", ErrSyntax, name)
	}
	for _, p := range points {
		if !p.isRulePoint() {
			return fmt.Errorf("%w: action %s: %s is not a rule point", ErrActionPoint, name, p)
		}
		if e := a.m[name]; e != nil && e[p] != nil {
			return fmt.Errorf("action %s at %s: %w", name, p, ErrDuplicate)
		}
	}
	if a.m == nil {
		a.m = make(map[string]*[numPoints]ParseFunc)
	}
	e := a.m[name]
	if e == nil {
		e = new([numPoints]ParseFunc)
		a.m[name] = e
	}
	for _, p := range points {
		e[p] = parse
	}
	return nil
}

// Points returns the points at which name is accepted.
func (a *Actions) Points(name string) []Point {
	e := a.m[name]
	if e == nil {
		return nil
	}
	var ps []Point
	for p := Point(0); p < numPoints; p++ {
		if e[p] != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Names returns the actions accepted at p, sorted.
func (a *Actions) Names(p Point) []string {
	var out []string
	for k, e := range a.m {
		if p < numPoints && e[p] != nil {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// lookup returns the parser of name at p, or an error saying where name is
// accepted instead.
func (a *Actions) lookup(name string, p Point) (ParseFunc, error) {
	if e := a.m[name]; e != nil {
		if e[p] != nil {
			return e[p], nil
		}
		ps := a.Points(name)
		names := make([]string, len(ps))
		for i, q := range ps {
			names[i] = q.String()
		}
		return nil, fmt.Errorf("%w: %q is not accepted at %s; it is accepted at %s", ErrActionPoint, name, p, strings.Join(names, ", "))
	}
	hint := " (known here: " + strings.Join(a.Names(p), ", ") + ")"
	if s := fetch.Suggest(name, a.Names(p)); s != "" {
		hint = "; did you mean " + s + "?"
	}
	return nil, fmt.Errorf("%w %q at %s%s", ErrUnknownAction, name, p, hint)
}

// ParenArgs splits the parenthesised list that followed an action's name
// from the other words: for `set-var(txn.x,ifexists) EXPR`, args is
// ["(txn.x,ifexists)", "EXPR"] and ParenArgs returns ["txn.x", "ifexists"],
// ["EXPR"], true. ok is false when args does not start with a list.
func ParenArgs(args []string) (list, rest []string, ok bool) {
	if len(args) == 0 || len(args[0]) < 2 || args[0][0] != '(' || args[0][len(args[0])-1] != ')' {
		return nil, args, false
	}
	inner := args[0][1 : len(args[0])-1]
	if inner != "" {
		for _, s := range strings.Split(inner, ",") {
			list = append(list, strings.TrimSpace(s))
		}
	}
	return list, args[1:], true
}
