package stick

import (
	"errors"
	"testing"
	"time"
)

func TestParseStore(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want DataSpec
		err  error
	}{
		{name: "counter", spec: "conn_cur", want: DataSpec{Type: DataConnCur, N: 1}},
		{name: "conn_cnt", spec: "conn_cnt", want: DataSpec{Type: DataConnCnt, N: 1}},
		{name: "rate seconds", spec: "conn_rate(10s)", want: DataSpec{Type: DataConnRate, N: 1, Period: 10 * time.Second}},
		{name: "rate bare ms", spec: "http_req_rate(1500)", want: DataSpec{Type: DataHTTPReqRate, N: 1, Period: 1500 * time.Millisecond}},
		{name: "rate minutes", spec: "sess_rate(1m)", want: DataSpec{Type: DataSessRate, N: 1, Period: time.Minute}},
		{name: "rate hours", spec: "http_err_rate(2h)", want: DataSpec{Type: DataHTTPErrRate, N: 1, Period: 2 * time.Hour}},
		{name: "rate days", spec: "bytes_in_rate(1d)", want: DataSpec{Type: DataBytesInRate, N: 1, Period: 24 * time.Hour}},
		{name: "rate us rounded up", spec: "bytes_out_rate(1500us)", want: DataSpec{Type: DataBytesOutRate, N: 1, Period: 2 * time.Millisecond}},
		{name: "gpc array", spec: "gpc(2)", want: DataSpec{Type: DataGPC, N: 2}},
		{name: "gpt array", spec: "gpt(1)", want: DataSpec{Type: DataGPT, N: 1}},
		{name: "gpc_rate array", spec: "gpc_rate(2,10s)", want: DataSpec{Type: DataGPCRate, N: 2, Period: 10 * time.Second}},
		{name: "spaces", spec: " gpc_rate( 3 , 1s ) ", want: DataSpec{Type: DataGPCRate, N: 3, Period: time.Second}},
		{name: "legacy gpc0", spec: "gpc0", want: DataSpec{Type: DataGPC0, N: 1}},
		{name: "legacy gpc1", spec: "gpc1", want: DataSpec{Type: DataGPC1, N: 1}},
		{name: "legacy gpt0", spec: "gpt0", want: DataSpec{Type: DataGPT0, N: 1}},
		{name: "legacy gpc0_rate", spec: "gpc0_rate(30s)", want: DataSpec{Type: DataGPC0Rate, N: 1, Period: 30 * time.Second}},
		{name: "legacy gpc1_rate", spec: "gpc1_rate(30s)", want: DataSpec{Type: DataGPC1Rate, N: 1, Period: 30 * time.Second}},
		{name: "server_id", spec: "server_id", want: DataSpec{Type: DataServerID, N: 1}},
		{name: "http_fail_rate", spec: "http_fail_rate(5s)", want: DataSpec{Type: DataHTTPFailRate, N: 1, Period: 5 * time.Second}},
		{name: "bytes_out_cnt", spec: "bytes_out_cnt", want: DataSpec{Type: DataBytesOutCnt, N: 1}},

		{name: "unknown", spec: "conn_max", err: ErrDataType},
		{name: "rate without period", spec: "conn_rate", err: ErrDataArg},
		{name: "rate empty period", spec: "conn_rate()", err: ErrDataArg},
		{name: "counter with arg", spec: "conn_cur(1)", err: ErrDataArg},
		{name: "array without size", spec: "gpc", err: ErrDataArg},
		{name: "array size zero", spec: "gpc(0)", err: ErrDataArg},
		{name: "array size too big", spec: "gpc(101)", err: ErrDataArg},
		{name: "gpc_rate without period", spec: "gpc_rate(2)", err: ErrDataArg},
		{name: "gpc with period", spec: "gpc(2,10s)", err: ErrDataArg},
		{name: "bad unit", spec: "conn_rate(10x)", err: ErrDataArg},
		{name: "zero period", spec: "conn_rate(0)", err: ErrDataArg},
		{name: "too long period", spec: "conn_rate(25d)", err: ErrDataArg},
		{name: "no closing parenthesis", spec: "conn_rate(10s", err: ErrDataArg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStore(tt.spec)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseStore(%q) error = %v, want %v", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStore(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Fatalf("ParseStore(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
			// The canonical form parses back to the same spec.
			again, err := ParseStore(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q -> %q -> %+v, %v", tt.spec, got.String(), again, err)
			}
		})
	}
}

