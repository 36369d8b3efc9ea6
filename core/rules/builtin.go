package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

// NewActions returns the built-in actions:
//
//	tcp-request connection/session/content: accept, reject, set-var,
//	    set-var-fmt, unset-var
//	http-request: allow, deny, reject, return, redirect, set-header,
//	    add-header, del-header, replace-header, replace-value, set-path,
//	    set-query, set-method, set-var, set-var-fmt, unset-var
//	http-response: allow, deny, return, set-header, add-header, del-header,
//	    replace-header, replace-value, set-status, set-var, set-var-fmt,
//	    unset-var
//	http-after-response: allow, set-header, add-header, del-header,
//	    replace-header, replace-value, set-status, set-var, set-var-fmt,
//	    unset-var
func NewActions() *Actions {
	a := &Actions{}
	var (
		tcp     = []Point{TCPConnection, TCPSession, TCPContent}
		http    = []Point{HTTPRequest, HTTPResponse, HTTPAfterResponse}
		all     = []Point{TCPConnection, TCPSession, TCPContent, HTTPRequest, HTTPResponse, HTTPAfterResponse}
		resp    = []Point{HTTPResponse, HTTPAfterResponse}
		req     = []Point{HTTPRequest}
		reqResp = []Point{HTTPRequest, HTTPResponse}
	)
	reg := func(name string, ps []Point, f ParseFunc) {
		if err := a.Register(name, ps, f); err != nil {
			panic(err) // a bug in this table
		}
	}
	reg("accept", tcp, parseVerdict(Accept))
	reg("reject", []Point{TCPConnection, TCPSession, TCPContent, HTTPRequest}, parseVerdict(Reject))
	reg("allow", http, parseVerdict(Allow))
	reg("set-var", all, parseSetVar)
	reg("set-var-fmt", all, parseSetVarFmt)
	reg("unset-var", all, parseUnsetVar)
	reg("deny", reqResp, parseReply(Deny, 403))
	reg("return", reqResp, parseReply(Return, 200))
	reg("redirect", req, parseRedirect)
	reg("set-header", http, parseSetHeader(false))
	reg("add-header", http, parseSetHeader(true))
	reg("del-header", http, parseDelHeader)
	reg("replace-header", http, parseReplace(false))
	reg("replace-value", http, parseReplace(true))
	reg("set-path", req, parseSetURI(setPath))
	reg("set-query", req, parseSetURI(setQuery))
	reg("set-method", req, parseSetURI(setMethod))
	reg("set-status", resp, parseSetStatus)
	return a
}

func wantArgs(args []string, n int, usage string) error {
	if len(args) != n {
		return fmt.Errorf("%w: want %s", ErrSyntax, usage)
	}
	return nil
}

// ---- accept, reject, allow ----

type verdictAct struct{ kind VerdictKind }

func (a verdictAct) Do(*fetch.Ctx) Verdict { return Verdict{Kind: a.kind} }

func parseVerdict(k VerdictKind) ParseFunc {
	return func(args []string, _ *Env) (Action, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("%w: takes no arguments, got %q", ErrSyntax, strings.Join(args, " "))
		}
		return verdictAct{k}, nil
	}
}

// ---- variables ----

// parseVarName reads the "(scope.name)" list of set-var and friends and
// checks the scope against the point.
func parseVarName(args []string, env *Env) (fetch.VarRef, []string, error) {
	list, rest, ok := ParenArgs(args)
	if !ok || len(list) == 0 {
		return fetch.VarRef{}, nil, fmt.Errorf("%w: the variable goes in parentheses: set-var(txn.name)", ErrSyntax)
	}
	if len(list) > 1 {
		return fetch.VarRef{}, nil, fmt.Errorf("%w: conditions %q", ErrUnsupported, strings.Join(list[1:], ","))
	}
	ref, err := fetch.ParseVarRef(list[0])
	if err != nil {
		return fetch.VarRef{}, nil, err
	}
	if err := env.checkVar(ref, env.point); err != nil {
		return fetch.VarRef{}, nil, err
	}
	return ref, rest, nil
}

type setVarAct struct {
	ref  fetch.VarRef
	expr *fetch.Expr
}

