package main

import (
	"bytes"
	"errors"
)

// Limits of the request reader.
const (
	maxHead      = 64 << 10 // request line and header fields
	maxHeaders   = 128
	maxChunkLine = 4 << 10 // chunk-size line or trailer field
	maxTrailers  = 32
)

// statusError is a request the server refuses; status says how.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func badRequest(msg string) *statusError { return &statusError{400, msg} }

var (
	errHeadTooLarge  = &statusError{431, "request head too large"}
	errTooManyFields = &statusError{431, "too many header fields"}
	errVersion       = &statusError{505, "HTTP version not supported"}
	errCoding        = &statusError{501, "transfer coding not implemented"}
	errChunkLine     = errors.New("chunk-size line or trailer too long")
	errChunkSyntax   = errors.New("malformed chunked body")
)

// header is one field of a head, as slices of the connection buffer.
type header struct {
	name, value []byte
}

// request is a parsed request head. Its slices point into the connection
// buffer and stay valid until the request is answered (see conn.floor).
type request struct {
	head    []byte // the raw head, request line to the empty line included
	method  []byte
	uri     []byte
	proto   []byte
	minor   int // HTTP/1.minor
	headers []header

	contentLength int64 // -1: none
	chunked       bool  // Transfer-Encoding: chunked (wins over Content-Length)
	teAndCL       bool  // both were present: answered, then the connection closes
	close         bool  // the connection closes after the answer
	expect100     bool
	websocket     bool // Connection: upgrade and Upgrade: websocket
	isHead        bool
	bodyRead      bool // readBody was called
	wsKey         []byte
	wsVersion     []byte
	wsProtocol    []byte
}

var crlf = []byte("\r\n")

// parseHead parses head, which ends with the empty line, into req, reusing
// req's header slice. Errors are *statusError.
func parseHead(head []byte, req *request) error {
	*req = request{headers: req.headers[:0], contentLength: -1, head: head}
	i := bytes.Index(head, crlf)
	if i < 0 {
		return badRequest("no request line")
	}
	if err := parseRequestLine(head[:i], req); err != nil {
		return err
	}
	var (
		hosts             int
		connClose, connKA bool
		connUpgrade       bool
		upgradeWS         bool
		te                bool
	)
	p := head[i+2:]
	for {
		j := bytes.Index(p, crlf)
		if j < 0 {
			return badRequest("head does not end with an empty line")
		}
		line := p[:j]
		p = p[j+2:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badRequest("header field without a name")
		}
		name := line[:colon]
		if !isToken(name) {
			return badRequest("invalid header field name")
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return badRequest("invalid header field value")
		}
		if len(req.headers) == maxHeaders {
			return errTooManyFields
		}
		req.headers = append(req.headers, header{name, value})

		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				hosts++
			}
		case 6:
			if equalFold(name, "expect") && equalFold(value, "100-continue") {
				req.expect100 = true
			}
		case 7:
			if equalFold(name, "upgrade") {
				forEachToken(value, func(t []byte) {
					if equalFold(t, "websocket") {
						upgradeWS = true
					}
				})
			}
		case 10:
			if equalFold(name, "connection") {
				forEachToken(value, func(t []byte) {
					switch {
					case equalFold(t, "close"):
						connClose = true
					case equalFold(t, "keep-alive"):
						connKA = true
					case equalFold(t, "upgrade"):
						connUpgrade = true
					}
				})
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseDecimal(value)
				if !ok {
					return badRequest("invalid Content-Length")
				}
				if req.contentLength >= 0 && req.contentLength != n {
					return badRequest("conflicting Content-Length fields")
				}
				req.contentLength = n
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				var bad error
				forEachToken(value, func(t []byte) {
					switch {
					case !equalFold(t, "chunked"):
						bad = errCoding
					case req.chunked:
						bad = badRequest("chunked applied twice")
					default:
						req.chunked = true
					}
				})
				if bad != nil {
					return bad
				}
				te = true
			} else if equalFold(name, "sec-websocket-key") {
				req.wsKey = value
			}
		case 21:
			if equalFold(name, "sec-websocket-version") {
				req.wsVersion = value
			}
		case 22:
			if equalFold(name, "sec-websocket-protocol") && req.wsProtocol == nil {
				req.wsProtocol = value
			}
		}
	}
	if len(p) != 0 {
		return badRequest("bytes after the empty line")
	}
	if req.minor == 1 && hosts != 1 {
		return badRequest("HTTP/1.1 needs exactly one Host field")
	}
	if te {
		if !req.chunked {
			return badRequest("empty Transfer-Encoding")
		}
		if req.contentLength >= 0 {
			// RFC 9112 6.1: Transfer-Encoding wins, and the connection
			// closes after the answer.
			req.teAndCL = true
			req.contentLength = -1
		}
	}
	req.close = connClose || req.teAndCL || (req.minor == 0 && !connKA)
	req.websocket = connUpgrade && upgradeWS
	req.isHead = string(req.method) == "HEAD"
	return nil
}

