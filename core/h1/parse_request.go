package h1

import "bytes"

// ParseRequest parses the request head at the start of buf into r, in
// place: every slice set in r aliases buf (capacity capped at its length,
// so appending to one never writes into buf). r.Fields is truncated and
// reused, so once it has the capacity, a successful parse allocates nothing.
// lim bounds the head; nil, or a field ≤ 0, means DefaultLimits' value.
//
// It returns nil, ErrIncomplete (read more and call again with the longer
// buffer; the parse starts over), or an *Error whose Status is the answer
// to send (400, 414, 431 or 505) before closing the connection. The *Error
// values are shared: compare or wrap them, never modify them. After an
// error, r holds partial results and must not be used.
//
// The rules, from RFC 9112 read strictly so that no two parsers can frame
// the same bytes differently:
//
//   - Up to MaxLeadingEmptyLines CRLFs before the request line are skipped
//     and counted in HeadLen. Every line must end with CRLF: a bare LF or a
//     bare CR anywhere in the head is a 400.
//   - Request line: token SP request-target SP HTTP-version, one SP each.
//     The version must be HTTP/1.0 or HTTP/1.1; another HTTP/x.y is a 505.
//     The target has no CTL, SP, DEL, byte ≥ 0x80 or '#'; longer lines
//     than Limits.MaxRequestLine (CRLF excluded) are a 414.
//   - Target forms: origin-form ("/p?q"); asterisk-form ("*") with OPTIONS
//     only (Path is "*"); authority-form ("host:port", port required) with
//     CONNECT only, and CONNECT with nothing else (Path and Query are nil);
//     absolute-form with the scheme http or https (any case) and a
//     non-empty host, no userinfo; Path is what follows the authority up to
//     '?', or "/" when nothing does (aliasing the second '/' of "://").
//     In absolute-form a Host field must name the same authority (ASCII
//     case-insensitive, the scheme's default port optional on either
//     side), so that rules reading Host and a server reading the target
//     agree; otherwise 400.
//   - Fields: name is a non-empty token immediately followed by ':'; the
//     value may not hold a CTL other than HTAB (NUL included) or DEL; OWS
//     around the value is trimmed; a line starting with SP or HTAB
//     (obs-fold) is a 400. So is Content_Length or Transfer_Encoding (any
//     case), which CGI-style servers would read as the framing fields. More than Limits.MaxHeaders fields, or a head
//     longer than Limits.MaxHeadBytes, is a 431 — also while the head is
//     still incomplete but len(buf) already reaches MaxHeadBytes.
//   - Host: required in HTTP/1.1, at most one, its value empty or
//     uri-host [":" port].
//   - Framing: Content-Length and Transfer-Encoding together are a 400.
//     Content-Length is 1*DIGIT fitting int64; identical repeats, in one
//     list or in several fields, are folded into one length (RFC 9112
//     §6.3); any difference is a 400. Transfer-Encoding must be exactly
//     "chunked" (once, any case, OWS allowed around it, possibly in its own
//     field): another coding, an empty list element or "chunked" twice is
//     a 400, and so is Transfer-Encoding in an HTTP/1.0 request. CONNECT
//     with a body (Transfer-Encoding, or Content-Length > 0) is a 400.
//     Body is BodyNone whenever no body bytes follow the head, including
//     for "Content-Length: 0"; ContentLength is set only for BodyLength.
//   - KeepAlive: HTTP/1.1 unless Connection lists "close"; HTTP/1.0 only if
//     it lists "keep-alive" (and not "close"). Upgrade: HTTP/1.1, an
//     Upgrade field, and "upgrade" in Connection. ExpectContinue: HTTP/1.1
//     and an Expect field equal to "100-continue" (any case).
//
// The whole head is parsed again on every call, so a caller should call
// again only after a read added bytes.
func ParseRequest(r *Request, buf []byte, lim *Limits) error {
	maxLine, maxHead, maxFields := limits(lim)
	fields := r.Fields[:0]
	*r = Request{}
	code := parseRequest(r, buf, maxLine, maxHead, maxFields, fields)
	if r.Fields == nil {
		// Keep the storage when the head was incomplete or rejected, so the
		// next attempt on the longer buffer does not allocate.
		r.Fields = fields[:0]
	}
	switch code {
	case eNone:
		return nil
	case eMore:
		if len(buf) >= maxHead {
			return reqErrors[eHeadTooLarge]
		}
		return ErrIncomplete
	}
	return reqErrors[code]
}

