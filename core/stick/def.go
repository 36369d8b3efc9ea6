package stick

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// KeyType is the type of a table's keys.
type KeyType uint8

const (
	keyNone    KeyType = iota
	KeyIP              // IPv4 and IPv6 in one table ("ip" and "ipv6")
	KeyInteger         // 32-bit unsigned, as HAProxy's "integer"
	KeyString          // up to KeyLen bytes, longer keys truncated
	KeyBinary          // KeyLen bytes, shorter keys padded with zeros
)

// DefaultKeyLen is the key length of string and binary tables that do not
// set one (HAProxy's default).
const DefaultKeyLen = 32

// MaxKeyLen bounds KeyLen.
const MaxKeyLen = 65535

func (k KeyType) String() string {
	switch k {
	case KeyIP:
		return "ip"
	case KeyInteger:
		return "integer"
	case KeyString:
		return "string"
	case KeyBinary:
		return "binary"
	}
	return "keytype(" + strconv.Itoa(int(k)) + ")"
}

// ParseKeyType accepts HAProxy's type names. "ip" and "ipv6" both give
// KeyIP: a strata ip table holds IPv4 and IPv6 addresses alike.
func ParseKeyType(name string) (KeyType, error) {
	switch name {
	case "ip", "ipv6":
		return KeyIP, nil
	case "integer":
		return KeyInteger, nil
	case "string":
		return KeyString, nil
	case "binary":
		return KeyBinary, nil
	}
	return keyNone, fmt.Errorf("%w: unknown key type %q (ip, ipv6, integer, string, binary)", ErrDef, name)
}

// Def defines a table: HAProxy's
// "stick-table type <Key> [len <KeyLen>] size <Size> [expire <Expire>] [nopurge] store <Store>".
type Def struct {
	Name   string
	Key    KeyType
	KeyLen int           // string and binary keys; 0 means DefaultKeyLen
	Size   int           // maximum number of entries, > 0
	Expire time.Duration // idle time after which an unreferenced entry goes; 0: never
	// NoPurge forbids evicting old entries when the table is full: creation
	// fails instead.
	NoPurge bool
	Store   []DataSpec
	// Shared, when not empty, makes the table's entries keep a fleet share
	// (share.go) for a syncer. It describes the sharing settings, so a
	// table whose sharing changes on reload is a new table (its fleet
	// values come back from the fleet at the first sync).
	Shared string
}

// keyLen returns the effective key length in bytes.
func (d Def) keyLen() int {
	switch d.Key {
	case KeyIP:
		return 16
	case KeyInteger:
		return 4
	}
	if d.KeyLen == 0 {
		return DefaultKeyLen
	}
	return d.KeyLen
}

// Validate reports what is wrong with d, naming the table.
func (d Def) Validate() error {
	if d.Name == "" {
		return fmt.Errorf("%w: missing name", ErrDef)
	}
	wrap := func(format string, a ...any) error {
		return fmt.Errorf("%w: table %s: %s", ErrDef, d.Name, fmt.Sprintf(format, a...))
	}
	switch d.Key {
	case KeyIP, KeyInteger:
		if d.KeyLen != 0 {
			return wrap("len applies to string and binary keys only")
		}
	case KeyString, KeyBinary:
		if d.KeyLen < 0 || d.KeyLen > MaxKeyLen {
			return wrap("len %d out of range 1-%d", d.KeyLen, MaxKeyLen)
		}
	default:
		return wrap("missing key type")
	}
	if d.Size <= 0 {
		return wrap("size must be positive")
	}
	if d.Expire < 0 || d.Expire > MaxPeriod {
		return wrap("expire %v out of range 0-%v", d.Expire, MaxPeriod)
	}
	if d.Expire%time.Millisecond != 0 {
		return wrap("expire %v is not a whole number of milliseconds", d.Expire)
	}
	var seen [numDataTypes]bool
	for _, s := range d.Store {
		if err := s.validate(); err != nil {
			return wrap("%v", err)
		}
		if seen[s.Type] {
			// HAProxy warns and keeps the first; a strata config is an
			// error instead, so that the two cannot silently differ.
			return wrap("store %s listed twice", s.Type)
		}
		seen[s.Type] = true
	}
	// The same conflicts as HAProxy: the arrays replace the legacy names.
	switch {
	case seen[DataGPT] && seen[DataGPT0]:
		return wrap("gpt and gpt0 cannot be stored together: gpt0 is gpt[0]")
	case seen[DataGPC] && (seen[DataGPC0] || seen[DataGPC1]):
		return wrap("gpc and gpc0/gpc1 cannot be stored together: gpc0 is gpc[0]")
	case seen[DataGPCRate] && (seen[DataGPC0Rate] || seen[DataGPC1Rate]):
		return wrap("gpc_rate and gpc0_rate/gpc1_rate cannot be stored together: gpc0_rate is gpc_rate[0]")
	}
	return nil
}