func parseRequestLine(line []byte, req *request) error {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return badRequest("malformed request line")
	}
	req.method = line[:sp]
	if !isToken(req.method) {
		return badRequest("invalid method")
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return badRequest("malformed request line")
	}
	req.uri = rest[:sp]
	for _, b := range req.uri {
		if b <= ' ' || b == 0x7f {
			return badRequest("invalid request target")
		}
	}
	req.proto = rest[sp+1:]
	p := req.proto
	if len(p) != 8 || string(p[:5]) != "HTTP/" || p[6] != '.' || !isDigit(p[5]) || !isDigit(p[7]) {
		return badRequest("malformed HTTP version")
	}
	if p[5] != '1' || p[7] > '1' {
		return errVersion
	}
	req.minor = int(p[7] - '0')
	return nil
}

// path returns the request target without query, and without scheme and
// authority in absolute form.
func (req *request) path() []byte {
	u := req.uri
	if len(u) > 0 && u[0] != '/' {
		if i := bytes.Index(u, []byte("://")); i >= 0 {
			u = u[i+3:]
			if j := bytes.IndexByte(u, '/'); j >= 0 {
				u = u[j:]
			} else {
				u = []byte("/")
			}
		}
	}
	if i := bytes.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// hasBody reports whether a body follows the head.
func (req *request) hasBody() bool { return req.chunked || req.contentLength > 0 }

// parseChunkSize parses a chunk-size line: hex digits, then optional
// whitespace and chunk extensions, which are ignored.
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i == 15 {
			return 0, errChunkSyntax
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, errChunkSyntax
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, errChunkSyntax
	}
	for _, b := range rest {
		if b < ' ' && b != '\t' || b == 0x7f {
			return 0, errChunkSyntax
		}
	}
	return n, nil
}

func unhex(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b - 'a' + 10)
	case 'A' <= b && b <= 'F':
		return int(b - 'A' + 10)
	}
	return -1
}

func parseDecimal(p []byte) (int64, bool) {
	if len(p) == 0 || len(p) > 18 {
		return 0, false
	}
	var n int64
	for _, b := range p {
		if !isDigit(b) {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// tokenChars marks the bytes allowed in an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for _, b := range p {
		if !tokenChars[b] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether p holds no control character but HTAB.
func validFieldValue(p []byte) bool {
	for _, b := range p {
		if b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
		p = p[1:]
	}
	for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
		p = p[:len(p)-1]
	}
	return p
}

// forEachToken calls f with each non-empty element of a comma-separated
// list, trimmed of whitespace.
func forEachToken(p []byte, f func([]byte)) {
	for len(p) > 0 {
		var t []byte
		if i := bytes.IndexByte(p, ','); i >= 0 {
			t, p = p[:i], p[i+1:]
		} else {
			t, p = p, nil
		}
		if t = trimOWS(t); len(t) > 0 {
			f(t)
		}
	}
}

// equalFold compares p with lower, which is lower-case ASCII.
func equalFold(p []byte, lower string) bool {
	if len(p) != len(lower) {
		return false
	}
	for i := 0; i < len(p); i++ {
		b := p[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}
