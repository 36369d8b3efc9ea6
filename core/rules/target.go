package rules

import (
	"fmt"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
)

// Target is a compiled routing entry — use_backend, use-service or a
// default: `NAME [if|unless COND]`, where NAME may be a log-format such as
// `be_%[req.hdr(host),lower]`. It is immutable and safe for concurrent use.
type Target struct {
	Source string
	Name   string // static name, "" when dynamic
	Point  Point
	lf     *LogFormat
	cond   *cond
}

// CompileTarget compiles a target for point p (normally UseBackend or
// UseService); fetches are checked against p's layers.
func CompileTarget(p Point, src string, env *Env) (*Target, error) {
	if env == nil {
		env = &Env{}
	}
	if !p.Valid() {
		return nil, ruleError(p, src, fmt.Errorf("%w: unknown point", ErrSyntax))
	}
	words, err := splitWords(src)
	if err != nil {
		return nil, ruleError(p, src, err)
	}
	if len(words) == 0 {
		return nil, ruleError(p, src, fmt.Errorf("%w: empty target", ErrSyntax))
	}
	if words[0] == "if" || words[0] == "unless" {
		return nil, ruleError(p, src, fmt.Errorf("%w: a target name must come before %q", ErrSyntax, words[0]))
	}
	head, kw, condWords := splitCond(words)
	if len(head) != 1 {
		return nil, ruleError(p, src, fmt.Errorf("%w: want `NAME [if|unless COND]`, got %d words before the condition", ErrSyntax, len(head)))
	}
	t := &Target{Source: src, Point: p}
	if strings.Contains(head[0], "%") {
		if t.lf, err = ParseLogFormat(head[0], p, env); err != nil {
			return nil, ruleError(p, src, err)
		}
		if c, ok := t.lf.Const(); ok {
			t.Name, t.lf = string(c), nil
		}
	} else {
		t.Name = head[0]
	}
	if t.lf == nil && t.Name == "" {
		return nil, ruleError(p, src, fmt.Errorf("%w: empty target name", ErrSyntax))
	}
	if kw != "" {
		if t.cond, err = env.compileCond(kw, condWords, p); err != nil {
			return nil, ruleError(p, src, err)
		}
	}
	return t, nil
}

// Dynamic reports whether the name is computed per stream.
func (t *Target) Dynamic() bool { return t.lf != nil }

// Eval appends the chosen name to dst. It returns false (and dst unchanged)
// when the condition is false, or when a dynamic name's expression gives no
// sample or an empty name.
func (t *Target) Eval(ctx *fetch.Ctx, dst []byte) ([]byte, bool) {
	if t.cond != nil && !t.cond.eval(ctx) {
		return dst, false
	}
	if t.lf == nil {
		return append(dst, t.Name...), true
	}
	n := len(dst)
	out, ok := t.lf.appendAll(dst, ctx)
	if !ok || len(out) == n {
		return out[:n], false
	}
	return out, true
}

// SelectTarget appends the name chosen by the first target that matches.
// The scratch arena of ctx is reset before each target.
func SelectTarget(ts []*Target, ctx *fetch.Ctx, dst []byte) ([]byte, bool) {
	for _, t := range ts {
		ctx.ResetScratch()
		if out, ok := t.Eval(ctx, dst); ok {
			return out, true
		}
	}
	return dst, false
}
