package stick

import (
	"bytes"
	"testing"
)

// FuzzParseStore: the store parser never panics, and what it accepts
// prints back to a specification that parses to the same thing.
func FuzzParseStore(f *testing.F) {
	for _, s := range []string{"conn_cur", "conn_rate(10s)", "gpc(2)", "gpc_rate(2,10s)", "gpt(1)",
		"http_req_rate(1500us)", "gpc0_rate(1d)", "gpc(", "conn_rate(99999999999999999999)", "a,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseStore(spec)
		if err != nil {
			return
		}
		if err := s.validate(); err != nil {
			t.Fatalf("ParseStore(%q) = %+v, which does not validate: %v", spec, s, err)
		}
		again, err := ParseStore(s.String())
		if err != nil || again != s {
			t.Fatalf("ParseStore(%q) = %+v; String %q parses to %+v, %v", spec, s, s.String(), again, err)
		}
		_, _ = ParseStores(spec)
	})
}

// FuzzTable_BinaryKeys: binary keys from untrusted bytes designate one entry
// exactly when their zero-padded, truncated forms are equal.
func FuzzTable_BinaryKeys(f *testing.F) {
	f.Add([]byte("ab"), []byte("ab\x00"))
	f.Add([]byte{0, 0, 1}, []byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 9})
	f.Add([]byte("0123456789abcdef"), []byte("0123456789abcdeF"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		const n = 12
		tbl := newTestTable(t, Def{Name: "f", Key: KeyBinary, KeyLen: n, Size: 4})
		ea, err := tbl.Acquire(KeyFromBytes(a, 0), at(0))
		if err != nil {
			t.Fatal(err)
		}
		eb, err := tbl.Acquire(KeyFromBytes(b, 0), at(0))
		if err != nil {
			t.Fatal(err)
		}
		pad := func(x []byte) []byte {
			out := make([]byte, n)
			copy(out, x)
			return out
		}
		if want := bytes.Equal(pad(a), pad(b)); (ea == eb) != want {
			t.Fatalf("keys %x and %x: same entry %v, want %v", a, b, ea == eb, want)
		}
		if got := len(ea.Key()); got != 2*n {
			t.Fatalf("key %x prints as %q", a, ea.Key())
		}
		tbl.Release(ea, at(0))
		tbl.Release(eb, at(0))
	})
}

// FuzzTable_StringKeys: string keys compare as bytes after truncation and
// always print.
func FuzzTable_StringKeys(f *testing.F) {
	f.Add([]byte("www.example.com"), []byte("www.example.org"))
	f.Add([]byte("a\x00b"), []byte("a\x00c"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		const n = 10
		tbl := newTestTable(t, Def{Name: "f", Key: KeyString, KeyLen: n, Size: 4})
		ea, _ := tbl.Acquire(KeyFromString(a, 0), at(0))
		eb, _ := tbl.Acquire(KeyFromString(b, 0), at(0))
		cut := func(x []byte) []byte { return x[:min(len(x), n)] }
		if want := bytes.Equal(cut(a), cut(b)); (ea == eb) != want {
			t.Fatalf("keys %q and %q: same entry %v, want %v", a, b, ea == eb, want)
		}
		_ = ea.Key()
		tbl.Release(ea, at(0))
		tbl.Release(eb, at(0))
	})
}
