package track

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/stick"
)

// keyKind is what a table's keys need from a sample, fixed when a rule is
// compiled so that building a key at run time reads no definition.
type keyKind struct {
	typ stick.KeyType
	len int // string and binary keys
}

func kindOf(t *stick.Table) keyKind {
	d := t.Def()
	n := d.KeyLen
	if n == 0 {
		n = stick.DefaultKeyLen
	}
	return keyKind{typ: d.Key, len: n}
}

// sampleType is the sample type a key of this kind is built from.
func (k keyKind) sampleType() sample.Type {
	switch k.typ {
	case stick.KeyIP:
		return sample.TypeIP
	case stick.KeyInteger:
		return sample.TypeInt
	case stick.KeyBinary:
		return sample.TypeBin
	}
	return sample.TypeStr
}

// key converts v to a key of this kind, casting as HAProxy does (a string
// that holds an address makes an ip key; any sample makes a string key).
// String and binary keys alias the sample's bytes: they are valid for the
// duration of the call that receives them.
func (k keyKind) key(ctx *fetch.Ctx, v sample.Value) (stick.Key, bool) {
	v, ok := fetch.Cast(ctx, v, k.sampleType())
	if !ok {
		return stick.Key{}, false
	}
	switch k.typ {
	case stick.KeyIP:
		return stick.KeyFromIP(v.IP), v.IP.IsValid()
	case stick.KeyInteger:
		return stick.KeyFromInt(v.Int), true
	case stick.KeyBinary:
		return stick.KeyFromBytes(v.Bytes, k.len), true
	}
	return stick.KeyFromString(v.Bytes, k.len), true
}

// ParseKey reads a key of table t as the runtime API and `strata ctl`
// write it: an IPv4 or IPv6 address, an unsigned 32-bit integer, the
// string itself, or a binary key in hexadecimal — HAProxy's "key <k>".
func ParseKey(t *stick.Table, s string) (stick.Key, error) { return parseKey(t, kindOf(t), s) }

func parseKey(t *stick.Table, k keyKind, s string) (stick.Key, error) {
	switch k.typ {
	case stick.KeyIP:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return stick.Key{}, fmt.Errorf("%w %q: table %s holds addresses", ErrBadKey, s, t.Name())
		}
		return stick.KeyFromIP(a), nil
	case stick.KeyInteger:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return stick.Key{}, fmt.Errorf("%w %q: table %s holds integers from 0 to 4294967295", ErrBadKey, s, t.Name())
		}
		return stick.KeyFromInt(int64(n)), nil
	case stick.KeyBinary:
		b, err := hex.DecodeString(s)
		if err != nil || len(b) > k.len {
			return stick.Key{}, fmt.Errorf("%w %q: table %s holds binary keys of %d bytes, written in hexadecimal", ErrBadKey, s, t.Name(), k.len)
		}
		return stick.KeyFromBytes(b, k.len), nil
	}
	return stick.KeyFromString([]byte(s), k.len), nil
}

// parseShownKey reads a key as "show table" prints it (Entry.Key): strings
// escaped as HAProxy's dump_text does, the rest as ParseKey reads them.
func parseShownKey(t *stick.Table, k keyKind, s string) (stick.Key, error) {
	if k.typ != stick.KeyString || !strings.Contains(s, `\`) {
		return parseKey(t, k, s)
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case 'x':
			if i+2 < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b = append(b, byte(v))
					i += 2
					continue
				}
			}
			b = append(b, '\\', 'x')
		default:
			b = append(b, s[i])
		}
	}
	return stick.KeyFromString(b, k.len), nil
}

// dataRef is a data type and an element of it, as the runtime API names
// them: "conn_cur", "http_req_rate", and array elements the way "show
// table" prints them, "gpc0", "gpt1", "gpc1_rate" (also "gpc(1)",
// "gpc_rate(1)").
type dataRef struct {
	dt  stick.DataType
	idx int
}

// parseDataRef reads a data name and checks that t stores it.
func parseDataRef(t *stick.Table, name string) (dataRef, error) {
	r, ok := dataRefOf(name)
	if !ok {
		return dataRef{}, fmt.Errorf("%w %q", ErrDataName, name)
	}
	if _, stored := probe(t, r); !stored {
		return dataRef{}, fmt.Errorf("%w: table %s does not store %s", ErrDataName, t.Name(), name)
	}
	return r, nil
}

func dataRefOf(name string) (dataRef, bool) {
	if dt, err := stick.ParseDataType(name); err == nil {
		return dataRef{dt: dt}, true
	}
	// gpc(1), gpt(0), gpc_rate(1)
	if base, arg, ok := strings.Cut(name, "("); ok && strings.HasSuffix(arg, ")") {
		dt, err := stick.ParseDataType(base)
		n, err2 := strconv.Atoi(strings.TrimSuffix(arg, ")"))
		if err == nil && err2 == nil && dt.IsArray() && n >= 0 && n < stick.MaxArray {
			return dataRef{dt: dt, idx: n}, true
		}
		return dataRef{}, false
	}
	// gpc7, gpt3, gpc2_rate: HAProxy's names of array elements
	head, suffix, _ := strings.Cut(name, "_")
	for _, p := range [...]string{"gpc", "gpt"} {
		num, ok := strings.CutPrefix(head, p)
		if !ok || num == "" {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n >= stick.MaxArray {
			return dataRef{}, false
		}
		switch {
		case suffix == "" && p == "gpc":
			return dataRef{dt: stick.DataGPC, idx: n}, true
		case suffix == "" && p == "gpt":
			return dataRef{dt: stick.DataGPT, idx: n}, true
		case suffix == "rate" && p == "gpc":
			return dataRef{dt: stick.DataGPCRate, idx: n}, true
		}
	}
	return dataRef{}, false
}

// probe reports whether t stores r, by reading it from an entry-less
// description: Stores handles the legacy fallbacks; array bounds are
// checked against the stored element count.
func probe(t *stick.Table, r dataRef) (stick.DataType, bool) {
	if !t.Stores(r.dt) {
		return r.dt, false
	}
	if r.idx == 0 {
		return r.dt, true
	}
	for _, s := range t.Def().Store {
		if s.Type == r.dt {
			return r.dt, r.idx < s.N
		}
	}
	return r.dt, false
}
