package h2

import (
	"testing"

	"golang.org/x/net/http2/hpack"
)

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name      string
		fields    []hpack.HeaderField
		endStream bool
		bad       bool
		check     func(t *testing.T, r Request)
	}{
		{name: "get", fields: get("/a?b"), endStream: true, check: func(t *testing.T, r Request) {
			if r.Method != "GET" || r.Path != "/a?b" || r.Authority != "example.test" || r.Scheme != "http" || r.ContentLength != -1 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "connect", fields: hf(":method", "CONNECT", ":authority", "h:443"), check: func(t *testing.T, r Request) {
			if r.Authority != "h:443" || r.Path != "" {
				t.Errorf("%+v", r)
			}
		}},
		{name: "options star", fields: hf(":method", "OPTIONS", ":scheme", "https", ":authority", "a", ":path", "*"), endStream: true},
		{name: "star not options", fields: get("*"), bad: true},
		{name: "content-length", fields: append(get("/"), hf("content-length", "12", "content-length", "12")...), check: func(t *testing.T, r Request) {
			if r.ContentLength != 12 || len(r.Fields) != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "cookie crumbs joined, empty ones dropped", fields: append(get("/"), hf("cookie", "", "cookie", "a=1", "cookie", "", "cookie", "b=2")...), check: func(t *testing.T, r Request) {
			if len(r.Fields) != 1 || r.Fields[0].Name != "cookie" || r.Fields[0].Value != "a=1; b=2" {
				t.Fatalf("fields %v, want one cookie \"a=1; b=2\"", r.Fields)
			}
		}},
		{name: "content-length conflict", fields: append(get("/"), hf("content-length", "1", "content-length", "2")...), bad: true},
		{name: "content-length sign", fields: append(get("/"), hf("content-length", "+1")...), bad: true},
		{name: "content-length without body", fields: append(get("/"), hf("content-length", "1")...), endStream: true, bad: true},
		{name: "te trailers", fields: append(get("/"), hf("te", "trailers")...)},
		{name: "host equals authority", fields: append(get("/"), hf("host", "EXAMPLE.test")...)},
		{name: "two hosts", fields: append(hf(":method", "GET", ":scheme", "http", ":path", "/"), hf("host", "a", "host", "a")...), bad: true},
		{name: "userinfo", fields: hf(":method", "GET", ":scheme", "https", ":authority", "u@h", ":path", "/"), bad: true},
		{name: "CONNECT without authority", fields: hf(":method", "CONNECT"), bad: true},
		{name: "CONNECT with scheme", fields: hf(":method", "CONNECT", ":authority", "h:1", ":scheme", "https"), bad: true},
		{name: "empty name", fields: append(get("/"), hf("", "v")...), bad: true},
		{name: "colon in name", fields: append(get("/"), hf("a:b", "v")...), bad: true},
		{name: "trailing tab", fields: append(get("/"), hf("a", "v\t")...), bad: true},
		{name: "keep-alive", fields: append(get("/"), hf("keep-alive", "5")...), bad: true},
		{name: "proxy-connection", fields: append(get("/"), hf("proxy-connection", "x")...), bad: true},
		{name: "upgrade", fields: append(get("/"), hf("upgrade", "h2c")...), bad: true},
		{name: "bad method", fields: hf(":method", "G T", ":scheme", "http", ":path", "/"), bad: true},
		{name: "bad scheme", fields: hf(":method", "GET", ":scheme", "1x", ":path", "/"), bad: true},
		{name: "fragment in path", fields: get("/a#b"), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, reason := buildRequest(tt.fields, tt.endStream)
			if (reason != "") != tt.bad {
				t.Fatalf("reason %q, want malformed=%t", reason, tt.bad)
			}
			if tt.check != nil && reason == "" {
				tt.check(t, r)
			}
		})
	}
}

func FuzzBuildRequest(f *testing.F) {
	f.Add(":method\x00GET\x00:scheme\x00http\x00:path\x00/\x00cookie\x00a\x00cookie\x00b", true)
	f.Add(":method\x00CONNECT\x00:authority\x00h:1\x00content-length\x007", false)
	f.Fuzz(func(t *testing.T, s string, end bool) {
		var fields []hpack.HeaderField
		parts := splitNUL(s)
		for i := 0; i+1 < len(parts); i += 2 {
			fields = append(fields, hpack.HeaderField{Name: parts[i], Value: parts[i+1]})
		}
		r, reason := buildRequest(fields, end)
		if reason != "" {
			return
		}
		// What is accepted holds the invariants the engine relies on.
		if r.Method == "" || (r.Method != "CONNECT" && r.Path == "") {
			t.Fatalf("accepted without method or path: %+v", r)
		}
		for _, f := range r.Fields {
			if checkField(f) != "" || f.Name == "te" && f.Value != "trailers" {
				t.Fatalf("accepted bad field %q: %q", f.Name, f.Value)
			}
		}
	})
}

func splitNUL(s string) []string {
	var out []string
	for {
		i := 0
		for i < len(s) && s[i] != 0 {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			return out
		}
		s = s[i+1:]
	}
}
