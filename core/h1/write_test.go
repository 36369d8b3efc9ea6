package h1

import (
	"testing"
)

func TestAppendRequestHead(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no fields", Request{Method: []byte("GET"), URI: []byte("/"), Minor: 1},
			"GET / HTTP/1.1\r\n\r\n"},
		{"fields", Request{Method: []byte("POST"), URI: []byte("/x?y"), Minor: 0, Fields: []Field{
			{Name: []byte("Host"), Value: []byte("h")},
			{Name: []byte("X-Empty"), Value: nil},
		}}, "POST /x?y HTTP/1.0\r\nHost: h\r\nX-Empty: \r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendRequestHead([]byte("prefix:"), &tt.req)); got != "prefix:"+tt.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestAppendResponseHead(t *testing.T) {
	tests := []struct {
		name string
		resp Response
		want string
	}{
		{"standard reason", Response{Minor: 1, Status: 404}, "HTTP/1.1 404 Not Found\r\n\r\n"},
		{"own reason", Response{Minor: 0, Status: 200, Reason: []byte("Fine")}, "HTTP/1.0 200 Fine\r\n\r\n"},
		{"unknown status", Response{Minor: 1, Status: 299}, "HTTP/1.1 299 \r\n\r\n"},
		{"odd status", Response{Minor: 1, Status: 42}, "HTTP/1.1 42 \r\n\r\n"},
		{"fields", Response{Minor: 1, Status: 204, Fields: []Field{{Name: []byte("A"), Value: []byte("b")}}},
			"HTTP/1.1 204 No Content\r\nA: b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendResponseHead(nil, &tt.resp)); got != tt.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestAppendRequestHead_RoundTrip(t *testing.T) {
	var r, r2 Request
	if err := ParseRequest(&r, []byte(benchRequest), nil); err != nil {
		t.Fatal(err)
	}
	out := AppendRequestHead(nil, &r)
	if string(out) != benchRequest {
		t.Fatalf("canonical request not reproduced:\n%q\n%q", out, benchRequest)
	}
	if err := ParseRequest(&r2, out, nil); err != nil {
		t.Fatal(err)
	}
	if msg := sameRequest(&r, &r2); msg != "" {
		t.Fatal(msg)
	}
}

func TestAppendResponseHead_RoundTrip(t *testing.T) {
	var r Response
	if err := ParseResponse(&r, []byte(benchResponse), nil, []byte("GET")); err != nil {
		t.Fatal(err)
	}
	if out := AppendResponseHead(nil, &r); string(out) != benchResponse {
		t.Fatalf("canonical response not reproduced:\n%q", out)
	}
}

func TestAppend_NoAlloc(t *testing.T) {
	var r Request
	if err := ParseRequest(&r, []byte(benchRequest), nil); err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := ParseResponse(&resp, []byte(benchResponse), nil, []byte("GET")); err != nil {
		t.Fatal(err)
	}
	resp.Reason = nil
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		dst = AppendRequestHead(dst[:0], &r)
		dst = AppendResponseHead(dst[:0], &resp)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "OK", 404: "Not Found", 431: "Request Header Fields Too Large", 599: "", 0: ""} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}

// sameRequest compares what a re-parsed request must keep; "" when equal.
func sameRequest(a, b *Request) string {
	if string(a.Method) != string(b.Method) || string(a.URI) != string(b.URI) || a.Minor != b.Minor ||
		string(a.Path) != string(b.Path) || (a.Path == nil) != (b.Path == nil) ||
		string(a.Query) != string(b.Query) || (a.Query == nil) != (b.Query == nil) ||
		string(a.Host) != string(b.Host) || (a.Host == nil) != (b.Host == nil) ||
		a.Body != b.Body || a.ContentLength != b.ContentLength || a.KeepAlive != b.KeepAlive ||
		a.Upgrade != b.Upgrade || a.ExpectContinue != b.ExpectContinue {
		return "request differs:\n" + a.summary() + "\n" + b.summary()
	}
	if msg := sameFields(a.Fields, b.Fields); msg != "" {
		return msg
	}
	return ""
}

func sameFields(a, b []Field) string {
	if len(a) != len(b) {
		return "field count differs"
	}
	for i := range a {
		if string(a[i].Name) != string(b[i].Name) || string(a[i].Value) != string(b[i].Value) {
			return "field differs: " + string(a[i].Name) + ": " + string(a[i].Value) + " / " + string(b[i].Name) + ": " + string(b[i].Value)
		}
	}
	return ""
}

func BenchmarkAppendRequestHead(b *testing.B) {
	var r Request
	if err := ParseRequest(&r, []byte(benchRequest), nil); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendRequestHead(dst[:0], &r)
	}
	b.SetBytes(int64(len(dst)))
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		name string
		code int
		want string
	}{
		{"known 2xx is not OK", 201, "Created"},
		{"451 has its RFC 7725 phrase", 451, "Unavailable For Legal Reasons"},
		{"unknown 2xx gets the class name", 299, "Success"},
		{"unknown 4xx", 499, "Client Error"},
		{"unknown 5xx", 599, "Server Error"},
		{"outside the classes", 999, "Other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.code); got != tt.want {
				t.Errorf("Reason(%d) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}
