package stick

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func ipKey(s string) Key { return KeyFromIP(netip.MustParseAddr(s)) }

func newTestTable(t testing.TB, d Def) *Table {
	t.Helper()
	tbl, err := NewTable(d)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// TestKey_SameEntry checks which keys designate one entry.
func TestKey_SameEntry(t *testing.T) {
	tests := []struct {
		name   string
		def    Def
		a, b   Key
		same   bool
		format string // how a prints in "show table"
	}{
		{name: "v4 equals v4-mapped v6", def: Def{Key: KeyIP},
			a: ipKey("1.2.3.4"), b: ipKey("::ffff:1.2.3.4"), same: true, format: "1.2.3.4"},
		{name: "v4 differs from v4-compatible v6", def: Def{Key: KeyIP},
			a: ipKey("1.2.3.4"), b: ipKey("::1.2.3.4"), format: "1.2.3.4"},
		{name: "v6", def: Def{Key: KeyIP},
			a: ipKey("2001:db8::1"), b: ipKey("2001:db8::2"), format: "2001:db8::1"},
		{name: "zone dropped", def: Def{Key: KeyIP},
			a: ipKey("fe80::1%eth0"), b: ipKey("fe80::1"), same: true, format: "fe80::1"},
		{name: "integer truncated to 32 bits", def: Def{Key: KeyInteger},
			a: KeyFromInt(1), b: KeyFromInt(1<<32 + 1), same: true, format: "1"},
		{name: "negative integer is unsigned", def: Def{Key: KeyInteger},
			a: KeyFromInt(-1), b: KeyFromInt(4294967295), same: true, format: "4294967295"},
		{name: "integers differ", def: Def{Key: KeyInteger},
			a: KeyFromInt(7), b: KeyFromInt(8), format: "7"},
		{name: "string truncated to table len", def: Def{Key: KeyString, KeyLen: 4},
			a: KeyFromString([]byte("abcdef"), 0), b: KeyFromString([]byte("abcdXY"), 0), same: true, format: "abcd"},
		{name: "string truncated by key len", def: Def{Key: KeyString, KeyLen: 32},
			a: KeyFromString([]byte("abcdef"), 3), b: KeyFromString([]byte("abc"), 0), same: true, format: "abc"},
		{name: "string prefix differs", def: Def{Key: KeyString, KeyLen: 8},
			a: KeyFromString([]byte("abc"), 0), b: KeyFromString([]byte("abcd"), 0), format: "abc"},
		{name: "string escapes", def: Def{Key: KeyString},
			a: KeyFromString([]byte("a b=c\\\t\x01"), 0), b: KeyFromString([]byte("a b=c"), 0), format: `a\ b\=c\\\t\x01`},
		{name: "empty string", def: Def{Key: KeyString},
			a: KeyFromString(nil, 0), b: KeyFromString([]byte{}, 0), same: true, format: ""},
		{name: "binary zero padded", def: Def{Key: KeyBinary, KeyLen: 4},
			a: KeyFromBytes([]byte("ab"), 0), b: KeyFromBytes([]byte("ab\x00"), 0), same: true, format: "61620000"},
		{name: "binary truncated", def: Def{Key: KeyBinary, KeyLen: 2},
			a: KeyFromBytes([]byte{1, 2, 3}, 0), b: KeyFromBytes([]byte{1, 2, 4}, 0), same: true, format: "0102"},
		{name: "binary differs", def: Def{Key: KeyBinary, KeyLen: 4},
			a: KeyFromBytes([]byte{0, 1}, 0), b: KeyFromBytes([]byte{1}, 0), format: "00010000"},
		{name: "long binary", def: Def{Key: KeyBinary, KeyLen: 20},
			a: KeyFromBytes([]byte("0123456789abcdefghij"), 0), b: KeyFromBytes([]byte("0123456789abcdefghiJ"), 0),
			format: "303132333435363738396162636465666768696A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.def
			d.Name, d.Size = "k", 10
			tbl := newTestTable(t, d)
			now := at(0)
			ea, err := tbl.Acquire(tt.a, now)
			if err != nil {
				t.Fatal(err)
			}
			eb, err := tbl.Acquire(tt.b, now)
			if err != nil {
				t.Fatal(err)
			}
			if (ea == eb) != tt.same {
				t.Fatalf("same entry = %v, want %v", ea == eb, tt.same)
			}
			if got := ea.Key(); got != tt.format {
				t.Fatalf("key formats as %q, want %q", got, tt.format)
			}
			wantLen := 2
			if tt.same {
				wantLen = 1
			}
			if tbl.Len() != wantLen {
				t.Fatalf("Len = %d, want %d", tbl.Len(), wantLen)
			}
			tbl.Release(ea, now)
			tbl.Release(eb, now)
		})
	}
}