func (a *setVarAct) Do(ctx *fetch.Ctx) Verdict {
	if v, ok := a.expr.Eval(ctx); ok {
		a.ref.Set(ctx, v)
	}
	return Verdict{}
}

func parseSetVar(args []string, env *Env) (Action, error) {
	ref, rest, err := parseVarName(args, env)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(rest, 1, "set-var(scope.name) EXPR"); err != nil {
		return nil, err
	}
	x, err := env.ParseExpr(rest[0])
	if err != nil {
		return nil, err
	}
	return &setVarAct{ref: ref, expr: x}, nil
}

type setVarFmtAct struct {
	ref fetch.VarRef
	lf  *LogFormat
}

func (a *setVarFmtAct) Do(ctx *fetch.Ctx) Verdict {
	b := a.lf.Append(ctx.Buf(), ctx)
	a.ref.Set(ctx, sample.Str(b))
	ctx.PutBuf(b)
	return Verdict{}
}

func parseSetVarFmt(args []string, env *Env) (Action, error) {
	ref, rest, err := parseVarName(args, env)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(rest, 1, "set-var-fmt(scope.name) FORMAT"); err != nil {
		return nil, err
	}
	lf, err := env.ParseLogFormat(rest[0])
	if err != nil {
		return nil, err
	}
	return &setVarFmtAct{ref: ref, lf: lf}, nil
}

type unsetVarAct struct{ ref fetch.VarRef }

func (a *unsetVarAct) Do(ctx *fetch.Ctx) Verdict {
	a.ref.Unset(ctx)
	return Verdict{}
}

func parseUnsetVar(args []string, env *Env) (Action, error) {
	ref, rest, err := parseVarName(args, env)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(rest, 0, "unset-var(scope.name) and nothing else"); err != nil {
		return nil, err
	}
	return &unsetVarAct{ref: ref}, nil
}

// ---- deny, return ----

type replyAct struct {
	kind   VerdictKind
	status int
	ctype  []byte
	body   []byte
	lf     *LogFormat
}

func (a *replyAct) Do(ctx *fetch.Ctx) Verdict {
	v := Verdict{Kind: a.kind, Status: a.status, ContentType: a.ctype, Body: a.body}
	if a.lf != nil && ctx.Txn != nil {
		b := a.lf.Append(ctx.Buf(), ctx)
		v.Body = ctx.Txn.Keep(b)
		ctx.PutBuf(b)
	}
	return v
}

// parseReply parses HAProxy's reply options: [status N] [content-type T]
// [string S | lf-string FMT]; deny also takes deny_status N.
func parseReply(kind VerdictKind, defStatus int) ParseFunc {
	return func(args []string, env *Env) (Action, error) {
		a := &replyAct{kind: kind, status: defStatus}
		if kind == Deny && env.Point() == HTTPResponse {
			a.status = 502 // HAProxy's: the server's response is what is refused
		}
		bodySet := false
		for i := 0; i < len(args); i++ {
			opt := args[i]
			needValue := func() (string, error) {
				if i+1 >= len(args) {
					return "", fmt.Errorf("%w: %s needs a value", ErrSyntax, opt)
				}
				i++
				return args[i], nil
			}
			switch opt {
			case "status", "deny_status":
				if opt == "deny_status" && kind != Deny {
					return nil, fmt.Errorf("%w: unknown option %q", ErrSyntax, opt)
				}
				s, err := needValue()
				if err != nil {
					return nil, err
				}
				n, err := strconv.Atoi(s)
				if err != nil || n < 200 || n > 599 {
					return nil, fmt.Errorf("%w: status %q: want a code from 200 to 599", ErrSyntax, s)
				}
				a.status = n
			case "content-type":
				s, err := needValue()
				if err != nil {
					return nil, err
				}
				if strings.ContainsAny(s, "\r\n\x00") {
					return nil, fmt.Errorf("%w: content-type contains a control character", ErrSyntax)
				}
				a.ctype = []byte(s)
			case "string", "lf-string":
				s, err := needValue()
				if err != nil {
					return nil, err
				}
				if bodySet {
					return nil, fmt.Errorf("%w: only one of string and lf-string may be given", ErrSyntax)
				}
				bodySet = true
				if opt == "string" {
					a.body = []byte(s)
					break
				}
				lf, err := env.ParseLogFormat(s)
				if err != nil {
					return nil, err
				}
				if c, ok := lf.Const(); ok {
					a.body = c
				} else {
					a.lf = lf
				}
			case "default-errorfiles":
				// the proxy's error pages: what Deny/Return without a body mean
			case "errorfile", "errorfiles", "file", "lf-file", "hdr":
				return nil, fmt.Errorf("%w: option %q (use string or lf-string)", ErrUnsupported, opt)
			default:
				return nil, fmt.Errorf("%w: unknown option %q (want status, content-type, string or lf-string)", ErrSyntax, opt)
			}
		}
		if (len(a.body) > 0 || a.lf != nil) && a.ctype == nil {
			return nil, fmt.Errorf("%w: a content-type must be given with a non-empty string or lf-string", ErrSyntax)
		}
		if (a.status == 204 || a.status == 304) && (len(a.body) > 0 || a.lf != nil) {
			return nil, fmt.Errorf("%w: a %d response has no body", ErrSyntax, a.status)
		}
		return a, nil
	}
}

