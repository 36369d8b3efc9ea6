package rules

import (
	"fmt"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
)

// LogFormat is a compiled log-format string: literals and %[expr] samples,
// such as "x-%[req.hdr(host),lower]-%[src]". It is immutable and safe for
// concurrent use.
type LogFormat struct {
	src   string
	parts []lfPart
	konst []byte // the value when there is no expression
}

type lfPart struct {
	lit  []byte
	expr *fetch.Expr
}

// lfAliases are HAProxy's %-variables that map to one fetch.
var lfAliases = map[string]string{
	"ci": "src", "cp": "src_port", "fi": "dst", "fp": "dst_port",
	"f": "fe_name", "ft": "fe_name", "b": "be_name", "s": "srv_name",
	"HM": "method", "HU": "url", "HP": "path", "ST": "status",
}

// ParseLogFormat compiles src for point p: `%[expr]` inserts a sample,
// `%%` a percent sign, and a few of HAProxy's %-variables are understood
// (%ci %cp %fi %fp %f %ft %b %s %HM %HU %HP %ST). Every expression's layers
// are checked against p.
func ParseLogFormat(src string, p Point, env *Env) (*LogFormat, error) {
	if env == nil {
		env = &Env{}
	}
	l := &LogFormat{src: src}
	var lit []byte
	addExpr := func(x *fetch.Expr) {
		if len(lit) > 0 {
			l.parts = append(l.parts, lfPart{lit: lit})
			lit = nil
		}
		l.parts = append(l.parts, lfPart{expr: x})
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '%' {
			lit = append(lit, c)
			continue
		}
		if i+1 >= len(src) {
			return nil, fmt.Errorf("%w: log-format %q ends with '%%' (write %%%% for a percent sign)", ErrSyntax, src)
		}
		switch n := src[i+1]; {
		case n == '%':
			lit = append(lit, '%')
			i++
		case n == '[':
			end := closingBracket(src, i+2)
			if end < 0 {
				return nil, fmt.Errorf("%w: log-format %q: missing ']' after %%[", ErrSyntax, src)
			}
			x, err := env.parseExpr(src[i+2:end], p)
			if err != nil {
				return nil, err
			}
			addExpr(x)
			i = end
		case n == '{':
			return nil, fmt.Errorf("%w: log-format %q: %%{...} options", ErrUnsupported, src)
		default:
			j := i + 1
			for j < len(src) && (src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z') {
				j++
			}
			name := src[i+1 : j]
			fetchSrc, ok := lfAliases[name]
			if !ok {
				return nil, fmt.Errorf("%w: log-format %q: unknown variable %%%s (use %%[fetch] for samples, %%%% for a percent sign)", ErrSyntax, src, name)
			}
			x, err := env.parseExpr(fetchSrc, p)
			if err != nil {
				return nil, err
			}
			addExpr(x)
			i = j - 1
		}
	}
	if len(l.parts) == 0 {
		l.konst = lit
		if l.konst == nil {
			l.konst = []byte{}
		}
		return l, nil
	}
	if len(lit) > 0 {
		l.parts = append(l.parts, lfPart{lit: lit})
	}
	return l, nil
}

// closingBracket returns the index of the ']' that ends an expression
// starting at from: the first one outside quotes and parentheses.
func closingBracket(s string, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'', '"':
			q := s[i]
			j := strings.IndexByte(s[i+1:], q)
			if j < 0 {
				return -1
			}
			i += j + 1
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ']':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// String returns the log-format as written.
func (l *LogFormat) String() string { return l.src }

// Const returns the value when the log-format has no expression.
func (l *LogFormat) Const() ([]byte, bool) { return l.konst, l.konst != nil }

// Append appends the evaluated log-format to dst. A sample that does not
// exist adds nothing, as in HAProxy's header and body formats.
func (l *LogFormat) Append(dst []byte, ctx *fetch.Ctx) []byte {
	if l.konst != nil {
		return append(dst, l.konst...)
	}
	for i := range l.parts {
		pt := &l.parts[i]
		if pt.expr == nil {
			dst = append(dst, pt.lit...)
			continue
		}
		if v, ok := pt.expr.Eval(ctx); ok {
			dst = v.AppendString(dst)
		}
	}
	return dst
}

// appendAll is Append that reports false when any expression gives no
// sample (dynamic targets need every part).
func (l *LogFormat) appendAll(dst []byte, ctx *fetch.Ctx) ([]byte, bool) {
	if l.konst != nil {
		return append(dst, l.konst...), true
	}
	for i := range l.parts {
		pt := &l.parts[i]
		if pt.expr == nil {
			dst = append(dst, pt.lit...)
			continue
		}
		v, ok := pt.expr.Eval(ctx)
		if !ok {
			return dst, false
		}
		dst = v.AppendString(dst)
	}
	return dst, true
}
