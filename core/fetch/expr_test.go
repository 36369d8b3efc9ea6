package fetch

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

func TestRegistry_ParseExpr(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		opts    ParseOptions
		out     sample.Type
		fetch   string
		wantErr string
		is      error
	}{
		{name: "bare fetch", src: "path", out: sample.TypeStr, fetch: "path"},
		{name: "spaces trimmed", src: "  path  ", out: sample.TypeStr, fetch: "path"},
		{name: "args and converters", src: "req.hdr(host),lower,length", out: sample.TypeInt, fetch: "req.hdr"},
		{name: "empty parens", src: "req.hdr()", out: sample.TypeStr, fetch: "req.hdr"},
		{name: "quoted arg", src: `str("a,b")`, out: sample.TypeStr, fetch: "str"},
		{name: "single quoted arg", src: `str('a)b')`, out: sample.TypeStr, fetch: "str"},
		{name: "hdr follows direction", src: "hdr(server)", opts: ParseOptions{Response: true}, fetch: "res.hdr"},
		{name: "map with dir", src: "req.hdr(host),map(hosts.map,none)", opts: ParseOptions{Dir: "testdata"}, out: sample.TypeStr},
		{name: "empty", src: "  ", wantErr: "empty expression", is: ErrSyntax},
		{name: "unknown fetch suggests", src: "req.hdrx(host)", wantErr: `unknown fetch "req.hdrx"; did you mean req.hdr?`, is: ErrUnknownFetch},
		{name: "unknown fetch", src: "zzzzzzzz", wantErr: `unknown fetch "zzzzzzzz"`, is: ErrUnknownFetch},
		{name: "unknown converter suggests", src: "path,lowr", wantErr: `unknown converter "lowr"; did you mean lower?`, is: ErrUnknownConverter},
		{name: "fetch used as converter", src: "path,src", wantErr: "src is a fetch", is: ErrUnknownConverter},
		{name: "too many args", src: "req.hdr(a,1,2)", wantErr: "fetch req.hdr takes 0 to 2 arguments, got 3", is: ErrArgs},
		{name: "missing args", src: "req.payload(1)", wantErr: "fetch req.payload takes 2 arguments, got 1", is: ErrArgs},
		{name: "no args allowed", src: "src(1)", wantErr: "fetch src takes no arguments, got 1", is: ErrArgs},
		{name: "int arg", src: "req.hdr(host,x)", wantErr: `argument 2: "x" is not an integer`, is: ErrArgs},
		{name: "check fails", src: "req.payload(-1,2)", wantErr: "fetch req.payload: bad argument: offset and length must not be negative", is: ErrArgs},
		{name: "var scope", src: "var(foo.x)", wantErr: `unknown scope "foo"`, is: ErrArgs},
		{name: "missing paren", src: "req.hdr(host", wantErr: "missing ')'", is: ErrSyntax},
		{name: "junk after", src: "path x", wantErr: `unexpected " x" after path`, is: ErrSyntax},
		{name: "trailing comma", src: "path,", wantErr: "ends where a name is expected", is: ErrSyntax},
		{name: "str cast to ip", src: "path,ipmask(24)", out: sample.TypeIP},
		{name: "impossible cast", src: "req.payload(0,1),ipmask(24)", wantErr: "converter ipmask takes ip, but req.payload gives bin", is: ErrType},
		{name: "map file missing", src: "path,map(nope.map)", opts: ParseOptions{Dir: "testdata"}, wantErr: "converter map: open testdata/nope.map: no such file or directory"},
		{name: "map bad int", src: "path,map_str_int(bad_int.map)", opts: ParseOptions{Dir: "testdata"}, wantErr: `key "a": value "notanumber" is not an integer`, is: ErrMapFile},
		{name: "map bad default", src: "path,map_str_int(hosts.map,x)", opts: ParseOptions{Dir: "testdata"}, wantErr: "is not an integer"},
		{name: "map not regular", src: "path,map(.)", opts: ParseOptions{Dir: "testdata"}, wantErr: "not a regular file", is: ErrMapFile},
		{name: "ipmask bad", src: "src,ipmask(33)", wantErr: "want 0 to 32 bits", is: ErrArgs},
		{name: "json bad mode", src: "path,json(utf9)", wantErr: `input code "utf9"`, is: ErrArgs},
		{name: "url_param delim", src: "url_param(a,ab)", wantErr: "single character", is: ErrArgs},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.src, tc.opts)
			if tc.wantErr != "" || tc.is != nil {
				if err == nil {
					t.Fatalf("ParseExpr(%q) succeeded, want error %q", tc.src, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %q is not %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.src, err)
			}
			if tc.out != sample.TypeNone && e.Out() != tc.out {
				t.Errorf("Out = %s, want %s", e.Out(), tc.out)
			}
			if tc.fetch != "" && e.FetchName() != tc.fetch {
				t.Errorf("FetchName = %s, want %s", e.FetchName(), tc.fetch)
			}
			if e.String() != strings.TrimSpace(tc.src) {
				t.Errorf("String = %q", e.String())
			}
		})
	}
}

