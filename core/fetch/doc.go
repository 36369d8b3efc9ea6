// Package fetch is strata's sample engine: sample fetches, converters, the
// expressions that chain them (`req.hdr(host),lower,map(hosts.map,www)`),
// the casts between sample types and the pattern matchers that ACLs and map
// converters share. Its names and meanings follow HAProxy's configuration
// manual; the differences are listed at the end.
//
// # Ownership and concurrency
//
// A Registry is filled at setup (NewRegistry, then plugin registrations on
// a Clone per configuration generation) and only read afterwards, by any
// number of goroutines. An Expr, a Matcher and a map index are immutable
// once built and shared by every connection goroutine. A Ctx belongs to
// the goroutine driving one stream: it carries the layers an evaluation may
// look at and a scratch arena that converters write into. Scratch is never
// grown in place, so earlier results stay valid until ResetScratch; the
// caller resets it between rules (the rules package does).
//
// Every fetch declares the layers it needs (Fetch.Needs, plus the layer of
// any variable named in its arguments). Expr.Needs reports them so that
// configuration loading can reject a fetch where its layer cannot exist;
// at run time a fetch whose layer is absent gives no sample, never a panic.
//
// The run path allocates nothing: header lookups work on h1.Field values
// in place (with session.EqualFold), multi-valued fetches enumerate by
// cursor (Expr.EvalNext) rather than by callback, and converter outputs
// live in the scratch arena. TestExpr_EvalAllocs holds every built-in to
// that. The one exception is var(proc.NAME) on a string, because
// sample.SharedVars.Get returns a copy.
//
// # Expressions
//
//	expr  = fetch { "," converter }
//	fetch = name [ "(" [ arg { "," arg } ] ")" ]
//
// Names are letters, digits, '.', '_' and '-'. Inside an argument list,
// single quotes keep everything, double quotes and backslashes protect
// commas and parentheses, and balanced parentheses are kept (regular
// expressions). Arguments are typed by the fetch or converter (ArgKind)
// and checked at load.
//
// # Built-in fetches
//
//	CONN  src, dst (ip), src_port, dst_port (int); the TLS fetches
//	      ssl_fc, ssl_fc_sni, ssl_fc_protocol, ssl_fc_alpn,
//	      ssl_fc_is_resumed, ssl_c_used, ssl_c_s_dn, ssl_c_verify
//	      (see ssl.go: no sample before the handshake)
//	SESS  fe_name
//	STRM  be_name, srv_name, req.len (alias req_len), req.payload(off,len)
//	TXN   method, path, url, query, base, req.ver, res.ver, status,
//	      url_param([name[,delim]]) (alias urlp),
//	      req.hdr([name[,occ]]) (alias hdr), req.hdr_cnt([name]) (hdr_cnt),
//	      req.fhdr(name[,occ]), req.fhdr_cnt([name]),
//	      req.hdr_ip([name[,occ]]) (hdr_ip), req.hdr_val([name[,occ]]) (hdr_val),
//	      req.cook([name]) (cook), req.cook_cnt([name]) (cook_cnt),
//	      res.hdr([name[,occ]]) (shdr), res.hdr_cnt([name]) (shdr_cnt),
//	      res.fhdr(name[,occ]), res.fhdr_cnt([name])
//	vars  var(scope.name[,default]): proc needs nothing, sess needs SESS,
//	      txn, req and res need STRM
//	none  always_true, always_false, int(n), bool(n), str(s), bin(hex),
//	      ipv4(addr), ipv6(addr)
//
// req.hdr splits field values at commas (not inside double quotes) and
// trims spaces, so each element is an occurrence; req.fhdr returns whole
// field values. Without a position both return the last occurrence, and
// Expr.EvalNext enumerates all of them, which is how ACLs test every value.
// A position counts from 1, or from the end when negative (-1 is the last).
// req.cook returns the last cookie of that name (the first cookie when no
// name is given); cookies are separated by ';' or ','. url_param looks
// after the first delim ('?' by default) and parameters end at '&', ';' or
// delim. base is the first Host field and the path. status and res.* give
// no sample before a response exists. Header fetches read Txn.Req.Fields
// and Txn.Resp.Fields (never h1.Request.Host, which edits do not update).
//
// # Converters
//
// lower, upper, length (alias len), ipmask(mask4[,mask6]), base64, hex
// (upper case), json([ascii|utf8|utf8s|utf8p|utf8ps]), and the map family:
// map(file[,default]) (= map_str) and map_<match>[_<out>] for match str,
// beg, sub, dir, dom, end, reg, int, ip and out int or ip (str when
// omitted). A sample is cast to the converter's input type first (Cast,
// HAProxy's table: "12abc" is the integer 12, an int is an IPv4 address,
// bin and str convert as raw bytes).
//
// # Maps and pattern files
//
// A map file holds one "key value" per line: leading spaces are stripped,
// the key is the first word and the value the rest of the line without
// trailing spaces; '#' lines and blank lines are skipped. Relative names
// are resolved against ParseOptions.Dir. A MapCache reads each file once
// per configuration generation and builds each (file, method, output type)
// index once, shared by every use. Exact keys are looked up in a Go map,
// prefixes (map_beg) prefer the longest and networks (map_ip) the most
// specific, like HAProxy's trees; the other methods take the first match
// in file order. Only regular files up to 256 MiB are read.
//
// # Differences from HAProxy
//
//   - "hdr" in an expression reads the request, or the response when
//     ParseOptions.Response is set (HAProxy decides by direction at run
//     time, with the same result).
//   - Request fetches (req.hdr, path, ...) are accepted in response rules:
//     the transaction keeps the request head. HAProxy refuses them there.
//   - src and dst give IPv4 for IPv4-mapped IPv6 peers.
//   - be_name and srv_name give no sample until a backend or server is
//     chosen (HAProxy's be_name in a frontend names the frontend).
//   - req and res variables live in Stream.Vars under the keys "req:NAME"
//     and "res:NAME" for the whole stream; HAProxy drops them after each
//     direction's processing. txn variables use the bare name, sess
//     variables Session.Vars.
//   - Regular expressions use Go's RE2 syntax: no back-references or
//     look-around inside patterns.
//   - json(utf8p) and json(utf8ps) do not repair overlong encodings; they
//     behave like utf8 and utf8s.
//   - Address patterns never resolve host names (-n always holds).
//   - HAProxy's manual lists "dc-eu.example:80" as a -m dom match for
//     "http://www1.dc-eu.example.com:80/blah"; HAProxy 2.6 does not match
//     it and neither does strata (the words are not contiguous).
//   - Only the fetches and converters listed above exist; the rest of
//     HAProxy's catalogue (regsub, field, arithmetic, ...) is not built in.
package fetch
