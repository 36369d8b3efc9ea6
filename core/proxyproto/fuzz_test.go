package proxyproto

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, returns exactly one of a
// header, ErrIncomplete or ErrInvalid, never claims more bytes than it was
// given, and that a header it accepts parses the same when more bytes
// follow. Headers that carry addresses must survive a round trip through
// AppendV1 and AppendV2. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(AppendV2(nil, v6src, v6dst, TLV{Type: TypeCRC32C}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		switch {
		case err == nil:
			if n <= 0 || n > len(b) {
				t.Fatalf("length %d of %d bytes", n, len(b))
			}
			h2, n2, err2 := Parse(append(append([]byte(nil), b[:n]...), "trailing data"...))
			if err2 != nil || n2 != n || h2.Src != h.Src || h2.Dst != h.Dst || h2.Command != h.Command {
				t.Fatalf("with data after it the header parses as %v %d %v", h2, n2, err2)
			}
			if h.HasAddrs() {
				for _, out := range [][]byte{AppendV1(nil, h.Src, h.Dst), AppendV2(nil, h.Src, h.Dst)} {
					r, m, err := Parse(out)
					if err != nil || m != len(out) {
						t.Fatalf("re-encoded %q: %d %v", out, m, err)
					}
					if r.Src.Port() != h.Src.Port() || r.Src.Addr().Unmap() != h.Src.Addr().Unmap() ||
						r.Dst.Port() != h.Dst.Port() || r.Dst.Addr().Unmap() != h.Dst.Addr().Unmap() {
						t.Fatalf("round trip %v → %v became %v → %v", h.Src, h.Dst, r.Src, r.Dst)
					}
				}
			}
		case errors.Is(err, ErrIncomplete):
			if n != 0 {
				t.Fatalf("incomplete with length %d", n)
			}
			if len(b) >= V2HeaderLen+65535 {
				t.Fatalf("incomplete after %d bytes", len(b))
			}
		case errors.Is(err, ErrInvalid):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
