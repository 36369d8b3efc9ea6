package h1

import (
	"math/rand/v2"
	"testing"
)

func TestClass(t *testing.T) {
	const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for c := 0; c < 256; c++ {
		b := byte(c)
		isT := false
		for i := 0; i < len(tchars); i++ {
			isT = isT || tchars[i] == b
		}
		if got := class[b]&cTchar != 0; got != isT {
			t.Errorf("tchar(%#x) = %t", b, got)
		}
		isV := b == '\t' || b == ' ' || (b > 0x20 && b != 0x7f)
		if got := class[b]&cValue != 0; got != isV {
			t.Errorf("value(%#x) = %t", b, got)
		}
	}
}

// TestScanValue checks the word-at-a-time scan against a byte-by-byte one
// on inputs dense in the bytes that matter.
func TestScanValue(t *testing.T) {
	naive := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if class[b[i]]&cValue == 0 {
				return i
			}
		}
		return i
	}
	alphabet := []byte{'a', ' ', '\t', '\r', '\n', 0, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xff, '"'}
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 64)
	for iter := 0; iter < 200000; iter++ {
		n := rng.IntN(len(b) + 1)
		for i := range n {
			if rng.IntN(6) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		start := 0
		if n > 0 {
			start = rng.IntN(n)
		}
		if got, want := scanValue(b[:n], start), naive(b[:n], start); got != want {
			t.Fatalf("scanValue(%q, %d) = %d, want %d", b[:n], start, got, want)
		}
	}
}

func TestEqFold(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b string
		want bool
	}{
		{"same", "Host", "Host", true},
		{"case", "hOsT", "HoSt", true},
		{"length", "Host", "Hos", false},
		{"not letters", "[", "{", false},
		{"at and backtick", "@", "`", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := eqFold([]byte(tt.a), tt.b); got != tt.want {
				t.Fatalf("eqFold(%q, %q) = %t", tt.a, tt.b, got)
			}
			if got := eqFoldBytes([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Fatalf("eqFoldBytes(%q, %q) = %t", tt.a, tt.b, got)
			}
		})
	}
}