// ---- redirect ----

type redirectKind uint8

const (
	redirLocation redirectKind = iota + 1
	redirPrefix
	redirScheme
)

type redirectAct struct {
	kind        redirectKind
	lf          *LogFormat
	code        int
	dropQuery   bool
	appendSlash bool
	ignoreEmpty bool
}

func parseRedirect(args []string, env *Env) (Action, error) {
	a := &redirectAct{code: 302}
	for i := 0; i < len(args); i++ {
		switch opt := args[i]; opt {
		case "location", "prefix", "scheme":
			if a.kind != 0 {
				return nil, fmt.Errorf("%w: only one of location, prefix and scheme may be given", ErrSyntax)
			}
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: %s needs a value", ErrSyntax, opt)
			}
			i++
			lf, err := env.ParseLogFormat(args[i])
			if err != nil {
				return nil, err
			}
			a.lf = lf
			a.kind = map[string]redirectKind{"location": redirLocation, "prefix": redirPrefix, "scheme": redirScheme}[opt]
		case "code":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: code needs a value", ErrSyntax)
			}
			i++
			switch n, _ := strconv.Atoi(args[i]); n {
			case 301, 302, 303, 307, 308:
				a.code = n
			default:
				return nil, fmt.Errorf("%w: code %q: want 301, 302, 303, 307 or 308", ErrSyntax, args[i])
			}
		case "drop-query":
			a.dropQuery = true
		case "append-slash":
			a.appendSlash = true
		case "ignore-empty":
			a.ignoreEmpty = true
		case "set-cookie", "clear-cookie":
			return nil, fmt.Errorf("%w: option %q", ErrUnsupported, opt)
		default:
			return nil, fmt.Errorf("%w: unknown option %q (want location, prefix or scheme, then code, drop-query, append-slash or ignore-empty)", ErrSyntax, opt)
		}
	}
	if a.kind == 0 {
		return nil, fmt.Errorf("%w: want location L, prefix P or scheme S", ErrSyntax)
	}
	return a, nil
}

var hostField = []byte("host")

func (a *redirectAct) Do(ctx *fetch.Ctx) Verdict {
	t := ctx.Txn
	if t == nil {
		return Verdict{}
	}
	b := a.lf.Append(ctx.Buf(), ctx)
	if a.ignoreEmpty && len(b) == 0 {
		ctx.PutBuf(b)
		return Verdict{}
	}
	if a.kind != redirLocation {
		if a.kind == redirPrefix {
			if len(b) == 1 && b[0] == '/' {
				b = b[:0] // "/" redirects to the same URI
			}
		} else {
			b = append(b, "://"...)
			for _, f := range t.Req.Fields {
				if session.EqualFold(f.Name, hostField) {
					b = append(b, trimSpace(f.Value)...)
					break
				}
			}
		}
		path := t.Req.Path
		if len(path) == 0 || a.kind == redirScheme && len(path) == 1 && path[0] == '*' {
			path = slash
		}
		b = append(b, path...)
		if a.appendSlash && b[len(b)-1] != '/' {
			b = append(b, '/')
		}
		if !a.dropQuery && t.Req.Query != nil {
			b = append(b, '?')
			b = append(b, t.Req.Query...)
		}
	}
	loc := t.Keep(sanitize(b))
	ctx.PutBuf(b)
	return Verdict{Kind: Redirect, Status: a.code, Location: loc}
}