func TestRegistry_Register(t *testing.T) {
	r := NewRegistry()
	fn := func(*Ctx, []Arg) (sample.Value, bool) { return sample.Int(1), true }
	if err := r.RegisterFetch(Fetch{Name: "src", Fn: fn}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate fetch: err = %v", err)
	}
	if err := r.RegisterFetch(Fetch{Name: "bad name", Fn: fn}); err == nil {
		t.Error("bad name accepted")
	}
	if err := r.RegisterFetch(Fetch{Name: "nofn"}); err == nil {
		t.Error("fetch without function accepted")
	}
	if err := r.RegisterConverter(Converter{Name: "lower", Fn: convLower}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate converter: err = %v", err)
	}

	// A clone takes registrations without changing the original.
	c := r.Clone()
	if err := c.RegisterFetch(Fetch{Name: "waf.score", Needs: abi.LayerTxn, Out: sample.TypeInt, Fn: fn}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Fetch("waf.score"); ok {
		t.Error("clone registration leaked into the original")
	}
	e, err := c.ParseExpr("waf.score", ParseOptions{})
	if err != nil || e.Needs() != abi.LayerTxn {
		t.Fatalf("plugin fetch: %v", err)
	}

	// Families resolve on demand.
	c.RegisterResolver(func(name string) (*Fetch, bool) {
		if !strings.HasPrefix(name, "sc0_") {
			return nil, false
		}
		return &Fetch{Name: name, Needs: abi.LayerSess, Out: sample.TypeInt, Fn: fn}, true
	})
	e, err = c.ParseExpr("sc0_http_req_rate", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.FetchName() != "sc0_http_req_rate" || e.Needs() != abi.LayerSess {
		t.Errorf("resolved %s needing %s", e.FetchName(), e.Needs())
	}
	if _, err := r.ParseExpr("sc0_http_req_rate", ParseOptions{}); !errors.Is(err, ErrUnknownFetch) {
		t.Errorf("resolver leaked into the original: %v", err)
	}

	// A plugin converter without Compile gets its args as state.
	if err := c.RegisterConverter(Converter{Name: "suffix", MinArgs: 1, MaxArgs: 1, In: sample.TypeStr, Out: sample.TypeStr,
		Fn: func(ctx *Ctx, st any, in sample.Value) (sample.Value, bool) {
			s := st.([]Arg)[0].Bytes
			out := ctx.Scratch(len(in.Bytes) + len(s))
			copy(out, in.Bytes)
			copy(out[len(in.Bytes):], s)
			return sample.Str(out), true
		}}); err != nil {
		t.Fatal(err)
	}
	e, err = c.ParseExpr("path,suffix(!)", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := e.Eval(testCtx(defaultReq())); !ok || v.String() != "/a/b.png!" {
		t.Errorf("suffix = %q %v", v.String(), ok)
	}
}

func TestCtx_Scratch(t *testing.T) {
	var c Ctx
	a := c.Scratch(10)
	copy(a, "0123456789")
	if cap(a) != 10 {
		t.Errorf("cap = %d, want 10", cap(a))
	}
	b := c.Scratch(1 << 16) // forces a new arena
	b[0] = 'x'
	if string(a) != "0123456789" {
		t.Errorf("earlier result changed: %q", a)
	}
	c.ResetScratch()
	d := c.Scratch(100)
	if &d[0] != &b[0] {
		t.Error("arena not reused after reset")
	}
	if allocs := testing.AllocsPerRun(100, func() { c.ResetScratch(); c.Scratch(1000) }); allocs != 0 {
		t.Errorf("Scratch allocates %v times", allocs)
	}
	buf := c.Buf()
	buf = append(buf, make([]byte, 5000)...)
	c.PutBuf(buf)
	if cap(c.Buf()) < 5000 {
		t.Error("Buf storage not kept")
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"req.hdr", "res.hdr", "path", "path_beg"}
	tests := []struct{ name, in, want string }{
		{"one typo", "req.hdrx", "req.hdr"},
		{"swap", "ptah", "path"},
		{"too far", "zzzzzz", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Suggest(tc.in, cands); got != tc.want {
				t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"req.hdr(host),lower", `str("a\"b",x)`, "var(txn.x,d)", "path,map(hosts.map,d)", "url_param(a,;)", "req.payload(0,0),hex"} {
		f.Add(s)
	}
	r := NewRegistry()
	f.Fuzz(func(t *testing.T, src string) {
		e, err := r.ParseExpr(src, ParseOptions{Dir: "testdata", Maps: NewMapCache()})
		if err != nil {
			return
		}
		ctx := testCtx(defaultReq())
		e.Eval(ctx)
		var cur uint64
		for i := 0; i < 64; i++ {
			_, next, _, more := e.EvalNext(ctx, cur)
			if !more {
				break
			}
			cur = next
		}
	})
}