func TestParseStores(t *testing.T) {
	tests := []struct {
		name string
		list string
		want []DataSpec
		fail bool
	}{
		{name: "one", list: "conn_cur", want: []DataSpec{{Type: DataConnCur, N: 1}}},
		{name: "commas inside parentheses", list: "conn_cur,gpc_rate(2,10s),http_req_rate(10s)", want: []DataSpec{
			{Type: DataConnCur, N: 1},
			{Type: DataGPCRate, N: 2, Period: 10 * time.Second},
			{Type: DataHTTPReqRate, N: 1, Period: 10 * time.Second},
		}},
		{name: "empty item", list: "conn_cur,,conn_cnt", fail: true},
		{name: "bad item", list: "conn_cur,nope", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStores(tt.list)
			if tt.fail {
				if err == nil {
					t.Fatalf("ParseStores(%q) = %v, want an error", tt.list, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("item %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func mustStores(t testing.TB, list string) []DataSpec {
	t.Helper()
	s, err := ParseStores(list)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDef_Validate(t *testing.T) {
	base := Def{Name: "t", Key: KeyIP, Size: 10, Expire: time.Minute}
	tests := []struct {
		name  string
		edit  func(*Def)
		store string
		ok    bool
	}{
		{name: "valid", store: "conn_cur,conn_rate(10s)", ok: true},
		{name: "no store", ok: true},
		{name: "no name", edit: func(d *Def) { d.Name = "" }},
		{name: "no key type", edit: func(d *Def) { d.Key = 0 }},
		{name: "len on ip", edit: func(d *Def) { d.KeyLen = 4 }},
		{name: "string len", edit: func(d *Def) { d.Key, d.KeyLen = KeyString, 64 }, ok: true},
		{name: "zero size", edit: func(d *Def) { d.Size = 0 }},
		{name: "negative expire", edit: func(d *Def) { d.Expire = -time.Second }},
		{name: "sub-ms expire", edit: func(d *Def) { d.Expire = 1500 * time.Microsecond }},
		{name: "no expire", edit: func(d *Def) { d.Expire = 0 }, ok: true},
		{name: "duplicate", store: "conn_cur,conn_cur"},
		{name: "gpc with gpc0", store: "gpc(2),gpc0"},
		{name: "gpc with gpc1", store: "gpc(2),gpc1"},
		{name: "gpt with gpt0", store: "gpt(1),gpt0"},
		{name: "gpc_rate with gpc1_rate", store: "gpc_rate(2,1s),gpc1_rate(1s)"},
		{name: "gpc0 with gpc_rate", store: "gpc0,gpc_rate(2,1s)", ok: true},
		{name: "hand-made bad period", edit: func(d *Def) {
			d.Store = []DataSpec{{Type: DataConnRate, Period: 0}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base
			if tt.store != "" {
				d.Store = mustStores(t, tt.store)
			}
			if tt.edit != nil {
				tt.edit(&d)
			}
			err := d.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrDef) {
				t.Fatalf("error %v does not wrap ErrDef", err)
			}
		})
	}
}

func TestDef_Equal(t *testing.T) {
	a := Def{Name: "t", Key: KeyString, Size: 10, Expire: time.Minute,
		Store: []DataSpec{{Type: DataConnCur}, {Type: DataHTTPReqRate, N: 1, Period: 10 * time.Second}}}
	tests := []struct {
		name string
		edit func(*Def)
		want bool
	}{
		{name: "same", want: true},
		{name: "default key len spelled out", edit: func(d *Def) { d.KeyLen = DefaultKeyLen }, want: true},
		{name: "store order", edit: func(d *Def) { d.Store = []DataSpec{d.Store[1], d.Store[0]} }, want: true},
		{name: "name", edit: func(d *Def) { d.Name = "u" }},
		{name: "size", edit: func(d *Def) { d.Size = 11 }},
		{name: "expire", edit: func(d *Def) { d.Expire = time.Hour }},
		{name: "key len", edit: func(d *Def) { d.KeyLen = 8 }},
		{name: "nopurge", edit: func(d *Def) { d.NoPurge = true }},
		{name: "period", edit: func(d *Def) { d.Store = []DataSpec{d.Store[0], {Type: DataHTTPReqRate, Period: time.Second}} }},
		{name: "one type less", edit: func(d *Def) { d.Store = d.Store[:1] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a
			b.Store = append([]DataSpec(nil), a.Store...)
			if tt.edit != nil {
				tt.edit(&b)
			}
			if got := a.Equal(b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
			if got := b.Equal(a); got != tt.want {
				t.Fatalf("Equal is not symmetric")
			}
		})
	}
}
