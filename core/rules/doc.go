// Package rules compiles and runs strata's rules, written in HAProxy's
// compact form: ACLs, conditions, actions, rule sets per evaluation point,
// routing targets (use_backend, use-service) and log-format strings. It
// builds on package fetch for samples and matching.
//
// # Lifecycle and ownership
//
// Compiling happens once per configuration generation, on one goroutine,
// with an Env per frontend or backend: define the named ACLs first
// (Env.DefineACL), then compile rules (Compile, CompileSet), targets
// (CompileTarget) and log-formats (ParseLogFormat). Every compiled value
// (Rule, Set, Target, LogFormat, Action) is then immutable and shared by
// every connection goroutine; all per-request state lives in the fetch.Ctx
// and the layers it points to. Set.Eval and SelectTarget reset the Ctx's
// scratch arena before each rule or target.
//
// # Points and layers
//
// Each Point sees the layers of DESIGN.md (Point.Layers). Every fetch a
// rule uses — in its condition, named ACLs included, in its arguments and
// in its log-formats — and every variable it writes must need only layers
// that exist at the point; otherwise compiling fails with a *LayerError
// naming the rule, the fetch and the missing layer:
//
//	tcp-request connection "reject if { req.hdr(host) -m found }": fetch "req.hdr" needs layer TXN, which does not exist at tcp-request connection (available: CONN|SESS)
//
// At run time an action whose layer is absent does nothing.
//
// # Syntax
//
// A rule is `ACTION [args] [if|unless COND]`, a target `NAME [if|unless
// COND]`. Words are split like HAProxy's configuration lines: spaces
// separate; double quotes group and honour backslash escapes; single quotes
// group verbatim; a backslash escapes a space, quote, '#' or backslash and
// writes \n \r \t \xNN, and is kept before anything else (so "\." and "\1"
// reach regular expressions intact). A rule is one string: '#' does not
// start a comment and "$VAR" is not expanded.
//
// A condition is terms joined by implicit AND, "||" or "or" for OR (AND
// binds tighter), and "!" to negate a term ("!name" or "! name"). A term
// is a named ACL — every definition of the name, OR'ed — or an anonymous
// ACL in braces, which must be separate words: `{ path_beg /api }`. The
// predefined ACLs TRUE, FALSE, HTTP_1.0, HTTP_1.1, HTTP_CONTENT,
// HTTP_URL_ABS, HTTP_URL_SLASH, HTTP_URL_STAR, LOCALHOST, METH_CONNECT,
// METH_DELETE, METH_GET (GET or HEAD), METH_HEAD, METH_OPTIONS, METH_POST,
// METH_PUT, METH_TRACE and REQ_CONTENT exist unless the Env defines the
// name itself.
//
// An ACL is `FETCH [flags] [-m METHOD] PATTERN...`. FETCH is an expression
// (converters allowed) or one of HAProxy's derived keywords, a fetch name
// with a suffix naming the method: _beg _end _sub _reg _dir _dom _len _str
// _found, _val (integer) and _ip (path_beg, hdr_dom(host), urlp_val(id),
// base_sub, ...). Flags: -i (ignore case), -m METHOD, -f FILE (patterns
// from a file, relative to Env.Dir), -M (with -f: the file is a map, use
// its keys), -n (accepted; names are never resolved), -u ID (ignored) and
// -- (end of flags). Without -m the method follows the sample type: bool,
// int, ip, str (exact) or bin; after converters the keyword's own method
// is ignored, as in HAProxy. Integer patterns take values, ranges (N:M,
// :M, N:) and the operators eq ge gt le lt, which apply to the values that
// follow. Address patterns take CIDR networks (or dotted masks) in IPv4
// and IPv6; an IPv4 pattern matches IPv4-mapped, IPv4-compatible and 6to4
// samples, and an IPv6 pattern matches IPv4 samples as ::ffff:a.b.c.d.
// When a fetch has several occurrences (req.hdr without a position, cookies,
// URL parameters) every occurrence is tested, and the ACL matches when one
// does.
//
// "hdr" in an ACL or expression reads the request in request rules and the
// response in http-response and http-after-response rules; the derived
// keywords hdr_* always read the request (as HAProxy documents), shdr_* the
// response.
//
// # Actions
//
//	tcp-request connection, session and content:
//	    accept, reject, set-var, set-var-fmt, unset-var
//	http-request:
//	    allow, deny, reject, return, redirect, set-header, add-header,
//	    del-header, replace-header, replace-value, set-path, set-query,
//	    set-method, set-var, set-var-fmt, unset-var
//	http-response:
//	    allow, deny, return, set-header, add-header, del-header,
//	    replace-header, replace-value, set-status, set-var, set-var-fmt,
//	    unset-var
//	http-after-response:
//	    allow, set-header, add-header, del-header, replace-header,
//	    replace-value, set-status, set-var, set-var-fmt, unset-var
//
// accept, reject and allow give the verdicts of their names, deny Deny
// (status 403 by default), return Return (200), redirect Redirect (302);
// the others Continue. The variable actions take the variable in
// parentheses: set-var(txn.name) EXPR, set-var-fmt(sess.name) FMT,
// unset-var(req.name). del-header takes NAME [-m str|beg|end|sub|reg],
// set-status CODE [reason TEXT], the other header actions NAME FMT or
// NAME REGEX FMT.
//
// deny and return take [status N] [content-type T] [string S | lf-string
// FMT] (deny also deny_status N); a body needs a content-type and 204/304
// have none. redirect takes location L | prefix P | scheme S (log-formats),
// then [code 301|302|303|307|308] [drop-query] [append-slash]
// [ignore-empty]. Header actions edit the request in http-request and the
// response elsewhere, through the session.Txn methods, which mark the head
// edited. replace-header rewrites whole field values, replace-value each
// comma-separated value (dropping the spaces around a value it rewrites, as
// HAProxy 2.6 does: "abc, ade" becomes "XbcY,XdeY"); \1 to \9 insert
// groups. Verdict byte slices are the rule's constants or kept in the
// transaction (Txn.Keep); callers must not modify them.
//
// Plugins add actions with Actions.Register on a Clone. A name may contain
// dots (waf.check); a parenthesised list written after the name reaches
// the ParseFunc as args[0] (ParenArgs splits it), and Env.Point,
// Env.ParseExpr and Env.ParseLogFormat parse arguments for the point being
// compiled with the same layer checks as the built-ins.
//
// # Log-format
//
// `%[expr]` inserts a sample, `%%` a percent sign, and %ci %cp %fi %fp %f
// %ft %b %s %HM %HU %HP %ST stand for the matching fetches. A sample that
// does not exist inserts nothing (HAProxy does the same in header values;
// its access logs print "-", which the logger can do itself).
//
// # Differences from HAProxy
//
//   - What HAProxy accepts with a warning is an error here: an ACL without
//     a pattern (use -m found or -m bool), http-* rules in a TCP-mode
//     proxy, unknown options.
//   - An ACL on var() without -m matches strings, or integers when the
//     first pattern is an operator; HAProxy requires -m.
//   - A rule sees the definitions of a named ACL made before it was
//     compiled.
//   - "hdr" in an ACL follows the rule's direction (HAProxy's hdr ACL
//     keyword reads the request only, so it never matches in response
//     rules).
//   - Not supported: errorfile, errorfiles, file, lf-file and hdr replies;
//     redirect set-cookie and clear-cookie; set-var conditions (ifexists,
//     ...); log-format %{...} options; variables other than those listed.
//   - redirect append-slash adds the slash to the path, before the query
//     string (HAProxy appends it after the whole location).
//   - Values computed from samples never carry CR, LF or NUL into a header
//     or Location (they become spaces), and set-path, set-query and
//     set-method leave the request line unchanged when the result holds a
//     space or a control character.
//   - Regular expressions use Go's RE2 syntax; replace-header and
//     replace-value allocate once per field they rewrite.
package rules
