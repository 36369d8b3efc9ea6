package h1

import (
	"bytes"
	"math"
)

// eMore is the internal "need more bytes" outcome of the head parsers. The
// entry points turn it into ErrIncomplete, or into a 431/414 when the limit
// that bounds the missing part is already reached.
const eMore errCode = math.MaxUint8

// MaxLeadingEmptyLines is how many empty lines (CRLF) ParseRequest skips
// before a request line (RFC 9112 §2.2); one more is a 400. They count in
// Request.HeadLen.
const MaxLeadingEmptyLines = 8

// limits returns the bounds to apply: lim's, with nil or a field ≤ 0
// meaning DefaultLimits' value.
func limits(lim *Limits) (maxLine, maxHead, maxFields int) {
	if lim != nil {
		maxLine, maxHead, maxFields = lim.MaxRequestLine, lim.MaxHeadBytes, lim.MaxHeaders
	}
	if maxLine <= 0 {
		maxLine = DefaultLimits.MaxRequestLine
	}
	if maxHead <= 0 {
		maxHead = DefaultLimits.MaxHeadBytes
	}
	if maxFields <= 0 {
		maxFields = DefaultLimits.MaxHeaders
	}
	return maxLine, maxHead, maxFields
}

// findLineEnd looks for the LF ending the start line that begins at p,
// searching no further than a line of maxLine bytes plus CRLF. It returns
// the index of that LF, or eMore when buf ends first, or eLineTooLong.
func findLineEnd(buf []byte, p, maxLine int) (int, errCode) {
	window := buf[p:]
	if len(window) > maxLine+2 {
		window = window[:maxLine+2]
	}
	if i := bytes.IndexByte(window, '\n'); i >= 0 {
		return p + i, eNone
	}
	// No LF yet: the line is at least this long (a trailing CR may still be
	// the start of its CRLF).
	n := len(window)
	if n > 0 && window[n-1] == '\r' {
		n--
	}
	if n > maxLine {
		return 0, eLineTooLong
	}
	return 0, eMore
}

// head gathers, while the field lines are parsed, what the framing and
// connection decisions need. It lives on the parser's stack.
type head struct {
	fields []Field

	clSeen bool
	cl     int64

	teSeen    bool
	teChunked bool // chunked was seen
	teLast    bool // the last coding seen is chunked

	hostCount int
	host      []byte

	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	upgrade       bool // an Upgrade field is present
	expect100     bool // Expect: 100-continue
}

// parseFields parses the field lines starting at p up to and including the
// empty line ending the head. It returns the head's length, or an error
// code (eMore when buf ends first).
func (h *head) parseFields(buf []byte, p, maxHead, maxFields int, isReq bool) (int, errCode) {
	for {
		if p >= len(buf) {
			return 0, eMore
		}
		switch buf[p] {
		case '\r':
			if p+1 >= len(buf) {
				return 0, eMore
			}
			if buf[p+1] != '\n' {
				return 0, eBareCR
			}
			if p+2 > maxHead {
				return 0, eHeadTooLarge
			}
			return p + 2, eNone
		case '\n':
			return 0, eBareLF
		case ' ', '\t':
			// obs-fold, or whitespace between the start line and the first
			// field, which RFC 9112 §2.2 lets us reject.
			return 0, eObsFold
		}

		// field-name ":"
		start := p
		for p < len(buf) && class[buf[p]]&cTchar != 0 {
			p++
		}
		if p >= len(buf) {
			return 0, eMore
		}
		if buf[p] != ':' {
			if buf[p] == ' ' || buf[p] == '\t' {
				return 0, eSpaceColon
			}
			return 0, eFieldName
		}
		if p == start {
			return 0, eFieldName
		}
		name := buf[start:p:p]
		p++

		// OWS field-value OWS CRLF
		for p < len(buf) && (buf[p] == ' ' || buf[p] == '\t') {
			p++
		}
		vs := p
		p = scanValue(buf, p)
		if p >= len(buf) {
			return 0, eMore
		}
		if buf[p] != '\r' {
			if buf[p] == '\n' {
				return 0, eBareLF
			}
			return 0, eFieldValue
		}
		if p+1 >= len(buf) {
			return 0, eMore
		}
		if buf[p+1] != '\n' {
			return 0, eBareCR
		}
		ve := p
		for ve > vs && (buf[ve-1] == ' ' || buf[ve-1] == '\t') {
			ve--
		}
		value := buf[vs:ve:ve]
		p += 2
		if p+2 > maxHead {
			return 0, eHeadTooLarge
		}
		if len(h.fields) >= maxFields {
			return 0, eTooManyFields
		}
		h.fields = append(h.fields, Field{Name: name, Value: value})

		// Fields that decide framing and connection handling, found by
		// length first so most fields cost one switch.
		var code errCode
		switch len(name) {
		case 4:
			if isReq && eqFold(name, "host") {
				code = h.hostField(value)
			}
		case 6:
			if isReq && eqFold(name, "expect") && eqFold(value, "100-continue") {
				h.expect100 = true
			}
		case 7:
			if eqFold(name, "upgrade") {
				h.upgrade = true
			}
		case 10:
			if eqFold(name, "connection") {
				h.connectionField(value)
			}
		case 14:
			if eqFold(name, "content-length") {
				code = h.contentLengthField(value)
			} else if eqFoldDash(name, "content-length") {
				code = eFramingUnderscore
			}
		case 17:
			if eqFold(name, "transfer-encoding") {
				code = h.transferEncodingField(value, isReq)
			} else if eqFoldDash(name, "transfer-encoding") {
				code = eFramingUnderscore
			}
		}
		if code != eNone {
			return 0, code
		}
	}
}