var slash = []byte("/")

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ---- header edits ----

// validFieldName reports whether s is an HTTP token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// sanitize replaces CR, LF and NUL in a computed field value by spaces, so
// that no sample can inject a header line.
func sanitize(b []byte) []byte {
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return b
}

func parseFieldValueFmt(s string, env *Env) (*LogFormat, error) {
	lf, err := env.ParseLogFormat(s)
	if err != nil {
		return nil, err
	}
	if c, ok := lf.Const(); ok && strings.ContainsAny(string(c), "\r\n\x00") {
		return nil, fmt.Errorf("%w: header value contains a control character", ErrSyntax)
	}
	return lf, nil
}

type headerAct struct {
	name []byte
	lf   *LogFormat
	resp bool
	add  bool
}

// failUnless records a refused edit (session.Txn's setters) as the
// stream's failure: the rule set stops there and the engine answers 500
// (termination cause rewrite_failed).
func failUnless(ctx *fetch.Ctx, ok bool) {
	if !ok {
		ctx.Fail(session.CauseRewrite)
	}
}

func (a *headerAct) Do(ctx *fetch.Ctx) Verdict {
	t := ctx.Txn
	if t == nil || a.resp && t.Resp.Status == 0 {
		return Verdict{}
	}
	val, isConst := a.lf.Const()
	if !isConst {
		val = sanitize(a.lf.Append(ctx.Buf(), ctx))
	}
	var ok bool
	switch {
	case a.resp && a.add:
		ok = t.AddRespHeader(a.name, val)
	case a.resp:
		ok = t.SetRespHeader(a.name, val)
	case a.add:
		ok = t.AddReqHeader(a.name, val)
	default:
		ok = t.SetReqHeader(a.name, val)
	}
	failUnless(ctx, ok)
	if !isConst {
		ctx.PutBuf(val)
	}
	return Verdict{}
}

func parseSetHeader(add bool) ParseFunc {
	return func(args []string, env *Env) (Action, error) {
		if err := wantArgs(args, 2, "NAME FORMAT"); err != nil {
			return nil, err
		}
		if !validFieldName(args[0]) {
			return nil, fmt.Errorf("%w: %q is not a valid header name", ErrSyntax, args[0])
		}
		lf, err := parseFieldValueFmt(args[1], env)
		if err != nil {
			return nil, err
		}
		return &headerAct{name: []byte(args[0]), lf: lf, resp: env.point.isResponse(), add: add}, nil
	}
}

type delHeaderAct struct {
	name   []byte
	method fetch.MatchMethod
	re     *regexp.Regexp
	resp   bool
}

func parseDelHeader(args []string, env *Env) (Action, error) {
	a := &delHeaderAct{method: fetch.MatchStr, resp: env.point.isResponse()}
	switch {
	case len(args) == 1:
	case len(args) == 3 && args[1] == "-m":
		m, ok := fetch.ParseMatchMethod(args[2])
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: unknown match method %q", ErrSyntax, args[2])
		case m == fetch.MatchReg:
			re, err := regexp.Compile(args[0])
			if err != nil {
				return nil, fmt.Errorf("%w: regex %q: %v", ErrSyntax, args[0], err)
			}
			a.re = re
		case m != fetch.MatchStr && m != fetch.MatchBeg && m != fetch.MatchEnd && m != fetch.MatchSub:
			return nil, fmt.Errorf("%w: del-header matches names with str, beg, end, sub or reg", ErrSyntax)
		}
		a.method = m
	default:
		return nil, fmt.Errorf("%w: want NAME [-m str|beg|end|sub|reg]", ErrSyntax)
	}
	if a.method != fetch.MatchReg && !validFieldName(args[0]) {
		return nil, fmt.Errorf("%w: %q is not a valid header name", ErrSyntax, args[0])
	}
	a.name = []byte(args[0])
	return a, nil
}

