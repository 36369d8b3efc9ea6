package fetch

import (
	"net/netip"
	"testing"

	"github.com/strata-proxy/strata/core/sample"
)

// setJ sets X-J to a string that needs escaping.
func setJ(c *Ctx) { c.Txn.Req.Fields = fields(`X-J: a"b\/é`) }

func TestConverters(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		setup  func(*Ctx)
		want   string
		typ    sample.Type
		absent bool
	}{
		{name: "lower", expr: "hdr(host),lower", want: "www.example.com", typ: sample.TypeStr},
		{name: "lower unchanged", expr: "path,lower", want: "/a/b.png"},
		{name: "upper", expr: "hdr(host),upper", want: "WWW.EXAMPLE.COM"},
		{name: "length", expr: "hdr(host),length", want: "15", typ: sample.TypeInt},
		{name: "len alias", expr: "path,len", want: "8"},
		{name: "len of int cast", expr: "int(12345),len", want: "5"},
		{name: "ipmask v4 bits", expr: "src,ipmask(24)", want: "192.0.2.0", typ: sample.TypeIP},
		{name: "ipmask v4 dotted", expr: "src,ipmask(255.255.0.0)", want: "192.0.0.0"},
		{name: "ipmask v6 without mask6", expr: "src,ipmask(24)", setup: func(c *Ctx) {
			c.Conn.Src = netip.MustParseAddrPort("[2001:db8:1:2::5]:1")
		}, absent: true},
		{name: "ipmask v6", expr: "src,ipmask(24,48)", setup: func(c *Ctx) {
			c.Conn.Src = netip.MustParseAddrPort("[2001:db8:1:2::5]:1")
		}, want: "2001:db8:1::"},
		{name: "ipmask str input", expr: "str(10.9.8.7),ipmask(8)", want: "10.0.0.0"},
		{name: "ipmask bad str input", expr: "str(nope),ipmask(8)", absent: true},
		{name: "base64", expr: "hdr(x-j),base64", setup: setJ, want: "YSJiXC/DqQ=="},
		{name: "hex", expr: "hdr(x-j),hex", setup: setJ, want: "6122625C2FC3A9"},
		{name: "json ascii", expr: "hdr(x-j),json", setup: setJ, want: `a\"b\\\/\u00c3\u00a9`},
		{name: "json utf8", expr: "hdr(x-j),json(utf8)", setup: setJ, want: `a\"b\\\/\u00e9`},
		{name: "json controls", expr: "hdr(x-ctl),json", setup: func(c *Ctx) {
			c.Txn.Req.Fields = fields("X-Ctl: a\tb\x01\x7f")
		}, want: `a\tb\u0001\u007f`},
		{name: "json utf8 invalid fails", expr: "hdr(x-bad),json(utf8)", setup: func(c *Ctx) {
			c.Txn.Req.Fields = fields("X-Bad: a\xffb")
		}, absent: true},
		{name: "json utf8s drops invalid", expr: "hdr(x-bad),json(utf8s)", setup: func(c *Ctx) {
			c.Txn.Req.Fields = fields("X-Bad: a\xffb")
		}, want: "ab"},
		{name: "int to str cast", expr: "int(42),upper", want: "42"},
		{name: "str to int cast", expr: "hdr(x-n),map_int(testdata/ports.map)", setup: func(c *Ctx) {
			c.Txn.Req.Fields = fields("X-N: 443")
		}, want: "20"},
		{name: "chain keeps earlier results", expr: "hdr(host),upper,lower,upper", want: "WWW.EXAMPLE.COM"},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.expr, ParseOptions{})
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.expr, err)
			}
			ctx := testCtx(defaultReq())
			if tc.setup != nil {
				tc.setup(ctx)
			}
			v, ok := e.Eval(ctx)
			if tc.absent {
				if ok {
					t.Fatalf("Eval = %q, want no sample", v.String())
				}
				return
			}
			if !ok {
				t.Fatalf("no sample, want %q", tc.want)
			}
			if v.String() != tc.want {
				t.Errorf("Eval = %q, want %q", v.String(), tc.want)
			}
			if tc.typ != sample.TypeNone && v.Type != tc.typ {
				t.Errorf("type = %s, want %s", v.Type, tc.typ)
			}
		})
	}
}

