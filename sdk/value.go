package sdk

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/strata-proxy/strata/abi"
)

// Value is a typed sample value: bool and int live in Int, ip, str and bin
// in Bytes (an ip is 4 or 16 bytes in network order).
type Value struct {
	Type  abi.Type
	Int   int64
	Bytes []byte
}

// None is "no sample".
var None = Value{}

// Bool returns a bool value.
func Bool(b bool) Value {
	if b {
		return Value{Type: abi.TypeBool, Int: 1}
	}
	return Value{Type: abi.TypeBool}
}

// Int returns an int value.
func Int(i int64) Value { return Value{Type: abi.TypeInt, Int: i} }

// Str returns a str value.
func Str(s string) Value { return Value{Type: abi.TypeStr, Bytes: []byte(s)} }

// Bin returns a bin value holding b (not copied).
func Bin(b []byte) Value { return Value{Type: abi.TypeBin, Bytes: b} }

// IP returns an ip value.
func IP(a netip.Addr) Value {
	if a.Is4() {
		b := a.As4()
		return Value{Type: abi.TypeIP, Bytes: b[:]}
	}
	b := a.As16()
	return Value{Type: abi.TypeIP, Bytes: b[:]}
}

// Valid reports whether v holds a sample.
func (v Value) Valid() bool { return v.Type != abi.TypeNone }

// Addr returns an ip value as a netip.Addr (invalid for other types).
func (v Value) Addr() netip.Addr {
	if v.Type != abi.TypeIP {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(v.Bytes)
	return a
}

// String returns the textual form of v, as the proxy prints samples.
func (v Value) String() string {
	switch v.Type {
	case abi.TypeBool:
		if v.Int != 0 {
			return "1"
		}
		return "0"
	case abi.TypeInt:
		return strconv.FormatInt(v.Int, 10)
	case abi.TypeIP:
		return v.Addr().String()
	case abi.TypeStr, abi.TypeBin:
		return string(v.Bytes)
	}
	return ""
}

// decode builds a value of type t from the bytes the host wrote.
func decode(t abi.Type, b []byte) Value {
	if t.Scalar() {
		if len(b) < 8 {
			return Value{Type: t}
		}
		return Value{Type: t, Int: int64(binary.LittleEndian.Uint64(b))}
	}
	if t == abi.TypeNone {
		return None
	}
	return Value{Type: t, Bytes: append([]byte(nil), b...)}
}