func TestKey_TypeMismatch(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "k", Key: KeyIP, Size: 10})
	for _, k := range []Key{{}, KeyFromInt(1), KeyFromString([]byte("x"), 0), KeyFromIP(netip.Addr{})} {
		if _, err := tbl.Acquire(k, at(0)); !errors.Is(err, ErrKeyType) {
			t.Fatalf("Acquire(%v) error = %v, want ErrKeyType", k, err)
		}
		if _, ok := tbl.Lookup(k, at(0)); ok {
			t.Fatalf("Lookup(%v) found something", k)
		}
		var s Slots
		if s.Track(0, tbl, k, at(0)) {
			t.Fatalf("Track(%v) tracked", k)
		}
	}
	if tbl.Len() != 0 {
		t.Fatalf("Len = %d", tbl.Len())
	}
}

func TestKey_String(t *testing.T) {
	tests := []struct {
		name string
		key  Key
		want string
	}{
		{name: "v4", key: ipKey("10.1.2.3"), want: "10.1.2.3"},
		{name: "v6", key: ipKey("2001:db8::7"), want: "2001:db8::7"},
		{name: "int", key: KeyFromInt(42), want: "42"},
		{name: "string", key: KeyFromString([]byte("a=b"), 0), want: `a\=b`},
		{name: "binary", key: KeyFromBytes([]byte{0xab, 1}, 0), want: "AB01"},
		{name: "zero", key: Key{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTable_NoAllocOnHit: looking up, tracking and counting on existing
// entries allocate nothing.
func TestTable_NoAllocOnHit(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "a", Key: KeyIP, Size: 100, Expire: time.Minute,
		Store: mustStores(t, "conn_cur,conn_rate(10s),http_req_rate(10s),bytes_in_cnt")})
	stbl := newTestTable(t, Def{Name: "s", Key: KeyString, KeyLen: 40, Size: 100, Expire: time.Minute,
		Store: mustStores(t, "http_req_cnt")})
	ip := netip.MustParseAddr("192.0.2.10")
	host := []byte("www.example.com/some/longer/path/beyond/32/bytes")
	now := at(0)
	e, _ := tbl.Acquire(KeyFromIP(ip), now)
	tbl.Release(e, now)
	e, _ = stbl.Acquire(KeyFromString(host, 0), now)
	stbl.Release(e, now)

	// Slots live in pooled session and stream objects: outside the loop.
	var sess, strm Slots
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "acquire release ip", fn: func() {
			e, err := tbl.Acquire(KeyFromIP(ip), now)
			if err != nil {
				panic(err)
			}
			tbl.Release(e, now)
		}},
		{name: "acquire release string", fn: func() {
			e, err := stbl.Acquire(KeyFromString(host, 0), now)
			if err != nil {
				panic(err)
			}
			stbl.Release(e, now)
		}},
		{name: "lookup", fn: func() {
			if _, ok := tbl.Lookup(KeyFromIP(ip), now); !ok {
				panic("missing")
			}
		}},
		{name: "track count release", fn: func() {
			sess.Track(0, tbl, KeyFromIP(ip), now)
			v := View{Stream: &strm, Session: &sess}
			v.TrackRequest(1, stbl, KeyFromString(host, 0), now)
			v.CountHTTPReq(now)
			v.CountBytesIn(100, now)
			if _, e, _, ok := v.Entry(0); ok {
				e.Get(DataHTTPReqRate, 0, now)
			}
			strm.Release(now)
			sess.Release(now)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Fatalf("%v allocations per run, want 0", n)
			}
		})
	}
}
