package rules

import (
	"fmt"
	"strings"
)

// splitWords cuts a rule into words the way HAProxy's configuration parser
// does: spaces and tabs separate words; a backslash escapes a space, '#',
// '\', a quote, and writes \n, \r, \t and \xNN; before any other character
// it is kept (so regular expressions keep "\." and "\1"). Double quotes
// group words and honour the same escapes; single quotes group words and
// keep everything verbatim. '#' is an ordinary character: a rule is one
// string, it has no comments. "$VAR" is not expanded.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	flush := func() {
		if in {
			words = append(words, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			flush()
		case '\\':
			in = true
			n, adv := unescape(s, i, false)
			cur.WriteString(n)
			i += adv
		case '\'':
			in = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated single quote", ErrSyntax)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '"':
			in = true
			closed := false
			for i++; i < len(s); i++ {
				d := s[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' {
					n, adv := unescape(s, i, true)
					cur.WriteString(n)
					i += adv
					continue
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated double quote", ErrSyntax)
			}
		default:
			in = true
			cur.WriteByte(c)
		}
	}
	flush()
	return words, nil
}

// unescape decodes the escape at s[i] (a backslash) and returns its text and
// how many bytes after the backslash it used.
func unescape(s string, i int, quoted bool) (string, int) {
	if i+1 >= len(s) {
		return `\`, 0
	}
	switch c := s[i+1]; c {
	case ' ', '\t', '#', '\\', '\'', '"':
		return string(c), 1
	case '$':
		if quoted {
			return "$", 1
		}
	case 'n':
		return "\n", 1
	case 'r':
		return "\r", 1
	case 't':
		return "\t", 1
	case 'x':
		if i+3 < len(s) && isHex(s[i+2]) && isHex(s[i+3]) {
			return string([]byte{unhex(s[i+2])<<4 | unhex(s[i+3])}), 3
		}
	}
	return `\`, 0 // kept; the next character is read normally
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