func (a *delHeaderAct) matches(name []byte) bool {
	n := a.name
	switch a.method {
	case fetch.MatchBeg:
		return len(name) >= len(n) && session.EqualFold(name[:len(n)], n)
	case fetch.MatchEnd:
		return len(name) >= len(n) && session.EqualFold(name[len(name)-len(n):], n)
	case fetch.MatchSub:
		for i := 0; i+len(n) <= len(name); i++ {
			if session.EqualFold(name[i:i+len(n)], n) {
				return true
			}
		}
		return false
	case fetch.MatchReg:
		return a.re.Match(name)
	}
	return session.EqualFold(name, n)
}

func (a *delHeaderAct) Do(ctx *fetch.Ctx) Verdict {
	t := ctx.Txn
	if t == nil || a.resp && t.Resp.Status == 0 {
		return Verdict{}
	}
	if a.method == fetch.MatchStr {
		if a.resp {
			t.DelRespHeader(a.name)
		} else {
			t.DelReqHeader(a.name)
		}
		return Verdict{}
	}
	fs := &t.Req.Fields
	if a.resp {
		fs = &t.Resp.Fields
	}
	out := (*fs)[:0]
	for _, f := range *fs {
		if !a.matches(f.Name) {
			out = append(out, f)
		}
	}
	if len(out) < len(*fs) {
		clear((*fs)[len(out):])
		*fs = out
		if a.resp {
			t.RespEdited = true
		} else {
			t.ReqEdited = true
		}
	}
	return Verdict{}
}

type replaceAct struct {
	name     []byte
	re       *regexp.Regexp
	lf       *LogFormat
	resp     bool
	perValue bool
}

func parseReplace(perValue bool) ParseFunc {
	return func(args []string, env *Env) (Action, error) {
		if err := wantArgs(args, 3, "NAME REGEX REPLACEMENT"); err != nil {
			return nil, err
		}
		if !validFieldName(args[0]) {
			return nil, fmt.Errorf("%w: %q is not a valid header name", ErrSyntax, args[0])
		}
		re, err := regexp.Compile(args[1])
		if err != nil {
			return nil, fmt.Errorf("%w: regex %q: %v", ErrSyntax, args[1], err)
		}
		lf, err := parseFieldValueFmt(args[2], env)
		if err != nil {
			return nil, err
		}
		return &replaceAct{name: []byte(args[0]), re: re, lf: lf, resp: env.point.isResponse(), perValue: perValue}, nil
	}
}

func (a *replaceAct) Do(ctx *fetch.Ctx) Verdict {
	t := ctx.Txn
	if t == nil || a.resp && t.Resp.Status == 0 {
		return Verdict{}
	}
	fs := t.Req.Fields
	if a.resp {
		fs = t.Resp.Fields
	}
	var tmpl []byte
	haveTmpl := false
	edited := false
	for i := range fs {
		if !session.EqualFold(fs[i].Name, a.name) {
			continue
		}
		v := fs[i].Value
		if !a.re.Match(v) && !a.perValue {
			continue
		}
		if !haveTmpl {
			haveTmpl = true
			if c, ok := a.lf.Const(); ok {
				tmpl = c
			} else {
				b := a.lf.Append(ctx.Buf(), ctx)
				tmpl = t.Keep(b)
				ctx.PutBuf(b)
			}
		}
		out := ctx.Buf()
		changed := false
		if !a.perValue {
			out = expand(out, tmpl, v, a.re.FindSubmatchIndex(v))
			changed = true
		} else {
			for off := 0; off <= len(v); {
				seg, next := rawElem(v, off)
				if off > 0 {
					out = append(out, ',')
				}
				if e := trimSpace(seg); a.re.Match(e) {
					out = expand(out, tmpl, e, a.re.FindSubmatchIndex(e))
					changed = true
				} else {
					out = append(out, seg...)
				}
				off = next
			}
		}
		if changed {
			fs[i].Value = t.Keep(sanitize(out))
			edited = true
		}
		ctx.PutBuf(out)
	}
	if edited {
		if a.resp {
			t.RespEdited = true
		} else {
			t.ReqEdited = true
		}
	}
	return Verdict{}
}

