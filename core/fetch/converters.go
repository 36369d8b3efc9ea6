package fetch

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/strata-proxy/strata/core/sample"
)

// builtinConverters is the table NewRegistry installs (map converters are
// added by mapConverters).
func builtinConverters() []Converter {
	cs := []Converter{
		{Name: "lower", In: sample.TypeStr, Out: sample.TypeStr, Fn: convLower},
		{Name: "upper", In: sample.TypeStr, Out: sample.TypeStr, Fn: convUpper},
		{Name: "length", In: sample.TypeStr, Out: sample.TypeInt, Fn: convLen},
		{Name: "len", In: sample.TypeStr, Out: sample.TypeInt, Fn: convLen},
		{Name: "ipmask", MinArgs: 1, MaxArgs: 2, In: sample.TypeIP, Out: sample.TypeIP, Compile: compileIPMask, Fn: convIPMask},
		{Name: "base64", In: sample.TypeBin, Out: sample.TypeStr, Fn: convBase64},
		{Name: "hex", In: sample.TypeBin, Out: sample.TypeStr, Fn: convHex},
		{Name: "json", MaxArgs: 1, In: sample.TypeStr, Out: sample.TypeStr, Compile: compileJSON, Fn: convJSON},
	}
	return append(cs, mapConverters()...)
}

func convLower(ctx *Ctx, _ any, in sample.Value) (sample.Value, bool) {
	b := in.Bytes
	i := 0
	for i < len(b) && !(b[i] >= 'A' && b[i] <= 'Z') {
		i++
	}
	if i == len(b) {
		return in, true // nothing to change
	}
	out := ctx.Scratch(len(b))
	copy(out, b[:i])
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return sample.Str(out), true
}

func convUpper(ctx *Ctx, _ any, in sample.Value) (sample.Value, bool) {
	b := in.Bytes
	i := 0
	for i < len(b) && !(b[i] >= 'a' && b[i] <= 'z') {
		i++
	}
	if i == len(b) {
		return in, true
	}
	out := ctx.Scratch(len(b))
	copy(out, b[:i])
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return sample.Str(out), true
}

func convLen(_ *Ctx, _ any, in sample.Value) (sample.Value, bool) {
	return sample.Int(int64(len(in.Bytes))), true
}

type ipMask struct {
	m4   [4]byte
	m6   [16]byte
	has6 bool
}

func compileIPMask(args []Arg, _ string) (any, error) {
	var st ipMask
	s := args[0].Str
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 32 {
			return nil, fmt.Errorf("%w: IPv4 mask %q: want 0 to 32 bits", ErrArgs, s)
		}
		p := netip.PrefixFrom(netip.IPv4Unspecified(), n)
		st.m4 = maskBytes4(p.Bits())
	} else if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		st.m4 = a.As4()
	} else {
		return nil, fmt.Errorf("%w: IPv4 mask %q: want a bit count or a dotted mask", ErrArgs, s)
	}
	if len(args) > 1 {
		s6 := args[1].Str
		if n, err := strconv.Atoi(s6); err == nil {
			if n < 0 || n > 128 {
				return nil, fmt.Errorf("%w: IPv6 mask %q: want 0 to 128 bits", ErrArgs, s6)
			}
			for i := 0; i < 16; i++ {
				bits := min(max(n-8*i, 0), 8)
				st.m6[i] = byte(0xff << (8 - bits))
			}
		} else if a, err := netip.ParseAddr(s6); err == nil && a.Is6() {
			st.m6 = a.As16()
		} else {
			return nil, fmt.Errorf("%w: IPv6 mask %q: want a bit count or an IPv6 mask", ErrArgs, s6)
		}
		st.has6 = true
	}
	return &st, nil
}

func maskBytes4(bits int) [4]byte {
	var m [4]byte
	for i := 0; i < 4; i++ {
		b := min(max(bits-8*i, 0), 8)
		m[i] = byte(0xff << (8 - b))
	}
	return m
}

