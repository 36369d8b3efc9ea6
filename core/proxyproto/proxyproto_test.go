package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var (
	v4src = netip.MustParseAddrPort("203.0.113.7:40000")
	v4dst = netip.MustParseAddrPort("192.0.2.1:443")
	v6src = netip.MustParseAddrPort("[2001:db8::7]:40000")
	v6dst = netip.MustParseAddrPort("[2001:db8::1]:443")
)

// v2 builds a version 2 header by hand: ver_cmd, fam, then body.
func v2(verCmd, fam byte, body ...byte) []byte {
	b := append([]byte(nil), sigV2...)
	b = append(b, verCmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func inet4Body() []byte {
	return []byte{203, 0, 113, 7, 192, 0, 2, 1, 0x9c, 0x40, 0x01, 0xbb}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		src, dst netip.AddrPort // zero: no addresses
		cmd      Command
		n        int // header length; 0: len(in)
	}{
		{name: "v1 tcp4", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", src: v4src, dst: v4dst, cmd: CmdProxy},
		{name: "v1 tcp6", in: "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n", src: v6src, dst: v6dst, cmd: CmdProxy},
		{name: "v1 tcp6 upper case", in: "PROXY TCP6 2001:DB8::7 2001:DB8::1 40000 443\r\n", src: v6src, dst: v6dst, cmd: CmdProxy},
		{name: "v1 port 0", in: "PROXY TCP4 203.0.113.7 192.0.2.1 0 65535\r\n",
			src: netip.MustParseAddrPort("203.0.113.7:0"), dst: netip.MustParseAddrPort("192.0.2.1:65535"), cmd: CmdProxy},
		{name: "v1 data follows", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET / HTTP/1.1\r\n\r\n", src: v4src, dst: v4dst, cmd: CmdProxy,
			n: len("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n")},
		{name: "v1 unknown short", in: "PROXY UNKNOWN\r\n", cmd: CmdProxy},
		{name: "v1 unknown long", in: "PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n", cmd: CmdProxy},
		{name: "v1 longest tcp6", in: "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
			src: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
			dst: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), cmd: CmdProxy},
		{name: "v2 tcp4", in: string(v2(0x21, 0x11, inet4Body()...)), src: v4src, dst: v4dst, cmd: CmdProxy},
		{name: "v2 tcp6", in: string(AppendV2(nil, v6src, v6dst)), src: v6src, dst: v6dst, cmd: CmdProxy},
		{name: "v2 local skips its block", in: string(v2(0x20, 0x11, inet4Body()...)), cmd: CmdLocal},
		{name: "v2 local empty", in: string(v2(0x20, 0x00)), cmd: CmdLocal},
		{name: "v2 unspec ignored", in: string(v2(0x21, 0x00, 1, 2, 3)), cmd: CmdProxy},
		{name: "v2 udp keeps real addresses", in: string(v2(0x21, 0x12, inet4Body()...)), cmd: CmdProxy},
		{name: "v2 unix keeps real addresses", in: string(v2(0x21, 0x31, make([]byte, 216)...)), cmd: CmdProxy},
		{name: "v2 with tlvs", in: string(AppendV2(nil, v4src, v4dst, TLV{TypeAuthority, []byte("app.test")}, TLV{Type: TypeCRC32C}, TLV{TypeNoop, nil})),
			src: v4src, dst: v4dst, cmd: CmdProxy},
		{name: "v2 data follows", in: string(v2(0x21, 0x11, inet4Body()...)) + "\x16\x03\x01", src: v4src, dst: v4dst, cmd: CmdProxy, n: 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tt.n
			if want == 0 {
				want = len(tt.in)
			}
			if n != want {
				t.Errorf("length %d, want %d", n, want)
			}
			if h.Src != tt.src || h.Dst != tt.dst {
				t.Errorf("addresses %v → %v, want %v → %v", h.Src, h.Dst, tt.src, tt.dst)
			}
			if h.HasAddrs() != tt.src.IsValid() {
				t.Errorf("HasAddrs %v", h.HasAddrs())
			}
			if h.Command != tt.cmd {
				t.Errorf("command %d, want %d", h.Command, tt.cmd)
			}
			// Every strict prefix is incomplete, never invalid.
			for i := range min(want, 200) {
				if _, _, err := Parse([]byte(tt.in[:i])); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("prefix of %d bytes: %v, want ErrIncomplete", i, err)
				}
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	withTLV := func(tlv ...byte) string { return string(v2(0x21, 0x11, append(inet4Body(), tlv...)...)) }
	badCRC := AppendV2(nil, v4src, v4dst, TLV{Type: TypeCRC32C})
	badCRC[len(badCRC)-1] ^= 1
	tests := []struct {
		name string
		in   string
	}{
		{name: "http request", in: "GET / HTTP/1.1\r\n\r\n"},
		{name: "tls client hello", in: "\x16\x03\x01\x00\xa5"},
		{name: "lower case", in: "proxy TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"},
		{name: "v1 no space", in: "PROXYTCP4 203.0.113.7 192.0.2.1 40000 443\r\n"},
		{name: "v1 two spaces", in: "PROXY TCP4  203.0.113.7 192.0.2.1 40000 443\r\n"},
		{name: "v1 tcp5", in: "PROXY TCP5 203.0.113.7 192.0.2.1 40000 443\r\n"},
		{name: "v1 unknownx", in: "PROXY UNKNOWNX\r\n"},
		{name: "v1 empty protocol", in: "PROXY \r\n"},
		{name: "v1 no addresses", in: "PROXY TCP4\r\n"},
		{name: "v1 missing port", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n"},
		{name: "v1 extra field", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443 1\r\n"},
		{name: "v1 trailing space", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443 \r\n"},
		{name: "v1 leading zero address", in: "PROXY TCP4 203.0.113.07 192.0.2.1 40000 443\r\n"},
		{name: "v1 leading zero port", in: "PROXY TCP4 203.0.113.7 192.0.2.1 040000 443\r\n"},
		{name: "v1 port too big", in: "PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n"},
		{name: "v1 negative port", in: "PROXY TCP4 203.0.113.7 192.0.2.1 -1 443\r\n"},
		{name: "v1 v6 in tcp4", in: "PROXY TCP4 2001:db8::7 192.0.2.1 40000 443\r\n"},
		{name: "v1 v4 in tcp6", in: "PROXY TCP6 203.0.113.7 2001:db8::1 40000 443\r\n"},
		{name: "v1 zone", in: "PROXY TCP6 fe80::1%eth0 2001:db8::1 40000 443\r\n"},
		{name: "v1 host name", in: "PROXY TCP4 localhost 192.0.2.1 40000 443\r\n"},
		{name: "v1 lf only", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\n"},
		{name: "v1 lone cr", in: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\rX"},
		{name: "v1 cr in unknown", in: "PROXY UNKNOWN a\rb\r\n"},
		{name: "v1 too long", in: "PROXY UNKNOWN " + strings.Repeat("f", 100)},
		{name: "v2 bad signature", in: "\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x00"},
		{name: "v2 version 1", in: string(v2(0x11, 0x11, inet4Body()...))},
		{name: "v2 version 3", in: string(v2(0x31, 0x11, inet4Body()...))},
		{name: "v2 command 2", in: string(v2(0x22, 0x11, inet4Body()...))},
		{name: "v2 family 4", in: string(v2(0x21, 0x41, inet4Body()...))},
		{name: "v2 transport 3", in: string(v2(0x21, 0x13, inet4Body()...))},
		{name: "v2 short inet block", in: string(v2(0x21, 0x11, inet4Body()[:11]...))},
		{name: "v2 short inet6 block", in: string(v2(0x21, 0x21, make([]byte, 35)...))},
		{name: "v2 short unix block", in: string(v2(0x21, 0x31, make([]byte, 215)...))},
		{name: "v2 truncated tlv", in: withTLV(0x04, 0x00)},
		{name: "v2 tlv overflows", in: withTLV(0x04, 0x00, 0x02, 0xff)},
		{name: "v2 crc wrong size", in: withTLV(TypeCRC32C, 0x00, 0x02, 0, 0)},
		{name: "v2 crc mismatch", in: string(badCRC)},
		{name: "v2 unique id too long", in: withTLV(append([]byte{TypeUniqueID, 0x00, 129}, make([]byte, 129)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid", tt.in, err)
			}
		})
	}
}

// TestParse_EarlyRefusal: a connection that cannot be speaking the
// protocol is refused on its first bytes, without waiting for more.
func TestParse_EarlyRefusal(t *testing.T) {
	for _, in := range []string{"G", "PROXZ", "\r\n\r\n\x01", "\x16", "PROXY TCP4 1.2.3.4\r1"} {
		if _, _, err := Parse([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestAppend_RoundTrip(t *testing.T) {
	mapped := netip.MustParseAddrPort("[::ffff:198.51.100.9]:8080")
	tests := []struct {
		name               string
		src, dst           netip.AddrPort
		wantSrc, wantDst   netip.AddrPort
		wantV1, wantPrefix string
	}{
		{name: "ipv4", src: v4src, dst: v4dst, wantSrc: v4src, wantDst: v4dst, wantV1: "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"},
		{name: "ipv6", src: v6src, dst: v6dst, wantSrc: v6src, wantDst: v6dst, wantV1: "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n"},
		{name: "mapped ipv4 is ipv4", src: mapped, dst: v4dst, wantSrc: netip.MustParseAddrPort("198.51.100.9:8080"), wantDst: v4dst,
			wantV1: "PROXY TCP4 198.51.100.9 192.0.2.1 8080 443\r\n"},
		{name: "mixed families go as ipv6", src: v4src, dst: v6dst,
			wantSrc: netip.MustParseAddrPort("[::ffff:203.0.113.7]:40000"), wantDst: v6dst,
			wantV1: "PROXY TCP6 ::ffff:203.0.113.7 2001:db8::1 40000 443\r\n"},
		{name: "unknown", wantV1: "PROXY UNKNOWN\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b1 := AppendV1([]byte("x"), tt.src, tt.dst)
			if string(b1[1:]) != tt.wantV1 {
				t.Errorf("AppendV1 = %q, want %q", b1[1:], tt.wantV1)
			}
			b2 := AppendV2([]byte("x"), tt.src, tt.dst, TLV{Type: TypeCRC32C}, TLV{TypeAuthority, []byte("a.test")})
			for _, b := range [][]byte{b1[1:], b2[1:]} {
				h, n, err := Parse(b)
				if err != nil || n != len(b) {
					t.Fatalf("Parse(%q) = %d, %v", b, n, err)
				}
				if h.Src != tt.wantSrc || h.Dst != tt.wantDst {
					t.Errorf("v%d: %v → %v, want %v → %v", h.Version, h.Src, h.Dst, tt.wantSrc, tt.wantDst)
				}
				if h.Version == 2 && tt.src.IsValid() {
					if v, ok := h.TLV(TypeAuthority); !ok || string(v) != "a.test" {
						t.Errorf("authority TLV %q %v", v, ok)
					}
				}
				if h.Version == 2 && !tt.src.IsValid() && h.Command != CmdLocal {
					t.Errorf("v2 without addresses must be LOCAL")
				}
			}
		})
	}
}

func TestParse_Allocs(t *testing.T) {
	v1 := []byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n")
	v2b := AppendV2(nil, v4src, v4dst, TLV{Type: TypeCRC32C})
	out := make([]byte, 0, 128)
	n := testing.AllocsPerRun(100, func() {
		Parse(v2b)
		out = AppendV1(out[:0], v6src, v6dst)
		out = AppendV2(out[:0], v4src, v4dst)
	})
	if n != 0 {
		t.Errorf("v2 parse and appends allocate %v times", n)
	}
	// v1 converts each address to a string for netip: two small
	// allocations per connection at most.
	if n := testing.AllocsPerRun(100, func() { Parse(v1) }); n > 2 {
		t.Errorf("v1 parse allocates %v times", n)
	}
	if !bytes.Equal(out[:12], sigV2) {
		t.Fatal("signature")
	}
}
