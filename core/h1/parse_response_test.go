package h1

import (
	"fmt"
	"strings"
	"testing"
)

func (r *Response) summary() string {
	reason := "<nil>"
	if r.Reason != nil {
		reason = fmt.Sprintf("%q", r.Reason)
	}
	return fmt.Sprintf("1.%d %d %s body=%d cl=%d ka=%t", r.Minor, r.Status, reason, r.Body, r.ContentLength, r.KeepAlive)
}

func TestParseResponse_Accepted(t *testing.T) {
	tests := []struct {
		name   string
		method string
		in     string
		want   string
	}{
		{"ok with length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n",
			`1.1 200 "OK" body=1 cl=12 ka=true`},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			`1.1 200 "OK" body=2 cl=0 ka=true`},
		{"other codings before chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
			`1.1 200 "OK" body=2 cl=0 ka=true`},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\n",
			`1.1 200 "OK" body=3 cl=0 ka=false`},
		{"http/1.0 until close", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
			`1.0 200 "OK" body=3 cl=0 ka=false`},
		{"http/1.0 keep-alive with length", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
			`1.0 200 "OK" body=1 cl=1 ka=true`},
		{"close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
			`1.1 200 "OK" body=1 cl=1 ka=false`},
		{"content-length zero", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			`1.1 200 "OK" body=0 cl=0 ka=true`},
		{"identical content-lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n",
			`1.1 200 "OK" body=1 cl=3 ka=true`},
		{"head ignores length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			`1.1 200 "OK" body=0 cl=0 ka=true`},
		{"head ignores chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			`1.1 200 "OK" body=0 cl=0 ka=true`},
		{"head without framing", "HEAD", "HTTP/1.1 200 OK\r\n\r\n",
			`1.1 200 "OK" body=0 cl=0 ka=true`},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
			`1.1 204 "No Content" body=0 cl=0 ka=true`},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n",
			`1.1 304 "Not Modified" body=0 cl=0 ka=true`},
		{"100 continue", "POST", "HTTP/1.1 100 Continue\r\n\r\n",
			`1.1 100 "Continue" body=0 cl=0 ka=true`},
		{"103 early hints", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
			`1.1 103 "Early Hints" body=0 cl=0 ka=true`},
		{"101 switching", "GET", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			`1.1 101 "Switching Protocols" body=0 cl=0 ka=false`},
		{"connect 200 is a tunnel", "CONNECT", "HTTP/1.1 200 Connection established\r\n\r\n",
			`1.1 200 "Connection established" body=3 cl=0 ka=false`},
		{"connect 2xx ignores framing", "CONNECT", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			`1.1 200 "OK" body=3 cl=0 ka=false`},
		{"connect refused has a body", "CONNECT", "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
			`1.1 403 "Forbidden" body=1 cl=2 ka=true`},
		{"no reason", "GET", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
			`1.1 404 <nil> body=0 cl=0 ka=true`},
		{"empty reason", "GET", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
			`1.1 404 "" body=0 cl=0 ka=true`},
		{"reason with spaces and obs-text", "GET", "HTTP/1.1 200 Tr\xe8s  bien\t!\r\nContent-Length: 0\r\n\r\n",
			"1.1 200 \"Tr\\xe8s  bien\\t!\" body=0 cl=0 ka=true"},
		{"599", "GET", "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
			`1.1 599 "Whatever" body=0 cl=0 ka=true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse(&r, []byte(tt.in), nil, []byte(tt.method)); err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if got := r.summary(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if want := strings.Index(tt.in, "\r\n\r\n") + 4; r.HeadLen != want {
				t.Errorf("HeadLen = %d, want %d", r.HeadLen, want)
			}
		})
	}
}

func TestParseResponse_Rejected(t *testing.T) {
	tests := []struct {
		name   string
		method string
		in     string
		status int
	}{
		{"garbage", "GET", "HELLO\r\n\r\n", 502},
		{"http/1.2", "GET", "HTTP/1.2 200 OK\r\n\r\n", 502},
		{"http/2", "GET", "HTTP/2.0 200 OK\r\n\r\n", 502},
		{"lower-case version", "GET", "http/1.1 200 OK\r\n\r\n", 502},
		{"two-digit status", "GET", "HTTP/1.1 20 OK\r\n\r\n", 502},
		{"four-digit status", "GET", "HTTP/1.1 2000 OK\r\n\r\n", 502},
		{"status 099", "GET", "HTTP/1.1 099 Hmm\r\n\r\n", 502},
		{"status 600", "GET", "HTTP/1.1 600 Hmm\r\n\r\n", 502},
		{"two spaces before status", "GET", "HTTP/1.1  200 OK\r\n\r\n", 502},
		{"tab before status", "GET", "HTTP/1.1\t200 OK\r\n\r\n", 502},
		{"ctl in reason", "GET", "HTTP/1.1 200 O\x01K\r\n\r\n", 502},
		{"bare LF status line", "GET", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 502},
		{"bare LF field", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", 502},
		{"leading empty line", "GET", "\r\nHTTP/1.1 200 OK\r\n\r\n", 502},
		{"obs-fold", "GET", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", 502},
		{"space before colon", "GET", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 502},
		{"nul in value", "GET", "HTTP/1.1 200 OK\r\nX: \x00\r\nContent-Length: 0\r\n\r\n", 502},
		{"cl and te", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
		{"cl and te on HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
		{"cl differ", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 502},
		{"cl invalid", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 502},
		{"cl invalid on 304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: -1\r\n\r\n", 502},
		{"te chunked not final", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 502},
		{"te gzip only", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502},
		{"te chunked twice", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
		{"te empty element", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n", 502},
		{"te coding not a token", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gz/ip, chunked\r\n\r\n", 502},
		{"te in http/1.0", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502},
		{"too many fields", "GET", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", 102) + "\r\n", 502},
		{"head too large", "GET", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 17000) + "\r\n\r\n", 502},
		{"status line too long", "GET", "HTTP/1.1 200 " + strings.Repeat("y", 9000) + "\r\n\r\n", 502},
		{"incomplete past head limit", "GET", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", 17000), 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			err := ParseResponse(&r, []byte(tt.in), nil, []byte(tt.method))
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status %d (%v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestParseResponse_Incomplete(t *testing.T) {
	full := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
	for n := 0; n < len(full); n++ {
		var r Response
		if err := ParseResponse(&r, []byte(full[:n]), nil, []byte("GET")); err != ErrIncomplete {
			t.Fatalf("prefix %q: %v, want ErrIncomplete", full[:n], err)
		}
	}
}

func TestParseResponse_NoAlloc(t *testing.T) {
	buf := []byte(benchResponse)
	method := []byte("GET")
	var r Response
	if err := ParseResponse(&r, buf, nil, method); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := ParseResponse(&r, buf, nil, method); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseResponse allocates %v times per run", allocs)
	}
}

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Date: Mon, 02 Sep 2024 10:00:00 GMT\r\n" +
	"Server: example\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Cache-Control: max-age=3600, public\r\n" +
	"ETag: \"5f3e-1a2b3c4d\"\r\n" +
	"Last-Modified: Sun, 01 Sep 2024 09:00:00 GMT\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n"

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(benchResponse)
	method := []byte("GET")
	var r Response
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseResponse(&r, buf, nil, method); err != nil {
			b.Fatal(err)
		}
	}
}

var fuzzMethods = [...]string{"GET", "HEAD", "CONNECT", "POST"}

func FuzzParseResponse(f *testing.F) {
	for _, c := range loadCorpus(f) {
		if c.kind == "response" && len(c.data) <= maxSeedLen {
			for i, m := range fuzzMethods {
				if m == c.method {
					f.Add(c.data, uint8(i))
				}
			}
		}
	}
	f.Add([]byte(benchResponse), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		method := []byte(fuzzMethods[int(m)%len(fuzzMethods)])
		var r Response
		err := ParseResponse(&r, data, nil, method)
		switch s := statusOf(t, err); s {
		case 0, incomplete, 502:
		default:
			t.Fatalf("unexpected status %d: %v", s, err)
		}
		if err != nil {
			return
		}
		if r.HeadLen <= 0 || r.HeadLen > len(data) {
			t.Fatalf("HeadLen %d, len %d", r.HeadLen, len(data))
		}
		head := data[:r.HeadLen]
		if !within(head, r.Reason) {
			t.Fatalf("reason outside the head")
		}
		for _, fl := range r.Fields {
			if !within(head, fl.Name) || !within(head, fl.Value) {
				t.Fatalf("field %q: %q outside the head", fl.Name, fl.Value)
			}
		}
		if r.Body == BodyUntilClose && r.KeepAlive {
			t.Fatal("close-delimited body on a persistent connection")
		}
		if err := ParseResponse(&r, head[:r.HeadLen-1], nil, method); err != ErrIncomplete {
			t.Fatalf("head minus one byte: %v", err)
		}
		if err := ParseResponse(&r, data, nil, method); err != nil {
			t.Fatal(err)
		}

		out := AppendResponseHead(nil, &r)
		var r2 Response
		if err := ParseResponse(&r2, out, &roomyLimits, method); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		wantReason := string(r.Reason)
		if wantReason == "" {
			wantReason = StatusText(r.Status)
		}
		if r2.Minor != r.Minor || r2.Status != r.Status || string(r2.Reason) != wantReason ||
			r2.Body != r.Body || r2.ContentLength != r.ContentLength || r2.KeepAlive != r.KeepAlive || r2.HeadLen != len(out) {
			t.Fatalf("re-parse of %q:\n%s\n%s", out, r.summary(), r2.summary())
		}
		if msg := sameFields(r.Fields, r2.Fields); msg != "" {
			t.Fatal(msg)
		}
	})
}