func convIPMask(_ *Ctx, state any, in sample.Value) (sample.Value, bool) {
	st := state.(*ipMask)
	if in.IP.Is4() {
		a := in.IP.As4()
		for i := range a {
			a[i] &= st.m4[i]
		}
		return sample.IP(netip.AddrFrom4(a)), true
	}
	if !in.IP.Is6() || !st.has6 {
		return sample.Value{}, false // like HAProxy: IPv6 needs mask6
	}
	a := in.IP.As16()
	for i := range a {
		a[i] &= st.m6[i]
	}
	return sample.IP(netip.AddrFrom16(a)), true
}

func convBase64(ctx *Ctx, _ any, in sample.Value) (sample.Value, bool) {
	out := ctx.Scratch(base64.StdEncoding.EncodedLen(len(in.Bytes)))
	base64.StdEncoding.Encode(out, in.Bytes)
	return sample.Str(out), true
}

const upperHex = "0123456789ABCDEF"

func convHex(ctx *Ctx, _ any, in sample.Value) (sample.Value, bool) {
	out := ctx.Scratch(2 * len(in.Bytes))
	for i, c := range in.Bytes {
		out[2*i] = upperHex[c>>4]
		out[2*i+1] = upperHex[c&15]
	}
	return sample.Str(out), true
}

// jsonMode is the input decoding of the json converter.
type jsonMode uint8

const (
	jsonASCII  jsonMode = iota // bytes are characters; never fails
	jsonUTF8                   // fail on invalid UTF-8
	jsonUTF8S                  // drop invalid sequences
	jsonUTF8P                  // as utf8 (see package doc)
	jsonUTF8PS                 // as utf8s (see package doc)
)

func compileJSON(args []Arg, _ string) (any, error) {
	if len(args) == 0 {
		return jsonASCII, nil
	}
	switch args[0].Str {
	case "", "ascii":
		return jsonASCII, nil
	case "utf8":
		return jsonUTF8, nil
	case "utf8s":
		return jsonUTF8S, nil
	case "utf8p":
		return jsonUTF8P, nil
	case "utf8ps":
		return jsonUTF8PS, nil
	}
	return nil, fmt.Errorf("%w: input code %q: want ascii, utf8, utf8s, utf8p or utf8ps", ErrArgs, args[0].Str)
}

const lowerHex = "0123456789abcdef"

// appendJSONChar appends the JSON escape of character c (a byte or a
// decoded code point up to 0xffff).
func appendJSONChar(out []byte, c rune) []byte {
	switch c {
	case '"':
		return append(out, '\\', '"')
	case '\\':
		return append(out, '\\', '\\')
	case '/':
		return append(out, '\\', '/')
	case '\b':
		return append(out, '\\', 'b')
	case '\f':
		return append(out, '\\', 'f')
	case '\r':
		return append(out, '\\', 'r')
	case '\n':
		return append(out, '\\', 'n')
	case '\t':
		return append(out, '\\', 't')
	}
	if c < 0x20 || c >= 0x7f {
		return append(out, '\\', 'u', lowerHex[c>>12&15], lowerHex[c>>8&15], lowerHex[c>>4&15], lowerHex[c&15])
	}
	return append(out, byte(c))
}

func convJSON(ctx *Ctx, state any, in sample.Value) (sample.Value, bool) {
	mode := state.(jsonMode)
	b := in.Bytes
	// Every input byte yields at most 6 output bytes.
	out := ctx.Scratch(6 * len(b))[:0]
	for i := 0; i < len(b); {
		if mode == jsonASCII || b[i] < utf8.RuneSelf {
			out = appendJSONChar(out, rune(b[i]))
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 || r > 0xffff {
			if mode == jsonUTF8 || mode == jsonUTF8P {
				return sample.Value{}, false
			}
			i += max(size, 1)
			continue
		}
		out = appendJSONChar(out, r)
		i += size
	}
	return sample.Str(out), true
}
