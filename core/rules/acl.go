package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/sample"
)

// acl is one compiled ACL: an expression, a match method and its patterns.
type acl struct {
	src    string
	expr   *fetch.Expr
	method fetch.MatchMethod
	m      *fetch.Matcher
}

// derived are the suffixes of HAProxy's ACL keywords (path_beg, hdr_dom,
// ...) and the match method each implies.
var derived = []struct {
	suffix string
	method fetch.MatchMethod
}{
	{"_beg", fetch.MatchBeg}, {"_end", fetch.MatchEnd}, {"_sub", fetch.MatchSub},
	{"_reg", fetch.MatchReg}, {"_dir", fetch.MatchDir}, {"_dom", fetch.MatchDom},
	{"_len", fetch.MatchLen}, {"_str", fetch.MatchStr}, {"_found", fetch.MatchFound},
	{"_val", fetch.MatchInt}, {"_ip", fetch.MatchIP},
}

// derivedBase maps the fetch part of a derived keyword to the fetch it
// means: HAProxy's hdr_* keywords always read the request.
var derivedBase = map[string]string{"hdr": "req.hdr", "shdr": "res.hdr"}

// fetchName returns the name at the start of an expression.
func fetchName(s string) string {
	if i := strings.IndexAny(s, "(,"); i >= 0 {
		return s[:i]
	}
	return s
}

// compileACL compiles `FETCH [flags] [-m METHOD] PATTERN...`.
func (e *Env) compileACL(words []string, resp bool) (*acl, error) {
	reg := e.registry()
	crit := words[0]
	name := fetchName(crit)
	exprSrc := crit
	var keyMethod fetch.MatchMethod
	if _, ok := reg.Fetch(name); !ok {
		for _, d := range derived {
			base, ok := strings.CutSuffix(name, d.suffix)
			if !ok || base == "" {
				continue
			}
			if alt, ok := derivedBase[base]; ok {
				base = alt
			}
			if _, ok := reg.Fetch(base); ok {
				exprSrc = base + crit[len(name):]
				keyMethod = d.method
				break
			}
		}
	}
	p := HTTPRequest
	if resp {
		p = HTTPResponse
	}
	x, err := reg.ParseExpr(exprSrc, fetch.ParseOptions{Dir: e.Dir, Maps: e.Maps, Response: p.isResponse()})
	if err != nil {
		if errors.Is(err, fetch.ErrUnknownFetch) && keyMethod == fetch.MatchNone {
			// Suggest among ACL keywords too (pth_beg → path_beg).
			var cands []string
			for _, n := range reg.FetchNames() {
				cands = append(cands, n)
				for _, d := range derived {
					cands = append(cands, n+d.suffix)
				}
			}
			if s := fetch.Suggest(name, cands); s != "" {
				return nil, fmt.Errorf("%w %q; did you mean %s?", fetch.ErrUnknownFetch, name, s)
			}
		}
		return nil, err
	}
	a := &acl{src: strings.Join(words, " "), expr: x}

	// Flags come first; "--" ends them.
	var (
		icase    bool
		method   fetch.MatchMethod
		files    []string
		mapFiles bool
		i        = 1
	)
flags:
	for ; i < len(words); i++ {
		w := words[i]
		if len(w) < 2 || w[0] != '-' {
			break
		}
		switch w {
		case "--":
			i++
			break flags
		case "-i":
			icase = true
		case "-n":
			// no DNS resolution: strata never resolves names in patterns
		case "-M":
			mapFiles = true
		case "-m", "-f", "-u":
			if i+1 >= len(words) {
				return nil, fmt.Errorf("%w: flag %s needs an argument", ErrSyntax, w)
			}
			i++
			switch w {
			case "-m":
				mm, ok := fetch.ParseMatchMethod(words[i])
				if !ok {
					return nil, fmt.Errorf("%w: unknown match method %q (want found, bool, int, ip, bin, len, str, sub, reg, beg, end, dir or dom)", ErrSyntax, words[i])
				}
				method = mm
			case "-f":
				files = append(files, words[i])
			}
		default:
			return nil, fmt.Errorf("%w: unknown flag %q (want -i, -m, -f, -M, -n, -u or --; write -- before a pattern that starts with '-')", ErrSyntax, w)
		}
	}
	patterns := append([]string(nil), words[i:]...)
	for _, f := range files {
		path := f
		if !filepath.IsAbs(path) && e.Dir != "" {
			path = filepath.Join(e.Dir, path)
		}
		var (
			more []string
			err  error
		)
		if mapFiles {
			more, err = e.Maps.MapKeys(path)
		} else {
			more, err = e.Maps.Patterns(path)
		}
		if err != nil {
			return nil, fmt.Errorf("pattern file: %w", err)
		}
		patterns = append(patterns, more...)
	}

	if method == fetch.MatchNone {
		switch {
		case keyMethod != fetch.MatchNone && !x.HasConverters():
			method = keyMethod
		case x.Out() == sample.TypeNone:
			// Variables have no fixed type: an integer operator asks for an
			// integer match, anything else for a string match.
			method = fetch.MatchStr
			if len(patterns) > 0 {
				switch patterns[0] {
				case "eq", "ge", "gt", "le", "lt":
					method = fetch.MatchInt
				}
			}
		default:
			method = fetch.DefaultMatch(x.Out())
		}
	}
	a.method = method
	if method != fetch.MatchFound && !fetch.CanCast(x.Out(), method.Input()) {
		return nil, fmt.Errorf("%w: -m %s cannot match %s samples from %s", fetch.ErrType, method, x.Out(), x.FetchName())
	}
	if len(patterns) == 0 && len(files) == 0 && method != fetch.MatchFound && method != fetch.MatchBool {
		return nil, fmt.Errorf("%w: %s has no pattern to match and would never match; use -m found to test presence, or -m bool to test a value", ErrSyntax, crit)
	}
	if a.m, err = fetch.NewMatcher(method, patterns, icase); err != nil {
		if errors.Is(err, fetch.ErrArgs) || errors.Is(err, fetch.ErrSyntax) {
			return nil, fmt.Errorf("%s: %w", crit, err)
		}
		return nil, err
	}
	return a, nil
}

// eval reports whether any occurrence of the sample matches.
func (a *acl) eval(ctx *fetch.Ctx) bool {
	if !a.expr.Iterable() {
		v, ok := a.expr.Eval(ctx)
		return ok && a.m.Match(ctx, v)
	}
	var cur uint64
	for {
		v, next, ok, more := a.expr.EvalNext(ctx, cur)
		if !more {
			return false
		}
		if ok && a.m.Match(ctx, v) {
			return true
		}
		cur = next
	}
}
