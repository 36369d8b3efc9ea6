package fetch

import (
	"net/netip"
	"testing"

	"github.com/strata-proxy/strata/core/sample"
)

func TestMatcher_Match(t *testing.T) {
	str := func(s string) sample.Value { return sample.Str([]byte(s)) }
	ip := func(s string) sample.Value { return sample.IP(netip.MustParseAddr(s)) }
	tests := []struct {
		name     string
		method   MatchMethod
		icase    bool
		patterns []string
		in       sample.Value
		want     bool
		wantErr  bool
	}{
		{name: "str", method: MatchStr, patterns: []string{"a", "b"}, in: str("b"), want: true},
		{name: "str case", method: MatchStr, patterns: []string{"abc"}, in: str("ABC"), want: false},
		{name: "str -i", method: MatchStr, icase: true, patterns: []string{"aBc"}, in: str("AbC"), want: true},
		{name: "str -i long", method: MatchStr, icase: true, patterns: []string{string(make([]byte, 300)) + "X"}, in: str(string(make([]byte, 300)) + "x"), want: true},
		{name: "str from int", method: MatchStr, patterns: []string{"42"}, in: sample.Int(42), want: true},
		{name: "beg", method: MatchBeg, patterns: []string{"/api/"}, in: str("/api/x"), want: true},
		{name: "beg -i", method: MatchBeg, icase: true, patterns: []string{"/API/"}, in: str("/api/x"), want: true},
		{name: "beg no", method: MatchBeg, patterns: []string{"/api/"}, in: str("/ap"), want: false},
		{name: "end", method: MatchEnd, patterns: []string{".png", ".jpg"}, in: str("/a.jpg"), want: true},
		{name: "end -i", method: MatchEnd, icase: true, patterns: []string{".PNG"}, in: str("/a.png"), want: true},
		{name: "sub", method: MatchSub, patterns: []string{"adm"}, in: str("/x/admin"), want: true},
		{name: "sub -i", method: MatchSub, icase: true, patterns: []string{"ADM"}, in: str("/x/admin"), want: true},
		{name: "reg", method: MatchReg, patterns: []string{`^/img/.*\.png$`}, in: str("/img/a.png"), want: true},
		{name: "reg -i", method: MatchReg, icase: true, patterns: []string{`^/IMG/`}, in: str("/img/a"), want: true},
		{name: "reg bad", method: MatchReg, patterns: []string{`(`}, wantErr: true},
		{name: "dir", method: MatchDir, patterns: []string{"images/png"}, in: str("/images/png/logo/32x32.png"), want: true},
		{name: "dir partial word", method: MatchDir, patterns: []string{"png"}, in: str("/images/png/logo/32x32.png"), want: true},
		{name: "dir no", method: MatchDir, patterns: []string{"32x32"}, in: str("/images/png/logo/32x32.png"), want: false},
		{name: "dir slash only", method: MatchDir, patterns: []string{"/"}, in: str("/a/"), want: false},
		{name: "dom", method: MatchDom, patterns: []string{"com:80"}, in: str("http://www1.dc-eu.example.com:80/blah"), want: true},
		// HAProxy's manual lists this one as matching, but HAProxy 2.6 does
		// not match it (the words are not contiguous), and neither do we.
		{name: "dom not contiguous", method: MatchDom, patterns: []string{"dc-eu.example:80"}, in: str("http://www1.dc-eu.example.com:80/blah"), want: false},
		{name: "dom www1", method: MatchDom, patterns: []string{":www1:"}, in: str("http://www1.dc-eu.example.com:80/blah"), want: true},
		{name: "dom not eu", method: MatchDom, patterns: []string{"eu"}, in: str("http://www1.dc-eu.example.com:80/blah"), want: false},
		{name: "dom -i", method: MatchDom, icase: true, patterns: []string{"EXAMPLE.com"}, in: str("api.example.com"), want: true},
		{name: "len", method: MatchLen, patterns: []string{"3"}, in: str("abc"), want: true},
		{name: "len gt", method: MatchLen, patterns: []string{"gt", "3"}, in: str("abc"), want: false},
		{name: "int eq", method: MatchInt, patterns: []string{"5"}, in: sample.Int(5), want: true},
		{name: "int range", method: MatchInt, patterns: []string{"1024:65535"}, in: sample.Int(8080), want: true},
		{name: "int open range", method: MatchInt, patterns: []string{":1023"}, in: sample.Int(8080), want: false},
		{name: "int gt", method: MatchInt, patterns: []string{"gt", "100"}, in: sample.Int(101), want: true},
		{name: "int gt edge", method: MatchInt, patterns: []string{"gt", "100"}, in: sample.Int(100), want: false},
		{name: "int ge", method: MatchInt, patterns: []string{"ge", "100"}, in: sample.Int(100), want: true},
		{name: "int lt negative", method: MatchInt, patterns: []string{"lt", "0"}, in: sample.Int(-1), want: true},
		{name: "int le", method: MatchInt, patterns: []string{"le", "3"}, in: sample.Int(4), want: false},
		{name: "int operator persists", method: MatchInt, patterns: []string{"gt", "10", "20"}, in: sample.Int(15), want: true},
		{name: "int from str", method: MatchInt, patterns: []string{"42"}, in: str("42abc"), want: true},
		{name: "int from bool", method: MatchInt, patterns: []string{"1"}, in: sample.Bool(true), want: true},
		{name: "int bad", method: MatchInt, patterns: []string{"x"}, wantErr: true},
		{name: "int dangling operator", method: MatchInt, patterns: []string{"gt"}, wantErr: true},
		{name: "ip cidr", method: MatchIP, patterns: []string{"10.0.0.0/8"}, in: ip("10.1.2.3"), want: true},
		{name: "ip dotted mask", method: MatchIP, patterns: []string{"10.0.0.0/255.0.0.0"}, in: ip("10.1.2.3"), want: true},
		{name: "ip abbreviated", method: MatchIP, patterns: []string{"127.1"}, in: ip("127.0.0.1"), want: true},
		{name: "ip v4 pattern, v4-mapped sample", method: MatchIP, patterns: []string{"10.0.0.0/8"}, in: ip("::ffff:10.9.9.9"), want: true},
		{name: "ip v4 pattern, 6to4 sample", method: MatchIP, patterns: []string{"10.0.0.0/8"}, in: ip("2002:0a01:0203::1"), want: true},
		{name: "ip v6 pattern, v4 sample", method: MatchIP, patterns: []string{"::ffff:10.0.0.0/104"}, in: ip("10.2.3.4"), want: true},
		{name: "ip v6", method: MatchIP, patterns: []string{"2001:db8::/32"}, in: ip("2001:db8::1"), want: true},
		{name: "ip v6 no", method: MatchIP, patterns: []string{"2001:db8::/32"}, in: ip("2001:db9::1"), want: false},
		{name: "ip localhost v6", method: MatchIP, patterns: []string{"127.0.0.1/8", "::1"}, in: ip("::1"), want: true},
		{name: "ip from str", method: MatchIP, patterns: []string{"10.0.0.0/8"}, in: str("10.0.0.1"), want: true},
		{name: "ip str not address", method: MatchIP, patterns: []string{"10.0.0.0/8"}, in: str("ten"), want: false},
		{name: "ip hostname", method: MatchIP, patterns: []string{"localhost"}, wantErr: true},
		{name: "bin", method: MatchBin, patterns: []string{"48656c6c6f0a"}, in: sample.Bin([]byte("Hello\n")), want: true},
		{name: "bin odd", method: MatchBin, patterns: []string{"486"}, wantErr: true},
		{name: "bool true", method: MatchBool, in: sample.Bool(true), want: true},
		{name: "bool int zero", method: MatchBool, in: sample.Int(0), want: false},
		{name: "bool with pattern", method: MatchBool, patterns: []string{"x"}, wantErr: true},
		{name: "found", method: MatchFound, in: str(""), want: true},
		{name: "none never matches", method: MatchFound, in: sample.Value{}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMatcher(tc.method, tc.patterns, tc.icase)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewMatcher succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ctx Ctx
			if got := m.Match(&ctx, tc.in); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []string{
		"1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:0:0:0:1",
		"::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "fe80::1:2",
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1", "1:", "::1.2.3", "x::",
		"1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7:8", "12345::", "1.2.3.4:80", "[::1]",
	}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			want, werr := netip.ParseAddr(s)
			got, ok := ParseAddr([]byte(s))
			if ok != (werr == nil) || ok && got != want {
				t.Errorf("ParseAddr(%q) = %v %v, want %v %v", s, got, ok, want, werr)
			}
		})
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "2001:db8::1.2.3.4", "1:2:3:4:5:6:7:8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := netip.ParseAddr(s)
		if werr == nil && want.Zone() != "" {
			return
		}
		got, ok := ParseAddr([]byte(s))
		if ok != (werr == nil) || ok && got != want {
			t.Errorf("ParseAddr(%q) = %v %v, want %v %v", s, got, ok, want, werr)
		}
	})
}

