package h1

import (
	"encoding/binary"
	"math/bits"
)

// Byte classes, one bit each, looked up in a single 256-entry table so that
// every scanning loop costs one load and one test per byte.
const (
	cTchar  uint8 = 1 << iota // token character (RFC 9110 §5.6.2): field names, methods, codings
	cValue                    // field-vchar / obs-text / SP / HTAB (RFC 9110 §5.5)
	cTarget                   // allowed in a request-target (see targetChar below)
	cHost                     // allowed in a Host value or an authority (reg-name, IP literal, port)
	cDigit                    // DIGIT
	cHex                      // HEXDIG
	cSpace                    // SP or HTAB (OWS / BWS)
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		isAlpha := ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
		isDigit := '0' <= b && b <= '9'
		var k uint8
		if isAlpha || isDigit {
			k |= cTchar
		}
		switch b {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			k |= cTchar
		}
		if b == ' ' || b == '\t' || (0x21 <= b && b != 0x7f) {
			k |= cValue
		}
		// request-target: visible ASCII except '#', which can only start a
		// fragment, and a fragment is never part of a request-target. Other
		// characters RFC 3986 does not allow unencoded ('{', '|', '^', …)
		// are accepted: clients send them and servers cope.
		if 0x21 <= b && b <= 0x7e && b != '#' {
			k |= cTarget
		}
		// authority: unreserved / sub-delims / pct-encoded / ':' and the
		// brackets of an IP literal. '@' (userinfo), '/', '?', '#' are not.
		if isAlpha || isDigit {
			k |= cHost
		}
		switch b {
		case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%', ':', '[', ']':
			k |= cHost
		}
		if isDigit {
			k |= cDigit | cHex
		}
		if ('a' <= b && b <= 'f') || ('A' <= b && b <= 'F') {
			k |= cHex
		}
		if b == ' ' || b == '\t' {
			k |= cSpace
		}
		t[c] = k
	}
	return t
}()

// lower maps ASCII upper-case letters to lower case, every other byte to
// itself.
var lower = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		t[c] = b
	}
	return t
}()

// eqFold reports whether b equals s under ASCII case folding. s may be of
// any case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower[b[i]] != lower[s[i]] {
			return false
		}
	}
	return true
}

// eqFoldBytes is eqFold for two byte slices.
func eqFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower[a[i]] != lower[b[i]] {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP / HTAB.
func trimOWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && class[b[i]]&cSpace != 0 {
		i++
	}
	for j > i && class[b[j-1]]&cSpace != 0 {
		j--
	}
	return b[i:j]
}

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// scanValue returns the index of the first byte at or after i that may not
// appear in a field value (a CTL other than HTAB, or DEL), or len(b).
//
// Eight bytes are tested at a time: a word with no byte below 0x20 and no
// byte equal to 0x7f is all field-vchar / SP / obs-text. In a word that
// fails, the lowest flagged byte is exactly the first such byte (borrows
// only make false marks above it): an HTAB is stepped over, anything else
// ends the scan.
func scanValue(b []byte, i int) int {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		lt := (w - 0x20*swarOnes) &^ w & swarHighs // bytes < 0x20
		x := w ^ (0x7f * swarOnes)
		del := (x - swarOnes) &^ x & swarHighs // bytes == 0x7f
		if m := lt | del; m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if b[i] != '\t' {
				return i
			}
			i++ // resume after the HTAB
			continue
		}
		i += 8
	}
	for ; i < len(b); i++ {
		if class[b[i]]&cValue == 0 {
			return i
		}
	}
	return i
}