// normStore returns the stored types in DataType order with N normalised.
func (d Def) normStore() []DataSpec {
	out := make([]DataSpec, len(d.Store))
	for i, s := range d.Store {
		out[i] = s.norm()
	}
	slices.SortFunc(out, func(a, b DataSpec) int { return int(a.Type) - int(b.Type) })
	return out
}

// Equal reports whether d and o define the same table: same name, key,
// size, expiry and stored data (in any order). A table whose definition is
// Equal across a configuration reload keeps its entries.
func (d Def) Equal(o Def) bool {
	if d.Name != o.Name || d.Key != o.Key || d.keyLen() != o.keyLen() ||
		d.Size != o.Size || d.Expire != o.Expire || d.NoPurge != o.NoPurge || d.Shared != o.Shared ||
		len(d.Store) != len(o.Store) {
		return false
	}
	return slices.Equal(d.normStore(), o.normStore())
}

// layout is where each stored data type lives in an entry's words.
// Counters take one word, rates two (see freqCtr); array elements follow
// each other. The key is packed after the data.
type layout struct {
	off    [numDataTypes]int32  // first word, -1 when not stored
	n      [numDataTypes]uint8  // element count
	period [numDataTypes]uint32 // rate period in ms
	words  int                  // data words
	order  []DataType           // stored types in DataType order
}

func newLayout(store []DataSpec) layout {
	var l layout
	for i := range l.off {
		l.off[i] = -1
	}
	for _, s := range store {
		w := 1
		if s.Type.IsRate() {
			w = 2
			l.period[s.Type] = uint32(s.Period / time.Millisecond)
		}
		l.off[s.Type] = int32(l.words)
		l.n[s.Type] = uint8(s.N)
		l.words += w * s.N
		l.order = append(l.order, s.Type)
	}
	return l
}

// resolve maps a data type and index onto the stored one, with HAProxy's
// fallback of the legacy names onto the arrays: gpc0 reads gpc[0] when the
// table stores gpc but not gpc0, and so on. It returns the word offset.
func (l *layout) resolve(dt DataType, idx int) (DataType, int, bool) {
	if dt >= numDataTypes || idx < 0 || (idx > 0 && !dataInfo[dt].array) {
		return 0, 0, false
	}
	if l.off[dt] < 0 {
		switch dt {
		case DataGPT0:
			dt = DataGPT
		case DataGPC0:
			dt = DataGPC
		case DataGPC1:
			dt, idx = DataGPC, 1
		case DataGPC0Rate:
			dt = DataGPCRate
		case DataGPC1Rate:
			dt, idx = DataGPCRate, 1
		default:
			return 0, 0, false
		}
		if l.off[dt] < 0 {
			return 0, 0, false
		}
	}
	if idx >= int(l.n[dt]) {
		return 0, 0, false
	}
	w := 1
	if dataInfo[dt].kind == kindRate {
		w = 2
	}
	return dt, int(l.off[dt]) + idx*w, true
}