func TestConverters_Map(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		input  string // value of X-In
		want   string
		absent bool
	}{
		{name: "map exact", expr: "map(hosts.map)", input: "www.example.com", want: "be_www"},
		{name: "map trims key and value", expr: "map(hosts.map)", input: "api.example.com", want: "be_api"},
		{name: "map miss no default", expr: "map(hosts.map)", input: "nope", absent: true},
		{name: "map default", expr: "map(hosts.map,be_default)", input: "nope", want: "be_default"},
		{name: "map_str is case-sensitive", expr: "map_str(hosts.map,dflt)", input: "WWW.example.com", want: "dflt"},
		{name: "map_beg longest prefix", expr: "map_beg(paths.map)", input: "/api/v1/users", want: "v1"},
		{name: "map_beg shorter", expr: "map_beg(paths.map)", input: "/api/v2", want: "api"},
		{name: "map_beg root", expr: "map_beg(paths.map)", input: "/x", want: "root"},
		{name: "map_sub", expr: "map_sub(paths.map)", input: "x/api/y", want: "api"},
		{name: "map_end", expr: "map_end(domains.map)", input: "www.example.com", want: "ex"},
		{name: "map_dom", expr: "map_dom(domains.map)", input: "a.test.org", want: "tst"},
		{name: "map_dom word only", expr: "map_dom(domains.map,no)", input: "a.testing.org", want: "no"},
		{name: "map_dir", expr: "map_dir(paths.map,no)", input: "/x/api/", want: "api"},
		{name: "map_reg first match", expr: "map_reg(regex.map)", input: "/img/a.png", want: "png"},
		{name: "map_reg second", expr: "map_reg(regex.map)", input: "/img/a.gif", want: "img"},
		{name: "map_ip longest", expr: "map_ip(nets.map)", input: "10.1.2.3", want: "lab"},
		{name: "map_ip wider", expr: "map_ip(nets.map)", input: "10.2.2.3", want: "internal"},
		{name: "map_ip host", expr: "map_ip(nets.map)", input: "192.0.2.7", want: "single"},
		{name: "map_ip v6", expr: "map_ip(nets.map)", input: "2001:db8::9", want: "doc6"},
		{name: "map_ip v4-mapped", expr: "map_ip(nets.map)", input: "::ffff:10.1.0.1", want: "lab"},
		{name: "map_ip not an address", expr: "map_ip(nets.map,x)", input: "hello", absent: true},
		{name: "map_int", expr: "map_int(ports.map)", input: "80", want: "10"},
		{name: "map_int range", expr: "map_int(ports.map)", input: "8080", want: "30"},
		{name: "map_str_int", expr: "map_int_int(ports.map)", input: "443", want: "20"},
	}
	r := NewRegistry()
	cache := NewMapCache()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr("req.hdr(x-in),"+tc.expr, ParseOptions{Dir: "testdata", Maps: cache})
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(newRequest("GET", "/", "X-In: "+tc.input))
			v, ok := e.Eval(ctx)
			if tc.absent {
				if ok {
					t.Fatalf("got %q, want no sample", v.String())
				}
				return
			}
			if !ok || v.String() != tc.want {
				t.Errorf("got %q (%v), want %q", v.String(), ok, tc.want)
			}
		})
	}
}

func TestMapCache_Shared(t *testing.T) {
	r := NewRegistry()
	cache := NewMapCache()
	e1, err := r.ParseExpr("path,map(hosts.map)", ParseOptions{Dir: "testdata", Maps: cache})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := r.ParseExpr("hdr(host),map(testdata/hosts.map,x)", ParseOptions{Maps: cache})
	if err != nil {
		t.Fatal(err)
	}
	s1 := e1.convs[0].state.(*mapState)
	s2 := e2.convs[0].state.(*mapState)
	if s1.ix != s2.ix {
		t.Error("two uses of one map file built two indexes")
	}
	if len(cache.files) != 1 {
		t.Errorf("cache holds %d files, want 1", len(cache.files))
	}
	lines, err := cache.Patterns("testdata/hosts.map")
	if err != nil || len(lines) != 4 {
		t.Errorf("Patterns = %q, %v", lines, err)
	}
}