func parseRequest(r *Request, buf []byte, maxLine, maxHead, maxFields int, fields []Field) errCode {
	// Empty lines before the request line (RFC 9112 §2.2).
	p := 0
	for n := 0; p < len(buf) && (buf[p] == '\r' || buf[p] == '\n'); n++ {
		if buf[p] == '\n' {
			return eBareLF
		}
		if p+1 >= len(buf) {
			return eMore
		}
		if buf[p+1] != '\n' {
			return eBareCR
		}
		if n == MaxLeadingEmptyLines {
			return eEmptyLines
		}
		p += 2
	}

	// request-line = method SP request-target SP HTTP-version CRLF
	lf, code := findLineEnd(buf, p, maxLine)
	if code != eNone {
		return code
	}
	if lf == p || buf[lf-1] != '\r' {
		return eBareLF
	}
	end := lf - 1
	if end-p > maxLine {
		return eLineTooLong
	}
	i := p
	for i < end && class[buf[i]]&cTchar != 0 {
		i++
	}
	if i == end {
		return eRequestLine
	}
	if i == p || buf[i] != ' ' {
		return eMethod
	}
	method := buf[p:i:i]
	i++
	ts := i
	for i < end && class[buf[i]]&cTarget != 0 {
		i++
	}
	if i == ts || i == end {
		return eRequestLine
	}
	if buf[i] != ' ' {
		return eTarget
	}
	target := buf[ts:i:i]
	i++
	minor, code := parseVersion(buf[i:end])
	if code != eNone {
		return code
	}
	r.Method, r.URI, r.Minor = method, target, minor

	// The four forms of request-target (RFC 9112 §3.2).
	isConnect := string(method) == "CONNECT"
	var authority []byte // absolute-form only
	var defPort string
	switch {
	case target[0] == '/':
		if isConnect {
			return eConnectTarget
		}
		if q := bytes.IndexByte(target, '?'); q >= 0 {
			r.Path, r.Query = target[:q:q], target[q+1:]
		} else {
			r.Path = target
		}
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return eAsterisk
		}
		r.Path = target
	case isConnect:
		host, port, ok := splitAuthority(target)
		if !ok || len(host) == 0 || len(port) == 0 {
			return eConnectTarget
		}
	default:
		authority, defPort, code = parseAbsolute(r, target)
		if code != eNone {
			return code
		}
	}

	h := head{fields: fields}
	headLen, code := h.parseFields(buf, lf+1, maxHead, maxFields, true)
	r.Fields = h.fields
	if code != eNone {
		return code
	}
	r.HeadLen = headLen
	r.Host = h.host

	if minor == 1 && h.hostCount == 0 {
		return eNoHost
	}
	if authority != nil && h.hostCount > 0 && !sameAuthority(authority, h.host, defPort) {
		return eHostMismatch
	}

	switch {
	case h.teSeen:
		if h.clSeen {
			return eCLAndTE
		}
		if minor == 0 {
			return eTEHTTP10
		}
		// Requests accept no coding but chunked, so teLast holds.
		r.Body = BodyChunked
	case h.clSeen && h.cl > 0:
		r.Body, r.ContentLength = BodyLength, h.cl
	}
	if isConnect && r.Body != BodyNone {
		return eConnectBody
	}

	r.KeepAlive = h.keepAlive(minor)
	r.Upgrade = minor == 1 && h.upgrade && h.connUpgrade
	r.ExpectContinue = minor == 1 && h.expect100
	return eNone
}

// parseVersion parses HTTP-version (RFC 9112 §2.3), which is case-sensitive.
func parseVersion(v []byte) (minor int, code errCode) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || class[v[5]]&cDigit == 0 || v[6] != '.' || class[v[7]]&cDigit == 0 {
		return 0, eBadVersion
	}
	if v[5] != '1' || (v[7] != '0' && v[7] != '1') {
		return 0, eVersion
	}
	return int(v[7] - '0'), eNone
}

// parseAbsolute parses an absolute-form target: "http" or "https", "://",
// a non-empty authority without userinfo, then path-abempty and query. It
// sets r.Path and r.Query and returns the authority and the scheme's
// default port.
func parseAbsolute(r *Request, t []byte) (authority []byte, defPort string, code errCode) {
	colon := bytes.IndexByte(t, ':')
	if colon < 0 || len(t) < colon+3 || t[colon+1] != '/' || t[colon+2] != '/' {
		// Not a URI with an authority: perhaps authority-form without
		// CONNECT, otherwise garbage.
		if host, port, ok := splitAuthority(t); ok && len(host) > 0 && len(port) > 0 {
			return nil, "", eConnectTarget
		}
		return nil, "", eTarget
	}
	switch scheme := t[:colon]; {
	case eqFold(scheme, "http"):
		defPort = "80"
	case eqFold(scheme, "https"):
		defPort = "443"
	default:
		return nil, "", eScheme
	}
	as := colon + 3
	ae := as
	for ae < len(t) && t[ae] != '/' && t[ae] != '?' {
		ae++
	}
	authority = t[as:ae:ae]
	if host, _, ok := splitAuthority(authority); !ok || len(host) == 0 {
		return nil, "", eAbsolute
	}
	rest := t[ae:]
	if len(rest) == 0 || rest[0] == '?' {
		// An empty path is "/"; alias the second slash of "://" so that
		// Path still points into the buffer.
		r.Path = t[colon+2 : colon+3 : colon+3]
		if len(rest) > 0 {
			r.Query = rest[1:]
		}
		return authority, defPort, eNone
	}
	if q := bytes.IndexByte(rest, '?'); q >= 0 {
		r.Path, r.Query = rest[:q:q], rest[q+1:]
	} else {
		r.Path = rest
	}
	return authority, defPort, eNone
}

// sameAuthority reports whether the Host value names the authority of an
// absolute-form target: equal under ASCII case folding, or equal once the
// scheme's default port is added to the side that lacks a port.
func sameAuthority(authority, host []byte, defPort string) bool {
	if eqFoldBytes(authority, host) {
		return true
	}
	a, h := authority, host
	if len(a) < len(h) {
		a, h = h, a
	}
	// a must be h ":" defPort
	n := len(h)
	return len(a) == n+1+len(defPort) && eqFoldBytes(a[:n], h) && a[n] == ':' && string(a[n+1:]) == defPort
}
