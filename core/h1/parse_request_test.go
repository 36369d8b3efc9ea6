package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unsafe"
)

// summary prints what a parsed request means, for table comparisons. A nil
// Query prints as <nil>, an empty one as "".
func (r *Request) summary() string {
	q := "<nil>"
	if r.Query != nil {
		q = fmt.Sprintf("%q", r.Query)
	}
	host := "<nil>"
	if r.Host != nil {
		host = fmt.Sprintf("%q", r.Host)
	}
	path := "<nil>"
	if r.Path != nil {
		path = fmt.Sprintf("%q", r.Path)
	}
	return fmt.Sprintf("%s %s 1.%d path=%s query=%s host=%s body=%d cl=%d ka=%t up=%t exp=%t",
		r.Method, r.URI, r.Minor, path, q, host, r.Body, r.ContentLength, r.KeepAlive, r.Upgrade, r.ExpectContinue)
}

// statusOf returns 0 for nil, -1 for ErrIncomplete, the Status of an
// *Error, and fails the test for anything else.
func statusOf(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if errors.Is(err, ErrIncomplete) {
		return -1
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is neither ErrIncomplete nor *Error", err, err)
	}
	return e.Status
}

const incomplete = -1

func TestParseRequest_Accepted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"get", "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
			`GET /index.html 1.1 path="/index.html" query=<nil> host="example.com" body=0 cl=0 ka=true up=false exp=false`},
		{"query", "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n",
			`GET /a/b?x=1&y=2 1.1 path="/a/b" query="x=1&y=2" host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"empty query", "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
			`GET /a? 1.1 path="/a" query="" host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"second ? stays in query", "GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n",
			`GET /a?b?c 1.1 path="/a" query="b?c" host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"post content-length", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=1 cl=11 ka=true up=false exp=false`},
		{"content-length zero is no body", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"content-length leading zeros", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=1 cl=7 ka=true up=false exp=false`},
		{"content-length max int64", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=1 cl=9223372036854775807 ka=true up=false exp=false`},
		{"content-length identical list folded", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5 ,5\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=1 cl=5 ka=true up=false exp=false`},
		{"content-length identical fields folded", "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=1 cl=5 ka=true up=false exp=false`},
		{"chunked", "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=2 cl=0 ka=true up=false exp=false`},
		{"chunked any case, tab before value", "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-encoding:\tCHUNKED\r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=2 cl=0 ka=true up=false exp=false`},
		{"chunked with OWS both sides", "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  \t chunked \t \r\n\r\n",
			`POST /f 1.1 path="/f" query=<nil> host="h" body=2 cl=0 ka=true up=false exp=false`},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"http/1.0 no host, no keep-alive", "GET / HTTP/1.0\r\n\r\n",
			`GET / 1.0 path="/" query=<nil> host=<nil> body=0 cl=0 ka=false up=false exp=false`},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			`GET / 1.0 path="/" query=<nil> host=<nil> body=0 cl=0 ka=true up=false exp=false`},
		{"http/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
			`GET / 1.0 path="/" query=<nil> host=<nil> body=0 cl=0 ka=false up=false exp=false`},
		{"http/1.1 close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="h" body=0 cl=0 ka=false up=false exp=false`},
		{"close in second connection field", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: ,close,\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="h" body=0 cl=0 ka=false up=false exp=false`},
		{"close as substring is not close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, xclose\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"websocket upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			`GET /ws 1.1 path="/ws" query=<nil> host="h" body=0 cl=0 ka=true up=true exp=false`},
		{"upgrade field without connection token", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
			`GET /ws 1.1 path="/ws" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"upgrade ignored in http/1.0", "GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
			`GET /ws 1.0 path="/ws" query=<nil> host=<nil> body=0 cl=0 ka=false up=false exp=false`},
		{"expect 100-continue", "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
			`PUT /f 1.1 path="/f" query=<nil> host="h" body=1 cl=3 ka=true up=false exp=true`},
		{"expect other value", "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue-ish\r\n\r\n",
			`PUT /f 1.1 path="/f" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"expect ignored in http/1.0", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
			`PUT /f 1.0 path="/f" query=<nil> host=<nil> body=0 cl=0 ka=false up=false exp=false`},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
			`OPTIONS * 1.1 path="*" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
			`CONNECT example.com:443 1.1 path=<nil> query=<nil> host="example.com:443" body=0 cl=0 ka=true up=false exp=false`},
		{"connect ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
			`CONNECT [2001:db8::1]:443 1.1 path=<nil> query=<nil> host="[2001:db8::1]:443" body=0 cl=0 ka=true up=false exp=false`},
		{"connect content-length 0", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 0\r\n\r\n",
			`CONNECT a:1 1.1 path=<nil> query=<nil> host="a:1" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form", "GET http://Example.com/p/q?x HTTP/1.1\r\nHost: example.COM\r\n\r\n",
			`GET http://Example.com/p/q?x 1.1 path="/p/q" query="x" host="example.COM" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form no path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n",
			`GET http://a 1.1 path="/" query=<nil> host="a" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form query without path", "GET HTTPS://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
			`GET HTTPS://a?x=1 1.1 path="/" query="x=1" host="a" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form default port in target", "GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n",
			`GET http://a:80/ 1.1 path="/" query=<nil> host="a" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form default port in host", "GET https://a/ HTTP/1.1\r\nHost: a:443\r\n\r\n",
			`GET https://a/ 1.1 path="/" query=<nil> host="a:443" body=0 cl=0 ka=true up=false exp=false`},
		{"absolute-form http/1.0 without host", "GET http://a:8080/x HTTP/1.0\r\n\r\n",
			`GET http://a:8080/x 1.0 path="/x" query=<nil> host=<nil> body=0 cl=0 ka=false up=false exp=false`},
		{"empty host value", "GET / HTTP/1.1\r\nHost:\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="" body=0 cl=0 ka=true up=false exp=false`},
		{"host with port and ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
			`GET / 1.1 path="/" query=<nil> host="[::1]:8080" body=0 cl=0 ka=true up=false exp=false`},
		{"odd but legal target characters", "GET /a|b{c}^`\"<> HTTP/1.1\r\nHost: h\r\n\r\n",
			"GET /a|b{c}^`\"<> 1.1 path=\"/a|b{c}^`\\\"<>\" query=<nil> host=\"h\" body=0 cl=0 ka=true up=false exp=false"},
		{"extension method", "M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n",
			`M-SEARCH! /x 1.1 path="/x" query=<nil> host="h" body=0 cl=0 ka=true up=false exp=false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest(&r, []byte(tt.in), nil); err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got := r.summary(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if wantLen := strings.Index(tt.in, "\r\n\r\n") + 4; !strings.HasPrefix(tt.in, "\r\n") && r.HeadLen != wantLen {
				t.Errorf("HeadLen = %d, want %d", r.HeadLen, wantLen)
			}
		})
	}
}

func TestParseRequest_Fields(t *testing.T) {
	in := "GET / HTTP/1.1\r\n" +
		"Host: h\r\n" +
		"X-Empty:\r\n" +
		"X-Spaces: \t  a  b \t \r\n" +
		"X-Obs-Text: caf\xc3\xa9\r\n" +
		"X-Tab:\tv\tw\r\n" +
		"x-lower:v\r\n" +
		"!#$%&'*+-.^_`|~09azAZ: ok\r\n" +
		"\r\nBODY"
	var r Request
	if err := ParseRequest(&r, []byte(in), nil); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, value string }{
		{"Host", "h"},
		{"X-Empty", ""},
		{"X-Spaces", "a  b"},
		{"X-Obs-Text", "caf\xc3\xa9"},
		{"X-Tab", "v\tw"},
		{"x-lower", "v"},
		{"!#$%&'*+-.^_`|~09azAZ", "ok"},
	}
	if len(r.Fields) != len(want) {
		t.Fatalf("got %d fields, want %d", len(r.Fields), len(want))
	}
	for i, w := range want {
		f := r.Fields[i]
		if string(f.Name) != w.name || string(f.Value) != w.value {
			t.Errorf("field %d = %q: %q, want %q: %q", i, f.Name, f.Value, w.name, w.value)
		}
		if f.Value == nil {
			t.Errorf("field %d value is nil, want empty or more", i)
		}
		if cap(f.Name) != len(f.Name) || cap(f.Value) != len(f.Value) {
			t.Errorf("field %d: capacity not capped at length", i)
		}
	}
	if r.HeadLen != len(in)-len("BODY") {
		t.Errorf("HeadLen = %d, want %d", r.HeadLen, len(in)-len("BODY"))
	}
}

func TestParseRequest_Rejected(t *testing.T) {
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name   string
		in     string
		status int
	}{
		// request line
		{"empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"method not a token", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"tab after method", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"two spaces after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"two spaces before version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"no version", "GET /\r\nHost: h\r\n\r\n", 400},
		{"only method", "GET\r\n\r\n", 400},
		{"trailing space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
		{"version without minor", "GET / HTTP/1\r\nHost: h\r\n\r\n", 400},
		{"version two-digit minor", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
		{"http/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
		{"http/0.9 style version", "GET / HTTP/0.9\r\n\r\n", 505},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"nul in target", "GET /\x00 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"del in target", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"utf-8 in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bare CR in request line", "GET / HTTP/1.1\rX\r\nHost: h\r\n\r\n", 400},
		{"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
		{"request line over limit", "GET /" + long + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
		// target forms
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"asterisk with more", "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"authority-form with GET", "GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"connect origin-form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"connect without port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"connect absolute-form", "CONNECT http://a:1/ HTTP/1.1\r\nHost: a:1\r\n\r\n", 400},
		{"connect with chunked body", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"connect with length", "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 1\r\n\r\nx", 400},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"absolute-form other scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form without slashes", "GET http:a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form empty host", "GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"absolute-form userinfo", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form host mismatch", "GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
		{"absolute-form port mismatch", "GET http://a:8080/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form wrong default port", "GET https://a/ HTTP/1.1\r\nHost: a:80\r\n\r\n", 400},
		// empty lines and line endings
		{"leading bare LF", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"leading bare CR", "\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"too many leading empty lines", strings.Repeat("\r\n", MaxLeadingEmptyLines+1) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"bare LF after field", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
		{"bare LF ending head", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
		{"bare CR ending head", "GET / HTTP/1.1\r\nHost: h\r\n\rX", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
		{"bare CR after value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\rb\r\n\r\n", 400},
		// field syntax
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400},
		{"whitespace before first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
		{"tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
		{"invalid name char", "GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", 400},
		{"utf-8 name", "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n", 400},
		{"nul in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400},
		{"vertical tab in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x0bb\r\n\r\n", 400},
		{"del in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400},
		{"ctl in long value", "GET / HTTP/1.1\r\nHost: h\r\nX: abcdefghijklmnopq\x01rstuvwxyz\r\n\r\n", 400},
		// host
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
		{"two hosts different case", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400},
		{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
		{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"host port not digits", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400},
		{"host only port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400},
		{"host unclosed bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
		// framing
		{"cl and te", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"te and cl", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
		{"cl list differs", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400},
		{"cl fields differ", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
		{"cl plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400},
		{"cl minus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
		{"cl hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400},
		{"cl empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
		{"cl overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
		{"cl huge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400},
		{"cl inner space", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
		{"cl empty element", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n", 400},
		{"te identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400},
		{"te gzip chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
		{"te chunked identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
		{"te chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"te two fields", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"te xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
		{"te empty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400},
		{"te trailing comma", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 400},
		{"te parameter", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400},
		{"te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		// limits
		{"too many fields", "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", 431},
		{"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + long + long + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(&r, []byte(tt.in), nil)
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestParseRequest_Incomplete(t *testing.T) {
	full := "\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-Tab:\ta\r\n\r\n"
	for n := 0; n < len(full); n++ {
		var r Request
		err := ParseRequest(&r, []byte(full[:n]), nil)
		if err != ErrIncomplete {
			t.Fatalf("prefix %q: %v, want ErrIncomplete", full[:n], err)
		}
	}
	var r Request
	if err := ParseRequest(&r, []byte(full), nil); err != nil {
		t.Fatal(err)
	}
	if r.HeadLen != len(full) {
		t.Fatalf("HeadLen = %d, want %d", r.HeadLen, len(full))
	}
}

func TestParseRequest_Limits(t *testing.T) {
	lim := &Limits{MaxRequestLine: 20, MaxHeadBytes: 64, MaxHeaders: 2}
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"request line at limit", "GET /aaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 0}, // 20 bytes
		{"request line over limit", "GET /aaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 414},
		{"incomplete line at limit", "GET /aaaaaa HTTP/1.1", incomplete},
		{"incomplete line at limit with CR", "GET /aaaaaa HTTP/1.1\r", incomplete},
		{"incomplete line over limit", "GET /aaaaaaaaaaaaaaaaa", 414},
		{"incomplete line over limit before CR", "GET /aaaaaaa HTTP/1.1\r", 414},
		{"fields at limit", "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n", 0},
		{"fields over limit", "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nC: d\r\n\r\n", 431},
		{"fields over limit while incomplete", "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nC: d\r\n", 431},
		{"head at limit", "GET / HTTP/1.1\r\nHost: h\r\nA: " + strings.Repeat("b", 32) + "\r\n\r\n", 0}, // 64 bytes
		{"head over limit", "GET / HTTP/1.1\r\nHost: h\r\nA: " + strings.Repeat("b", 33) + "\r\n\r\n", 431},
		{"incomplete head reaching limit", "GET / HTTP/1.1\r\nHost: h\r\nA: " + strings.Repeat("b", 33) + "\r\n\r", 431},     // 64 bytes
		{"incomplete head under limit", "GET / HTTP/1.1\r\nHost: h\r\nA: " + strings.Repeat("b", 32) + "\r\n\r", incomplete}, // 63 bytes
		{"body beyond limit is fine", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99\r\n\r\n" + strings.Repeat("x", 99), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(&r, []byte(tt.in), lim)
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestParseRequest_ReusesFields(t *testing.T) {
	var r Request
	buf := []byte("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n")
	if err := ParseRequest(&r, buf, nil); err != nil {
		t.Fatal(err)
	}
	first := &r.Fields[0]
	if err := ParseRequest(&r, []byte("GET / HTTP/1.0\r\nC: 3\r\n\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	if len(r.Fields) != 1 || &r.Fields[0] != first || string(r.Fields[0].Name) != "C" {
		t.Fatalf("fields not reused: %q", r.Fields)
	}
	if r.Host != nil || r.Minor != 0 {
		t.Fatalf("state of the previous request leaked: %s", r.summary())
	}
}

func TestParseRequest_NoAlloc(t *testing.T) {
	buf := []byte(benchRequest)
	var r Request
	if err := ParseRequest(&r, buf, nil); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := ParseRequest(&r, buf, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseRequest allocates %v times per run", allocs)
	}
	// Rejections allocate nothing either.
	bad := []byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	allocs = testing.AllocsPerRun(1000, func() {
		if ParseRequest(&r, bad, nil) == nil {
			t.Fatal("accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseRequest allocates %v times per rejection", allocs)
	}
}

func TestError_Shared(t *testing.T) {
	var r Request
	err := ParseRequest(&r, []byte("GET / HTTP/1.1\r\n\r\n"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Error() != "h1: missing Host" {
		t.Fatalf("got %v", err)
	}
	wrapped := fmt.Errorf("client: %w", err)
	if !errors.As(wrapped, &e) || e.Status != 400 {
		t.Fatalf("wrapped error lost its status: %v", wrapped)
	}
}

// benchRequest is a typical browser request: 10 fields, about 400 bytes.
const benchRequest = "GET /articles/2024/http-parsing.html?ref=home&page=2 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abc123def456; theme=dark\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"\r\n"

func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(benchRequest)
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseRequest(&r, buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// within reports whether s is nil or lies inside buf.
func within(buf, s []byte) bool {
	if s == nil {
		return true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= base && p+uintptr(len(s)) <= base+uintptr(len(buf))
}

// checkRequestError fails unless err is nil, ErrIncomplete or a request
// *Error.
func checkRequestError(t *testing.T, err error) {
	switch s := statusOf(t, err); s {
	case 0, incomplete, 400, 414, 431, 505:
	default:
		t.Fatalf("unexpected status %d: %v", s, err)
	}
}

var roomyLimits = Limits{MaxRequestLine: 1 << 30, MaxHeadBytes: 1 << 30, MaxHeaders: 1 << 20}

func FuzzParseRequest(f *testing.F) {
	for _, c := range loadCorpus(f) {
		if c.kind == "request" && len(c.data) <= maxSeedLen {
			f.Add(c.data)
		}
	}
	f.Add([]byte(benchRequest))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		err := ParseRequest(&r, data, nil)
		checkRequestError(t, err)

		// Tighter limits never accept more.
		var small Request
		serr := ParseRequest(&small, data, &Limits{MaxRequestLine: 32, MaxHeadBytes: 128, MaxHeaders: 4})
		checkRequestError(t, serr)
		if serr == nil && err != nil {
			t.Fatalf("accepted under small limits, rejected under default ones: %v", err)
		}
		if err != nil {
			return
		}

		if r.HeadLen <= 0 || r.HeadLen > len(data) {
			t.Fatalf("HeadLen %d, len %d", r.HeadLen, len(data))
		}
		head := data[:r.HeadLen]
		for _, s := range [][]byte{r.Method, r.URI, r.Path, r.Query, r.Host} {
			if !within(head, s) {
				t.Fatalf("slice %q outside the head", s)
			}
		}
		for _, fl := range r.Fields {
			if !within(head, fl.Name) || !within(head, fl.Value) {
				t.Fatalf("field %q: %q outside the head", fl.Name, fl.Value)
			}
		}

		// The head alone parses the same; every shorter prefix is
		// incomplete (a sample of them, to keep long inputs fast).
		var again Request
		if err := ParseRequest(&again, head, nil); err != nil {
			t.Fatalf("head alone: %v", err)
		}
		if msg := sameRequest(&r, &again); msg != "" || again.HeadLen != r.HeadLen {
			t.Fatalf("head alone: %s", msg)
		}
		step := max(1, r.HeadLen/64)
		for k := 0; k < r.HeadLen; k += step {
			if err := ParseRequest(&again, head[:k], nil); err != ErrIncomplete {
				t.Fatalf("prefix of %d bytes: %v", k, err)
			}
		}
		if err := ParseRequest(&again, head[:r.HeadLen-1], nil); err != ErrIncomplete {
			t.Fatalf("head minus one byte: %v", err)
		}

		// net/http, which many servers behind strata use, must frame the
		// request as strata does whenever it accepts it too.
		if hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data))); herr == nil {
			var ok bool
			switch r.Body {
			case BodyChunked:
				ok = len(hr.TransferEncoding) == 1 && hr.TransferEncoding[0] == "chunked" && hr.ContentLength == -1
			case BodyLength:
				ok = len(hr.TransferEncoding) == 0 && hr.ContentLength == r.ContentLength
			case BodyNone:
				ok = len(hr.TransferEncoding) == 0 && hr.ContentLength == 0
			}
			if !ok || hr.Method != string(r.Method) || hr.RequestURI != string(r.URI) {
				t.Fatalf("net/http reads %s %s TE=%q CL=%d; strata %s", hr.Method, hr.RequestURI, hr.TransferEncoding, hr.ContentLength, r.summary())
			}
		}

		// Serialising and parsing again keeps the meaning.
		out := AppendRequestHead(nil, &r)
		var r2 Request
		if err := ParseRequest(&r2, out, &roomyLimits); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if msg := sameRequest(&r, &r2); msg != "" {
			t.Fatalf("re-parse of %q: %s", out, msg)
		}
		if r2.HeadLen != len(out) {
			t.Fatalf("re-parse HeadLen %d, len %d", r2.HeadLen, len(out))
		}
	})
}