func TestCast(t *testing.T) {
	tests := []struct {
		name string
		in   sample.Value
		to   sample.Type
		want string
		ok   bool
	}{
		{"bool to int", sample.Bool(true), sample.TypeInt, "1", true},
		{"bool to str", sample.Bool(false), sample.TypeStr, "0", true},
		{"int to str", sample.Int(-7), sample.TypeStr, "-7", true},
		{"int to ip", sample.Int(0x0a000001), sample.TypeIP, "10.0.0.1", true},
		{"ip to str", sample.IP(netip.MustParseAddr("2001:db8::1")), sample.TypeStr, "2001:db8::1", true},
		{"ip to int v6", sample.IP(netip.MustParseAddr("2001:db8::1")), sample.TypeInt, "", false},
		{"str to int prefix", sample.Str([]byte("12abc")), sample.TypeInt, "12", true},
		{"str to int letters", sample.Str([]byte("abc")), sample.TypeInt, "0", true},
		{"str to int sign", sample.Str([]byte("-5x")), sample.TypeInt, "-5", true},
		{"str to int empty", sample.Str(nil), sample.TypeInt, "", false},
		{"str to ip", sample.Str([]byte("10.0.0.1")), sample.TypeIP, "10.0.0.1", true},
		{"str to ip bad", sample.Str([]byte("10.0.0")), sample.TypeIP, "", false},
		{"bin to str", sample.Bin([]byte("abc")), sample.TypeStr, "abc", true},
		{"bin to int", sample.Bin([]byte("1")), sample.TypeInt, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ctx Ctx
			v, ok := Cast(&ctx, tc.in, tc.to)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (v.String() != tc.want || v.Type != tc.to) {
				t.Errorf("Cast = %q (%s), want %q (%s)", v.String(), v.Type, tc.want, tc.to)
			}
			if ok != CanCast(tc.in.Type, tc.to) && ok {
				t.Errorf("CanCast(%s, %s) disagrees", tc.in.Type, tc.to)
			}
		})
	}
}
