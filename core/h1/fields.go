package h1

import "strings"

// Lookup returns the value of the occ-th field called name (ASCII
// case-insensitive): occ ≥ 1 counts from the first field, occ ≤ -1 from the
// last (-1 is the last). It reports false when there is no such field or
// occ is 0. It allocates nothing.
func Lookup(fields []Field, name string, occ int) ([]byte, bool) {
	switch {
	case occ > 0:
		for i := range fields {
			if eqFold(fields[i].Name, name) {
				if occ--; occ == 0 {
					return fields[i].Value, true
				}
			}
		}
	case occ < 0:
		for i := len(fields) - 1; i >= 0; i-- {
			if eqFold(fields[i].Name, name) {
				if occ++; occ == 0 {
					return fields[i].Value, true
				}
			}
		}
	}
	return nil, false
}

// Count returns how many fields are called name (ASCII case-insensitive).
func Count(fields []Field, name string) int {
	n := 0
	for i := range fields {
		if eqFold(fields[i].Name, name) {
			n++
		}
	}
	return n
}

// HasToken reports whether the comma-separated list value holds token,
// compared ASCII case-insensitively after trimming OWS around each element
// (as in Connection: keep-alive, Upgrade). It allocates nothing.
func HasToken(value []byte, token string) bool {
	if len(token) == 0 {
		return false
	}
	for i := 0; ; i++ {
		j := i
		for j < len(value) && value[j] != ',' {
			j++
		}
		if eqFold(trimOWS(value[i:j]), token) {
			return true
		}
		if j >= len(value) {
			return false
		}
		i = j
	}
}

// ValidFieldName reports whether b may be sent as a field name: a non-empty
// token (RFC 9110 §5.1).
func ValidFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if class[c]&cTchar == 0 {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether b may be sent as a field value as
// AppendRequestHead and AppendResponseHead write it: no CTL other than HTAB
// (so no CR, LF or NUL), no DEL, and no leading or trailing SP or HTAB,
// which a parser would trim (RFC 9110 §5.5).
func ValidFieldValue(b []byte) bool {
	if len(b) > 0 && (class[b[0]]&cSpace != 0 || class[b[len(b)-1]]&cSpace != 0) {
		return false
	}
	return scanValue(b, 0) == len(b)
}

// HopByHop reports whether a field belongs to one connection rather than
// the message (RFC 9110 §7.6.1): it is not carried to the next hop nor
// into an HTTP/2 message.
func HopByHop(name string) bool {
	for _, h := range [...]string{"connection", "transfer-encoding", "keep-alive", "upgrade", "proxy-connection"} {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// ValidTarget reports whether a request target has no byte that would
// break an HTTP/1.1 request line.
func ValidTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
