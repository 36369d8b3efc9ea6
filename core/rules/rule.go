package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
)

// VerdictKind is what a rule decided.
type VerdictKind uint8

const (
	Continue VerdictKind = iota // go on with the next rule
	Allow                       // http-*: stop evaluating this rule set, let the message through
	Accept                      // tcp-request: stop evaluating this rule set, accept
	Reject                      // close the connection without a response
	Deny                        // answer with an error (Status, default 403)
	Return                      // answer with Status (default 200), ContentType and Body
	Redirect                    // answer with a redirection to Location (Status, default 302)
)

var verdictNames = [...]string{"continue", "allow", "accept", "reject", "deny", "return", "redirect"}

func (k VerdictKind) String() string {
	if int(k) < len(verdictNames) {
		return verdictNames[k]
	}
	return "verdict(" + strconv.Itoa(int(k)) + ")"
}

// Verdict is the outcome of a rule or a rule set. Byte slices are either
// the rule's own constants or kept in the transaction's storage; none may
// be modified by the caller.
type Verdict struct {
	Kind        VerdictKind
	Status      int    // Deny (default 403), Return (default 200), Redirect (default 302)
	ContentType []byte // Return, Deny, Redirect (a plugin's reply)
	Body        []byte // Return, Deny, Redirect (a plugin's reply)
	Location    []byte // Redirect, already computed
	Rule        *Rule  // the rule that decided
}

// Final reports whether the verdict stops the rule set.
func (v Verdict) Final() bool { return v.Kind != Continue }

// Rule is one compiled rule: `ACTION [args] [if|unless COND]`. It is
// immutable and safe for concurrent use.
type Rule struct {
	Source string
	Point  Point
	Action Action
	cond   *cond
}

// Eval runs the rule: Continue when its condition is false, else what its
// action says.
func (r *Rule) Eval(ctx *fetch.Ctx) Verdict {
	if r.cond != nil && !r.cond.eval(ctx) {
		return Verdict{}
	}
	return r.Action.Do(ctx)
}

// Set is an ordered list of rules for one point.
type Set struct {
	Rules []*Rule
}

// Eval runs the rules in order and stops at the first final verdict,
// which it returns with Rule set, or at the first rule during which the
// evaluation failed (ctx.Fail: a refused rewrite, a plugin failing
// closed), whose verdict it returns with Rule set whatever its kind: the
// caller reads ctx.Failure first. A nil or empty Set returns Continue.
// The scratch arena of ctx is reset before each rule, so sample values
// obtained from ctx before the call are no longer valid after it.
func (s *Set) Eval(ctx *fetch.Ctx) Verdict {
	if s == nil {
		return Verdict{}
	}
	for _, r := range s.Rules {
		ctx.ResetScratch()
		if v := r.Eval(ctx); v.Kind != Continue || ctx.Failed() {
			v.Rule = r
			return v
		}
	}
	return Verdict{}
}

// ruleError wraps err with the point and source of the rule.
func ruleError(p Point, src string, err error) error {
	return fmt.Errorf("%s %q: %w", p, src, err)
}

// splitCond finds the first "if" or "unless" after the first word.
func splitCond(words []string) (head []string, kw string, cond []string) {
	for i := 1; i < len(words); i++ {
		if words[i] == "if" || words[i] == "unless" {
			return words[:i], words[i], words[i+1:]
		}
	}
	return words, "", nil
}

// Compile compiles one rule for point p. Every fetch it uses (in its
// condition, its arguments and its log-formats) must need only layers that
// exist at p.
func Compile(p Point, src string, env *Env) (*Rule, error) {
	if env == nil {
		env = &Env{}
	}
	if !p.isRulePoint() {
		return nil, ruleError(p, src, fmt.Errorf("%w: %s takes a target, not a rule (use CompileTarget)", ErrSyntax, p))
	}
	if p.isHTTP() && !env.HTTP {
		return nil, ruleError(p, src, fmt.Errorf("%w: %s rules need mode http", ErrMode, p))
	}
	words, err := splitWords(src)
	if err != nil {
		return nil, ruleError(p, src, err)
	}
	if len(words) == 0 {
		return nil, ruleError(p, src, fmt.Errorf("%w: empty rule", ErrSyntax))
	}
	head, kw, condWords := splitCond(words)
	name, args := head[0], head[1:]
	if i := strings.IndexByte(name, '('); i >= 0 {
		if !strings.HasSuffix(name, ")") {
			return nil, ruleError(p, src, fmt.Errorf("%w: action %q: missing ')'", ErrSyntax, name))
		}
		args = append([]string{name[i:]}, args...)
		name = name[:i]
	}
	parse, err := env.actions().lookup(name, p)
	if err != nil {
		return nil, ruleError(p, src, err)
	}
	prev := env.point
	env.point = p
	defer func() { env.point = prev }()
	act, err := parse(args, env)
	if err != nil {
		return nil, ruleError(p, src, fmt.Errorf("%s: %w", name, err))
	}
	if act == nil {
		return nil, ruleError(p, src, fmt.Errorf("%w: action %s returned nothing", ErrSyntax, name))
	}
	r := &Rule{Source: src, Point: p, Action: act}
	if kw != "" {
		if r.cond, err = env.compileCond(kw, condWords, p); err != nil {
			return nil, ruleError(p, src, err)
		}
	}
	return r, nil
}

// CompileSet compiles rules for p into a Set; the first error stops it and
// says which rule (by index) failed.
func CompileSet(p Point, srcs []string, env *Env) (*Set, error) {
	s := &Set{Rules: make([]*Rule, 0, len(srcs))}
	for i, src := range srcs {
		r, err := Compile(p, src, env)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		s.Rules = append(s.Rules, r)
	}
	return s, nil
}
