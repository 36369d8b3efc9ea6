package h2

import (
	"strconv"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// Request is a request header section validated per RFC 9113 §8.
type Request struct {
	Method, Scheme, Authority, Path string // Path includes the query; for CONNECT Path is "" and Authority the target
	// Fields are the regular fields in order, names lowercase; cookie
	// crumbs are joined with "; " into the first cookie field (§8.2.3).
	Fields        []hpack.HeaderField
	ContentLength int64 // from content-length, -1 when absent
	EndStream     bool  // the HEADERS carried END_STREAM: no body
}

// Pseudo-header bits, to find duplicates and missing ones.
const (
	pMethod = 1 << iota
	pScheme
	pAuthority
	pPath
)

// buildRequest validates a decoded request header section and returns the
// Request, or a reason when it is malformed (RFC 9113 §8.1.1: a stream
// error of type PROTOCOL_ERROR).
//
// Beyond what RFC 9113 §8.2.1 requires, names must be tokens and values
// must not hold control characters other than HTAB, and pseudo-header values
// are checked against their grammar: the proxy forwards requests over
// HTTP/1.1, where such bytes would let one request smuggle another.
func buildRequest(fields []hpack.HeaderField, endStream bool) (Request, string) {
	req := Request{ContentLength: -1, EndStream: endStream}
	var seen uint8
	regular := false
	host, hostSeen := "", false
	cookie := -1
	for _, f := range fields {
		if len(f.Name) == 0 {
			return req, "empty field name"
		}
		if f.Name[0] == ':' {
			if regular {
				return req, "pseudo-header field after a regular field"
			}
			var bit uint8
			switch f.Name {
			case ":method":
				bit, req.Method = pMethod, f.Value
				if !isToken(f.Value) {
					return req, "invalid :method"
				}
			case ":scheme":
				bit, req.Scheme = pScheme, f.Value
				if !isScheme(f.Value) {
					return req, "invalid :scheme"
				}
			case ":authority":
				bit, req.Authority = pAuthority, f.Value
				if !isAuthority(f.Value) {
					return req, "invalid :authority"
				}
			case ":path":
				bit, req.Path = pPath, f.Value
				if !isPath(f.Value) {
					return req, "invalid :path"
				}
			default:
				return req, "unknown pseudo-header field " + f.Name
			}
			if seen&bit != 0 {
				return req, "duplicate " + f.Name
			}
			seen |= bit
			continue
		}
		regular = true
		if skip, reason := regularField(f, &req.ContentLength); reason != "" {
			return req, reason
		} else if skip {
			continue
		}
		switch f.Name {
		case "te":
			if f.Value != "trailers" {
				return req, "te other than trailers"
			}
		case "host":
			if hostSeen {
				return req, "duplicate host"
			}
			if !isAuthority(f.Value) {
				return req, "invalid host"
			}
			host, hostSeen = f.Value, true
		case "cookie":
			if cookie >= 0 {
				// An empty crumb adds nothing; joined, it would leave
				// "; " at an end, which no field value may have.
				switch prev := &req.Fields[cookie].Value; {
				case f.Value == "":
				case *prev == "":
					*prev = f.Value
				default:
					*prev += "; " + f.Value
				}
				continue
			}
			cookie = len(req.Fields)
		}
		req.Fields = append(req.Fields, hpack.HeaderField{Name: f.Name, Value: f.Value})
	}
	if seen&pMethod == 0 {
		return req, "missing :method"
	}
	if req.Method == "CONNECT" {
		if seen&(pScheme|pPath) != 0 {
			return req, "CONNECT with :scheme or :path"
		}
		if seen&pAuthority == 0 || req.Authority == "" {
			return req, "CONNECT without :authority"
		}
	} else {
		if seen&(pScheme|pPath) != pScheme|pPath {
			return req, "missing :scheme or :path"
		}
		if req.Scheme == "http" || req.Scheme == "https" {
			if req.Path[0] != '/' && (req.Path != "*" || req.Method != "OPTIONS") {
				return req, "invalid :path"
			}
			if strings.IndexByte(req.Authority, '@') >= 0 {
				return req, ":authority with userinfo"
			}
		}
	}
	if hostSeen {
		if seen&pAuthority == 0 {
			req.Authority = host
		} else if !strings.EqualFold(host, req.Authority) {
			return req, "host differs from :authority"
		}
	}
	if endStream && req.ContentLength > 0 {
		return req, "content-length with no body"
	}
	return req, ""
}

// checkTrailers validates a trailer section (RFC 9113 §8.1: no
// pseudo-header fields).
func checkTrailers(fields []hpack.HeaderField) string {
	for _, f := range fields {
		if len(f.Name) > 0 && f.Name[0] == ':' {
			return "pseudo-header field in trailers"
		}
		if reason := checkField(f); reason != "" {
			return reason
		}
	}
	return ""
}

// checkField validates a regular field's name and value.
func checkField(f hpack.HeaderField) string {
	if !isToken(f.Name) {
		return "invalid field name"
	}
	for i := 0; i < len(f.Name); i++ {
		if 'A' <= f.Name[i] && f.Name[i] <= 'Z' {
			return "uppercase field name"
		}
	}
	if !isFieldValue(f.Value) {
		return "invalid value in " + f.Name
	}
	if isConnectionSpecific(f.Name) {
		return "connection-specific field " + f.Name
	}
	return ""
}

// isConnectionSpecific reports the fields RFC 9113 §8.2.2 forbids (te is
// checked apart: "trailers" is allowed in a request).
func isConnectionSpecific(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

func isTchar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isFieldValue: no NUL, CR, LF or other controls but HTAB, no leading or
// trailing SP/HTAB (RFC 9113 §8.2.1, RFC 9110 §5.5).
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	if n := len(s); n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n-1] == ' ' || s[n-1] == '\t') {
		return false
	}
	return true
}

func isScheme(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '+' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// isAuthority: reg-name, IP literal and port characters; '@' is let
// through here and refused for http(s) by the caller with a clearer reason.
func isAuthority(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=%:[]@", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// isPath: visible ASCII except '#'; a space would split an HTTP/1.1
// request line.
func isPath(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= 0x20 || b >= 0x7f || b == '#' {
			return false
		}
	}
	return true
}

// regularField checks a regular field of a request or a response
// (checkField) and takes a content-length into cl (foldContentLength):
// skip says the field is an identical repeat, to drop.
func regularField(f hpack.HeaderField, cl *int64) (skip bool, reason string) {
	if reason := checkField(f); reason != "" {
		return false, reason
	}
	if f.Name == "content-length" {
		return foldContentLength(cl, f.Value)
	}
	return false, ""
}

// foldContentLength takes a content-length field into cl (-1: none yet):
// an identical repeat is kept once (repeat true, RFC 9110 §8.6), an
// invalid or different value makes the message malformed (reason).
func foldContentLength(cl *int64, value string) (repeat bool, reason string) {
	n, ok := parseContentLength(value)
	switch {
	case !ok || (*cl >= 0 && n != *cl):
		return false, "invalid content-length"
	case *cl >= 0:
		return true, ""
	}
	*cl = n
	return false, ""
}

func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// statusText holds ":status" values so that encoding a response does not
// format an integer.
var statusText = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusString(code int) string {
	if code < len(statusText) {
		return statusText[code]
	}
	return strconv.Itoa(code)
}
