// Package sample defines the typed value that sample fetches produce,
// converters transform, ACLs match and variables hold. Its types are the ABI's
// value types (bool, int, ip, str, bin). It depends on nothing but the
// standard library so that every layer of the core can hold values.
package sample

import (
	"net/netip"
	"strconv"
)

// Type is the type of a sample value. The numbering follows abi value types.
type Type uint8

const (
	TypeNone Type = iota // no sample
	TypeBool
	TypeInt
	TypeIP
	TypeStr
	TypeBin
)

var typeNames = [...]string{"none", "bool", "int", "ip", "str", "bin"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Value is one sample. Bytes of a str or bin value may alias a connection
// buffer: they are valid only during the evaluation that produced them; keep
// them with Clone.
type Value struct {
	Type  Type
	Int   int64 // int; bool as 0 or 1
	IP    netip.Addr
	Bytes []byte // str, bin
}

// Bool returns a bool value.
func Bool(b bool) Value {
	v := Value{Type: TypeBool}
	if b {
		v.Int = 1
	}
	return v
}

// Int returns an int value.
func Int(i int64) Value { return Value{Type: TypeInt, Int: i} }

// IP returns an ip value.
func IP(a netip.Addr) Value { return Value{Type: TypeIP, IP: a} }

// Str returns a str value aliasing b.
func Str(b []byte) Value { return Value{Type: TypeStr, Bytes: b} }

// Bin returns a bin value aliasing b.
func Bin(b []byte) Value { return Value{Type: TypeBin, Bytes: b} }

// Clone returns v with its bytes copied, safe to keep past the evaluation.
func (v Value) Clone() Value {
	if v.Bytes != nil {
		v.Bytes = append([]byte(nil), v.Bytes...)
	}
	return v
}

// AppendString appends v's textual form to dst (the form used by
// log-format expressions and header values).
func (v Value) AppendString(dst []byte) []byte {
	switch v.Type {
	case TypeBool:
		if v.Int != 0 {
			return append(dst, '1')
		}
		return append(dst, '0')
	case TypeInt:
		return strconv.AppendInt(dst, v.Int, 10)
	case TypeIP:
		return v.IP.AppendTo(dst)
	case TypeStr, TypeBin:
		return append(dst, v.Bytes...)
	}
	return dst
}

// String returns v's textual form.
func (v Value) String() string { return string(v.AppendString(nil)) }