// eqFoldDash is eqFold where '_' in b also matches '-' in s. Servers behind
// CGI-like gateways turn '-' into '_' in field names, so "Content_Length"
// would reach them as Content-Length while strata framed the message
// without it: such spellings of the framing fields are refused.
func eqFoldDash(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != s[i] && !(b[i] == '_' && s[i] == '-') {
			return false
		}
	}
	return true
}

func (h *head) hostField(v []byte) errCode {
	h.hostCount++
	if h.hostCount > 1 {
		return eManyHosts
	}
	if len(v) > 0 {
		host, _, ok := splitAuthority(v)
		if !ok || len(host) == 0 {
			return eBadHost
		}
	}
	h.host = v
	return eNone
}

// contentLengthField folds one Content-Length field into h. A value may be
// a list of identical lengths ("5, 5"), and the field may repeat with the
// same length: RFC 9112 §6.3 lets a recipient use that single length, and
// strata does. Any difference is a conflict.
func (h *head) contentLengthField(v []byte) errCode {
	i := 0
	for {
		for i < len(v) && class[v[i]]&cSpace != 0 {
			i++
		}
		var n int64
		start := i
		for i < len(v) && class[v[i]]&cDigit != 0 {
			d := int64(v[i] - '0')
			if n > (math.MaxInt64-d)/10 {
				return eContentLength
			}
			n = n*10 + d
			i++
		}
		if i == start {
			return eContentLength
		}
		for i < len(v) && class[v[i]]&cSpace != 0 {
			i++
		}
		if h.clSeen && n != h.cl {
			return eCLConflict
		}
		h.clSeen, h.cl = true, n
		if i == len(v) {
			return eNone
		}
		if v[i] != ',' {
			return eContentLength
		}
		i++
	}
}

// transferEncodingField folds one Transfer-Encoding field into h. Requests
// may only use chunked (strata decodes nothing); responses may name other
// codings before it, which pass through to the client untouched. Empty list
// elements are refused: a peer that counted them as a coding would frame
// the message differently.
func (h *head) transferEncodingField(v []byte, isReq bool) errCode {
	h.teSeen = true
	for i := 0; ; i++ {
		j := i
		for j < len(v) && v[j] != ',' {
			j++
		}
		c := trimOWS(v[i:j])
		switch {
		case len(c) == 0:
			return eTECoding
		case eqFold(c, "chunked"):
			if h.teChunked {
				return eTEChunkedTwice
			}
			h.teChunked, h.teLast = true, true
		case isReq:
			return eTECoding
		case h.teChunked:
			return eTENotFinal
		default:
			for _, b := range c {
				if class[b]&cTchar == 0 {
					return eTECoding
				}
			}
			h.teLast = false
		}
		if j == len(v) {
			return eNone
		}
		i = j
	}
}

// connectionField records the close, keep-alive and upgrade options of one
// Connection field.
func (h *head) connectionField(v []byte) {
	for i := 0; ; i++ {
		j := i
		for j < len(v) && v[j] != ',' {
			j++
		}
		t := trimOWS(v[i:j])
		switch len(t) {
		case 5:
			if eqFold(t, "close") {
				h.connClose = true
			}
		case 7:
			if eqFold(t, "upgrade") {
				h.connUpgrade = true
			}
		case 10:
			if eqFold(t, "keep-alive") {
				h.connKeepAlive = true
			}
		}
		if j == len(v) {
			return
		}
		i = j
	}
}

// keepAlive applies RFC 9112 §9.3: HTTP/1.1 persists unless "close" is
// given, HTTP/1.0 only with "keep-alive" (and no "close").
func (h *head) keepAlive(minor int) bool {
	if h.connClose {
		return false
	}
	return minor == 1 || h.connKeepAlive
}

// splitAuthority splits uri-host [":" port] (RFC 3986 authority without
// userinfo) into host and port. host is a reg-name or IPv4 address (no ':',
// '@', '/', …) or a bracketed IP literal; port is at most 5 digits and may
// be empty, as RFC 3986 allows. host may be empty; callers decide.
func splitAuthority(a []byte) (host, port []byte, ok bool) {
	var i int
	if len(a) > 0 && a[0] == '[' {
		i = 1
		for i < len(a) && a[i] != ']' {
			c := a[i]
			if class[c]&cHex == 0 && c != ':' && c != '.' {
				return nil, nil, false
			}
			i++
		}
		if i == len(a) || i == 1 {
			return nil, nil, false
		}
		i++
	} else {
		for i < len(a) && a[i] != ':' {
			c := a[i]
			if class[c]&cHost == 0 || c == '[' || c == ']' {
				return nil, nil, false
			}
			i++
		}
	}
	host = a[:i:i]
	if i == len(a) {
		return host, nil, true
	}
	if a[i] != ':' {
		return nil, nil, false
	}
	port = a[i+1:]
	if len(port) > 5 {
		return nil, nil, false
	}
	for _, c := range port {
		if class[c]&cDigit == 0 {
			return nil, nil, false
		}
	}
	return host, port, true
}
