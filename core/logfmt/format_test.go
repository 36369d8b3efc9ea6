package logfmt

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func sampleRecord() *Record {
	t := time.Date(2026, 12, 7, 9, 0, 1, 234e6, time.Local)
	return &Record{
		Accept: t, Start: t,
		Client:   netip.MustParseAddrPort("10.0.1.2:33317"),
		Frontend: "http-in", Backend: "static", Server: "srv1",
		HTTP: true, Method: []byte("GET"), URI: []byte("/index.html"), Version: "HTTP/1.1",
		Status: 200, BytesOut: 2750,
		TR: 10 * time.Millisecond, Tw: 0, Tc: 30 * time.Millisecond, Tr: 69 * time.Millisecond, Ta: 109 * time.Millisecond,
		Term:    [2]byte{'-', '-'},
		ActConn: 1, FeConn: 1, BeConn: 1, SrvConn: 1,
		ReqCaptures: [][]byte{[]byte("1wt.eu")}, ResCaptures: [][]byte{},
	}
}

func TestFormat_Append(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		edit         func(r *Record)
		want         string
	}{
		{
			name: "httplog as in HAProxy's manual", format: "httplog",
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} "GET /index.html HTTP/1.1"`,
		},
		{
			name: "httplog without captures has no double space", format: "httplog",
			edit: func(r *Record) { r.ReqCaptures = nil },
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`,
		},
		{
			name: "denied in the frontend", format: "httplog",
			edit: func(r *Record) {
				r.Backend, r.Server, r.Status, r.Term = "", "", 403, [2]byte{'P', 'R'}
				r.Tw, r.Tc, r.Tr = -1, -1, -1
				r.ReqCaptures = [][]byte{[]byte("a|b{c}"), nil}
			},
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in http-in/<NOSRV> 10/-1/-1/-1/109 403 2750 - - PR-- 1/1/1/1/0 0/0 {a#7Cb#7Bc#7D|} "GET /index.html HTTP/1.1"`,
		},
		{
			name: "escapes in the request line", format: "%{+Q}r",
			edit: func(r *Record) { r.URI = []byte("/a\"b#c\x01") },
			want: `"GET /a#22b#23c#01 HTTP/1.1"`,
		},
		{
			name: "no request line", format: "%r %{+Q}HM",
			edit: func(r *Record) { r.Method, r.URI, r.Version = nil, nil, "" },
			want: `<BADREQ> ""`,
		},
		{
			name: "tcplog", format: "tcplog",
			edit: func(r *Record) { r.Tt = 5 * time.Second; r.Retries, r.Redispatched = 2, true },
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in static/srv1 0/30/5000 2750 -- 1/1/1/1/+2 0/0`,
		},
		{
			name: "flags and literal text", format: `%{+X}ST %%x \ %{+Q}o%b %{-Q}s`,
			want: `C8 %x  "static" srv1`,
		},
		{
			name: "httpslog on TLS", format: "httpslog",
			edit: func(r *Record) {
				r.TLS, r.TLSVersion, r.TLSCipher, r.SNI = true, 0x0304, 0x1301, "example.com"
				r.ReqCaptures = nil
			},
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in~ static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1" 0/0000000000000000/0/0/0 example.com/TLSv1.3/TLS_AES_128_GCM_SHA256`,
		},
		{
			name: "httpslog on a plain connection", format: "httpslog",
			edit: func(r *Record) { r.ReqCaptures = nil },
			want: `10.0.1.2:33317 [07/Dec/2026:09:00:01.234] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1" 0/-/-/-/0 -/-/-`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			r := sampleRecord()
			if tc.edit != nil {
				tc.edit(r)
			}
			got := string(f.Append(nil, r))
			if got != tc.want+"\n" {
				t.Errorf("got  %q\nwant %q", got, tc.want+"\n")
			}
		})
	}
}

func TestFormat_JSON(t *testing.T) {
	f, err := Parse("json")
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord()
	r.Traced = true
	r.TraceID[0], r.SpanID[7] = 0xab, 0x01
	line := f.Append(nil, r)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	for k, want := range map[string]any{
		"client_ip": "10.0.1.2", "client_port": 33317.0, "frontend_name": "http-in", "backend_name": "static",
		"server_name": "srv1", "status_code": 200.0, "bytes_read": 2750.0, "Tc": 30.0, "termination_state": "----",
		"http_request": "GET /index.html HTTP/1.1", "captured_request_cookie": nil,
		"trace_id": "ab000000000000000000000000000000", "span_id": "0000000000000001",
	} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v (line %s)", k, m[k], want, line)
		}
	}
	if c, _ := m["captured_request_headers"].([]any); len(c) != 1 || c[0] != "1wt.eu" {
		t.Errorf("captured_request_headers = %#v", m["captured_request_headers"])
	}
}

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct{ name, format, want string }{
		{"unknown variable", "%ci %zz", "unknown variable %zz"},
		{"unsupported expression", "%[req.hdr(host)]", "sample expression %[req.hdr(host)] is not supported"},
		{"unclosed flags", "%{+Q", "%{ without }"},
		{"bad flag", "%{+Z}r", "unknown flag Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFormat_AppendAllocs(t *testing.T) {
	for _, name := range Presets {
		f, _ := Parse(name)
		r := sampleRecord()
		r.TLSVersion, r.TLSCipher = 0x0303, 0xc02f
		buf := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], r) }); n != 0 {
			t.Errorf("%s: %v allocations per line", name, n)
		}
	}
}

func BenchmarkFormat_HTTPLog(b *testing.B) {
	f, _ := Parse("httplog")
	r := sampleRecord()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = f.Append(buf[:0], r)
	}
}

// TestCaptures_ReuseAllocs: a stream's captures reuse the storage of the
// previous stream's, even after a stream that captured nothing.
func TestCaptures_ReuseAllocs(t *testing.T) {
	var c Captures
	v := []byte("example.com")
	c.Reset(2)
	c.Set(0, v, 32)
	c.Set(1, v, 4)
	if n := testing.AllocsPerRun(100, func() {
		c.Reset(0)
		c.Reset(2)
		c.Set(0, v, 32)
		c.Set(1, v, 4)
	}); n != 0 {
		t.Errorf("%v allocations per stream", n)
	}
	if got := c.Values(); string(got[0]) != "example.com" || string(got[1]) != "exam" {
		t.Errorf("captures = %q", got)
	}
}

// TestFormat_UniqueID renders HAProxy's usual unique-id-format: +X prints
// addresses, ports, the date, the counter and the pid in hexadecimal.
func TestFormat_UniqueID(t *testing.T) {
	f, err := Parse(`%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid`)
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord()
	r.Local = netip.MustParseAddrPort("192.168.0.1:443")
	r.Counter = 255
	got := string(f.AppendValue(nil, r))
	want := fmt.Sprintf("0A000102:8225_C0A80001:01BB_%X_FF:%X", r.Accept.Unix(), os.Getpid())
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
