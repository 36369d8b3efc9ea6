package fetch

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/strata-proxy/strata/core/sample"
)

// CanCast reports whether a sample of type from can be converted to type to,
// following HAProxy's cast table. TypeNone on either side means "decided at
// run time" and is accepted.
func CanCast(from, to sample.Type) bool {
	if from == to || from == sample.TypeNone || to == sample.TypeNone {
		return true
	}
	switch from {
	case sample.TypeBool:
		return to == sample.TypeInt || to == sample.TypeStr
	case sample.TypeInt:
		return to == sample.TypeBool || to == sample.TypeStr || to == sample.TypeIP
	case sample.TypeIP:
		return to == sample.TypeStr || to == sample.TypeBin || to == sample.TypeInt
	case sample.TypeStr:
		return to == sample.TypeInt || to == sample.TypeIP || to == sample.TypeBin || to == sample.TypeBool
	case sample.TypeBin:
		return to == sample.TypeStr
	}
	return false
}

// Cast converts v to type to, writing any new bytes into ctx's scratch arena.
// False when the conversion is impossible for this value (a string that is
// not an address). Casting to TypeNone returns v unchanged.
func Cast(ctx *Ctx, v sample.Value, to sample.Type) (sample.Value, bool) {
	if v.Type == to || to == sample.TypeNone {
		return v, v.Type != sample.TypeNone
	}
	switch v.Type {
	case sample.TypeBool:
		switch to {
		case sample.TypeInt:
			return sample.Int(v.Int), true
		case sample.TypeStr:
			b := ctx.Scratch(1)
			b[0] = '0'
			if v.Int != 0 {
				b[0] = '1'
			}
			return sample.Str(b), true
		}
	case sample.TypeInt:
		switch to {
		case sample.TypeBool:
			return sample.Bool(v.Int != 0), true
		case sample.TypeStr:
			b := strconv.AppendInt(ctx.Scratch(20)[:0], v.Int, 10)
			return sample.Str(b), true
		case sample.TypeIP:
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], uint32(v.Int))
			return sample.IP(netip.AddrFrom4(a)), true
		}
	case sample.TypeIP:
		switch to {
		case sample.TypeStr:
			b := v.IP.AppendTo(ctx.Scratch(64)[:0])
			return sample.Str(b), true
		case sample.TypeBin:
			if v.IP.Is4() {
				a := v.IP.As4()
				b := ctx.Scratch(4)
				copy(b, a[:])
				return sample.Bin(b), true
			}
			a := v.IP.As16()
			b := ctx.Scratch(16)
			copy(b, a[:])
			return sample.Bin(b), true
		case sample.TypeInt:
			if ip := v.IP.Unmap(); ip.Is4() {
				a := ip.As4()
				return sample.Int(int64(binary.BigEndian.Uint32(a[:]))), true
			}
			return sample.Value{}, false
		}
	case sample.TypeStr:
		switch to {
		case sample.TypeInt:
			n, ok := ParseIntPrefix(v.Bytes)
			return sample.Int(n), ok
		case sample.TypeBool:
			n, ok := ParseIntPrefix(v.Bytes)
			return sample.Bool(n != 0), ok
		case sample.TypeIP:
			a, ok := ParseAddr(v.Bytes)
			return sample.IP(a), ok
		case sample.TypeBin:
			return sample.Bin(v.Bytes), true
		}
	case sample.TypeBin:
		if to == sample.TypeStr {
			return sample.Str(v.Bytes), true
		}
	}
	return sample.Value{}, false
}

// ParseIntPrefix reads an optional sign and the decimal digits that start b,
// stopping at the first other byte, like HAProxy's string-to-integer cast:
// "12abc" is 12 and "abc" is 0. It fails only on empty input. The value
// saturates at the int64 bounds.
func ParseIntPrefix(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	i := 0
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		if n > (1<<63)/10 {
			n = 1 << 63
			continue
		}
		n = n*10 + uint64(c)
	}
	if neg {
		if n >= 1<<63 {
			return -1 << 63, true
		}
		return -int64(n), true
	}
	if n >= 1<<63 {
		return 1<<63 - 1, true
	}
	return int64(n), true
}

// ParseAddr parses an IPv4 (dotted quad) or IPv6 address from b without
// allocating. Zones are not accepted.
func ParseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		if c == ':' {
			return parseAddr6(b)
		}
	}
	a, ok := parseAddr4(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a), true
}

func parseAddr4(b []byte) ([4]byte, bool) {
	var out [4]byte
	part, val, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || part > 3 {
				return out, false
			}
			out[part] = byte(val)
			part++
			val, digits = 0, 0
			continue
		}
		c := b[i] - '0'
		if c > 9 {
			return out, false
		}
		if digits > 0 && val == 0 {
			return out, false // leading zero
		}
		val = val*10 + int(c)
		digits++
		if val > 255 {
			return out, false
		}
	}
	return out, part == 4
}

func parseAddr6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // position of "::" in ip
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if len(b) == 2 {
			return netip.AddrFrom16(ip), true
		}
	}
	n := 0 // bytes filled
	for n < 16 {
		// Read a hex group.
		start := i
		var v uint32
		for i < len(b) && i-start < 4 {
			c := b[i]
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				goto done
			}
			v = v<<4 | uint32(d)
			i++
		}
	done:
		if i == start {
			return netip.Addr{}, false
		}
		// An embedded IPv4 address ends the text.
		if i < len(b) && b[i] == '.' {
			if n > 12 {
				return netip.Addr{}, false
			}
			a4, ok := parseAddr4(b[start:])
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[n:], a4[:])
			n += 4
			i = len(b)
			break
		}
		ip[n] = byte(v >> 8)
		ip[n+1] = byte(v)
		n += 2
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return netip.Addr{}, false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return netip.Addr{}, false
		}
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	if n < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		gap := 16 - n
		copy(ip[ellipsis+gap:], ip[ellipsis:n])
		clear(ip[ellipsis : ellipsis+gap])
	} else if ellipsis >= 0 {
		// "::" must stand for at least one group.
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}
