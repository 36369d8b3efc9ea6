package fetch

import (
	"bytes"

	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

var cookieName = []byte("cookie")

// nextCookie parses the cookie that starts at off in a Cookie field value v.
// Cookies are separated by ';' or ',' (HAProxy accepts both in requests);
// spaces around names and values are ignored. A part without '=' has ok
// false. next is the offset after the separator (len(v)+1 after the last).
func nextCookie(v []byte, off int) (name, val []byte, next int, ok bool) {
	i := off
	for i < len(v) && v[i] != ';' && v[i] != ',' {
		i++
	}
	part := v[off:i]
	eq := bytes.IndexByte(part, '=')
	if eq < 0 {
		return nil, nil, i + 1, false
	}
	return trimOWS(part[:eq]), trimOWS(part[eq+1:]), i + 1, true
}

// cookieCursor iterates over the cookies called name (every cookie when name
// is empty) in the Cookie fields of fs, from cursor.
func nextCookieIn(fs []h1.Field, name []byte, cursor uint64) ([]byte, uint64, bool) {
	fi, off := unpackCursor(cursor)
	for ; fi < len(fs); fi, off = fi+1, 0 {
		if !session.EqualFold(fs[fi].Name, cookieName) {
			continue
		}
		v := fs[fi].Value
		for off <= len(v) {
			n, val, next, ok := nextCookie(v, off)
			off = next
			if ok && (len(name) == 0 || bytes.Equal(n, name)) {
				return val, packCursor(fi, off), true
			}
		}
	}
	return nil, 0, false
}

// lastCookie returns the value of the last cookie called name, or the first
// cookie when name is empty (HAProxy's req.cook).
func lastCookie(fs []h1.Field, name []byte) ([]byte, bool) {
	var (
		out   []byte
		found bool
		cur   uint64
	)
	for {
		v, next, ok := nextCookieIn(fs, name, cur)
		if !ok {
			return out, found
		}
		out, found = v, true
		if len(name) == 0 {
			return out, true
		}
		cur = next
	}
}

// countCookies returns the number of cookies called name (all when empty).
func countCookies(fs []h1.Field, name []byte) int {
	n := 0
	var cur uint64
	for {
		_, next, ok := nextCookieIn(fs, name, cur)
		if !ok {
			return n
		}
		n++
		cur = next
	}
}

// URL parameters follow HAProxy's url_param: the parameter list starts after
// the first delim ('?' by default) in the URI, and parameters are separated
// by '&', ';' or delim.

func isParamDelim(c, delim byte) bool { return c == '&' || c == ';' || c == delim }

// paramList returns the part of uri after the first delim.
func paramList(uri []byte, delim byte) ([]byte, bool) {
	i := bytes.IndexByte(uri, delim)
	if i < 0 {
		return nil, false
	}
	return uri[i+1:], true
}

// nextParam returns the value of the next parameter called name (any
// parameter when name is empty) in list from off, and the offset after it.
func nextParam(list, name []byte, delim byte, off int) ([]byte, int, bool) {
	for off <= len(list) {
		end := off
		for end < len(list) && !isParamDelim(list[end], delim) {
			end++
		}
		p := list[off:end]
		next := end + 1
		if len(name) == 0 {
			if len(p) > 0 {
				if eq := bytes.IndexByte(p, '='); eq >= 0 {
					return p[eq+1:], next, true
				}
				return p[len(p):], next, true
			}
		} else if len(p) > len(name) && p[len(name)] == '=' && bytes.Equal(p[:len(name)], name) {
			return p[len(name)+1:], next, true
		}
		off = next
	}
	return nil, 0, false
}