// rawElem returns the comma-separated element of v starting at off, with
// its surrounding spaces, and the offset after its comma. Commas inside
// double quotes do not separate.
func rawElem(v []byte, off int) ([]byte, int) {
	i, inQuote := off, false
	for ; i < len(v); i++ {
		c := v[i]
		if inQuote {
			if c == '\\' && i+1 < len(v) {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		}
		if c == '"' {
			inQuote = true
		} else if c == ',' {
			break
		}
	}
	return v[off:i], i + 1
}

// expand appends tmpl to dst with back-references replaced as HAProxy's
// exp_replace does: \0-\9 insert a group of the match m in src, \xHH a
// byte, and a backslash before anything else keeps that character.
func expand(dst, tmpl, src []byte, m []int) []byte {
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '\\' || i+1 >= len(tmpl) {
			dst = append(dst, c)
			continue
		}
		i++
		c = tmpl[i]
		switch {
		case c >= '0' && c <= '9':
			g := int(c - '0')
			if 2*g+1 < len(m) && m[2*g] >= 0 {
				dst = append(dst, src[m[2*g]:m[2*g+1]]...)
			}
		case c == 'x' && i+2 < len(tmpl) && isHex(tmpl[i+1]) && isHex(tmpl[i+2]):
			dst = append(dst, unhex(tmpl[i+1])<<4|unhex(tmpl[i+2]))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ---- request line ----

type uriPart uint8

const (
	setPath uriPart = iota
	setQuery
	setMethod
)

type setURIAct struct {
	part uriPart
	lf   *LogFormat
}

func parseSetURI(part uriPart) ParseFunc {
	return func(args []string, env *Env) (Action, error) {
		if err := wantArgs(args, 1, "FORMAT"); err != nil {
			return nil, err
		}
		lf, err := env.ParseLogFormat(args[0])
		if err != nil {
			return nil, err
		}
		if c, ok := lf.Const(); ok && part == setMethod && !validFieldName(string(c)) {
			return nil, fmt.Errorf("%w: %q is not a valid method", ErrSyntax, c)
		}
		return &setURIAct{part: part, lf: lf}, nil
	}
}

// invalidURIByte reports bytes that may not appear in a request line.
func invalidURIByte(c byte) bool { return c <= ' ' || c == 0x7f }

func (a *setURIAct) Do(ctx *fetch.Ctx) Verdict {
	t := ctx.Txn
	if t == nil {
		return Verdict{}
	}
	b := a.lf.Append(ctx.Buf(), ctx)
	for _, c := range b {
		if invalidURIByte(c) {
			// A sample with spaces or controls would break the request
			// line: leave it unchanged.
			ctx.PutBuf(b)
			return Verdict{}
		}
	}
	ok := true
	switch a.part {
	case setPath:
		ok = t.SetPath(b)
	case setQuery:
		ok = t.SetQuery(b)
	case setMethod:
		if len(b) > 0 {
			ok = t.SetMethod(b)
		}
	}
	failUnless(ctx, ok)
	ctx.PutBuf(b)
	return Verdict{}
}

// ---- response status ----

type setStatusAct struct {
	code   int
	reason []byte
}

func (a *setStatusAct) Do(ctx *fetch.Ctx) Verdict {
	if t := ctx.Txn; t != nil && t.Resp.Status != 0 {
		t.SetStatus(a.code, a.reason)
	}
	return Verdict{}
}

func parseSetStatus(args []string, _ *Env) (Action, error) {
	if len(args) != 1 && !(len(args) == 3 && args[1] == "reason") {
		return nil, fmt.Errorf("%w: want CODE [reason TEXT]", ErrSyntax)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 100 || n > 999 {
		return nil, fmt.Errorf("%w: status %q: want a code from 100 to 999", ErrSyntax, args[0])
	}
	a := &setStatusAct{code: n, reason: []byte(h1.Reason(n))}
	if len(args) == 3 {
		if strings.ContainsAny(args[2], "\r\n\x00") {
			return nil, fmt.Errorf("%w: reason contains a control character", ErrSyntax)
		}
		a.reason = []byte(args[2])
	}
	return a, nil
}
