package stick

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// Key is a table key built without allocating. IP and integer keys are held
// inline; string and binary keys refer to the caller's bytes, which must stay
// unchanged until the call that receives the Key returns (the table copies
// what it keeps). The zero Key is invalid and matches no table.
type Key struct {
	typ KeyType
	in  [16]byte // ip: 16-byte form; integer: 4 bytes little endian
	ext []byte   // string, binary
}

// KeyFromIP returns the key of an address. IPv4 addresses are stored in
// their IPv4-mapped IPv6 form, so 1.2.3.4 and ::ffff:1.2.3.4 are one entry;
// zones are dropped. An invalid address gives the invalid zero Key.
func KeyFromIP(a netip.Addr) Key {
	if !a.IsValid() {
		return Key{}
	}
	return Key{typ: KeyIP, in: a.As16()}
}

// KeyFromInt returns the key of an integer. As in HAProxy, integer keys are
// 32-bit unsigned: v is truncated to its low 32 bits, so -1 and 4294967295
// are one entry.
func KeyFromInt(v int64) Key {
	k := Key{typ: KeyInteger}
	binary.LittleEndian.PutUint32(k.in[:4], uint32(v))
	return k
}

// KeyFromString returns a string key of at most n bytes (n <= 0: no limit
// here; the table truncates to its own length anyway). Unlike HAProxy, which
// compares C strings, a NUL byte is an ordinary byte of the key.
func KeyFromString(b []byte, n int) Key {
	if n > 0 && len(b) > n {
		b = b[:n]
	}
	return Key{typ: KeyString, ext: b}
}

// KeyFromBytes returns a binary key of n bytes: longer input is truncated
// and shorter input is padded with zeros, as in HAProxy ("ab" and "ab\x00"
// are one entry in a binary table). n <= 0 leaves the length to the table.
func KeyFromBytes(b []byte, n int) Key {
	if n > 0 && len(b) > n {
		b = b[:n]
	}
	return Key{typ: KeyBinary, ext: b}
}

// Type returns the key's type; the zero Key has none.
func (k Key) Type() KeyType { return k.typ }

// IsValid reports whether k was built by one of the KeyFrom functions.
func (k Key) IsValid() bool { return k.typ != keyNone }

// String formats k as "show table" does: the address, the unsigned integer,
// the escaped string, or the bytes in hexadecimal.
func (k Key) String() string {
	switch k.typ {
	case KeyIP:
		return formatKey(KeyIP, k.in[:], 0)
	case KeyInteger:
		return formatKey(KeyInteger, k.in[:4], 0)
	case KeyString, KeyBinary:
		return formatKey(k.typ, k.ext, len(k.ext))
	}
	return ""
}

// canon returns the bytes a table of type typ and key length n stores for
// k: the fixed form of ip and integer keys, a string truncated to n, and a
// binary key truncated to n without its trailing zeros (the padding HAProxy
// adds, so that padded and unpadded forms compare equal).
func (k *Key) canon(typ KeyType, n int) ([]byte, bool) {
	if k.typ != typ {
		return nil, false
	}
	switch typ {
	case KeyIP:
		return k.in[:16], true
	case KeyInteger:
		return k.in[:4], true
	}
	b := k.ext
	if len(b) > n {
		b = b[:n]
	}
	if typ == KeyBinary {
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
	}
	return b, true
}

// formatKey formats stored key bytes as HAProxy's "show table": ip keys as
// text (IPv4-mapped ones as IPv4), integers as unsigned decimals, strings
// with dump_text's escaping, binary keys as the n-byte zero-padded
// uppercase hexadecimal of dump_binary.
func formatKey(typ KeyType, b []byte, n int) string {
	switch typ {
	case KeyIP:
		var a [16]byte
		copy(a[:], b)
		return netip.AddrFrom16(a).Unmap().String()
	case KeyInteger:
		var a [4]byte
		copy(a[:], b)
		return strconv.FormatUint(uint64(binary.LittleEndian.Uint32(a[:])), 10)
	case KeyString:
		var sb strings.Builder
		for _, c := range b {
			switch {
			case c == '\t':
				sb.WriteString(`\t`)
			case c == '\n':
				sb.WriteString(`\n`)
			case c == '\r':
				sb.WriteString(`\r`)
			case c == 0x1b:
				sb.WriteString(`\e`)
			case c == '\\' || c == ' ' || c == '=':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c > 0x20 && c < 0x7f:
				sb.WriteByte(c)
			default:
				const hex = "0123456789ABCDEF"
				sb.WriteString(`\x`)
				sb.WriteByte(hex[c>>4])
				sb.WriteByte(hex[c&15])
			}
		}
		return sb.String()
	case KeyBinary:
		const hex = "0123456789ABCDEF"
		if n < len(b) {
			n = len(b)
		}
		out := make([]byte, 2*n)
		for i := 0; i < n; i++ {
			var c byte
			if i < len(b) {
				c = b[i]
			}
			out[2*i], out[2*i+1] = hex[c>>4], hex[c&15]
		}
		return string(out)
	}
	return ""
}
