package main

import (
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		status  int // 0: accepted
		check   func(t *testing.T, req *request)
		headers int
	}{
		{
			name:    "simple get",
			head:    "GET /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
			headers: 2,
			check: func(t *testing.T, req *request) {
				if string(req.method) != "GET" || string(req.uri) != "/a?b=c" || req.minor != 1 {
					t.Errorf("line = %q %q %d", req.method, req.uri, req.minor)
				}
				if string(req.path()) != "/a" || req.close || req.hasBody() {
					t.Errorf("path %q close %v body %v", req.path(), req.close, req.hasBody())
				}
			},
		},
		{
			name:    "values trimmed, order kept",
			head:    "POST / HTTP/1.1\r\nHost: x\r\nB:  2 \t\r\nA:1\r\nContent-Length: 5\r\n\r\n",
			headers: 4,
			check: func(t *testing.T, req *request) {
				if string(req.headers[1].name) != "B" || string(req.headers[1].value) != "2" || string(req.headers[2].name) != "A" {
					t.Errorf("headers = %q", req.headers)
				}
				if req.contentLength != 5 || !req.hasBody() {
					t.Errorf("content length = %d", req.contentLength)
				}
			},
		},
		{
			name:    "http/1.0 closes by default",
			head:    "GET / HTTP/1.0\r\n\r\n",
			check:   func(t *testing.T, req *request) { wantTrue(t, "close", req.close) },
			headers: 0,
		},
		{
			name:    "http/1.0 keep-alive",
			head:    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			headers: 1,
			check:   func(t *testing.T, req *request) { wantTrue(t, "keep", !req.close) },
		},
		{
			name:    "connection close among tokens",
			head:    "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n",
			headers: 2,
			check:   func(t *testing.T, req *request) { wantTrue(t, "close", req.close) },
		},
		{
			name:    "chunked",
			head:    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n",
			headers: 2,
			check:   func(t *testing.T, req *request) { wantTrue(t, "chunked", req.chunked && req.hasBody()) },
		},
		{
			name:    "chunked wins over content-length and closes",
			head:    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
			headers: 3,
			check: func(t *testing.T, req *request) {
				wantTrue(t, "te and cl", req.chunked && req.teAndCL && req.close && req.contentLength == -1)
			},
		},
		{
			name:    "same content-length twice",
			head:    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
			headers: 3,
		},
		{
			name:    "websocket upgrade",
			head:    "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			headers: 5,
			check: func(t *testing.T, req *request) {
				wantTrue(t, "websocket", req.websocket && string(req.wsKey) == "dGhlIHNhbXBsZSBub25jZQ==" && string(req.wsVersion) == "13")
			},
		},
		{
			name:    "upgrade without connection token is ignored",
			head:    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
			headers: 2,
			check:   func(t *testing.T, req *request) { wantTrue(t, "no websocket", !req.websocket) },
		},
		{
			name:    "absolute form",
			head:    "GET http://example.com/status/503?x HTTP/1.1\r\nHost: example.com\r\n\r\n",
			headers: 1,
			check:   func(t *testing.T, req *request) { wantTrue(t, "path", string(req.path()) == "/status/503") },
		},
		{
			name:    "expect",
			head:    "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
			headers: 3,
			check:   func(t *testing.T, req *request) { wantTrue(t, "expect", req.expect100) },
		},
		{name: "missing host", head: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two hosts", head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{name: "conflicting content-length", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", status: 400},
		{name: "content-length list", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n", status: 400},
		{name: "negative content-length", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", status: 400},
		{name: "unknown coding", head: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "chunked twice", head: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "obs-fold", head: "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", status: 400},
		{name: "space before colon", head: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: 400},
		{name: "bare cr in value", head: "GET / HTTP/1.1\r\nHost: x\rA: b\r\n\r\n", status: 400},
		{name: "bare lf", head: "GET / HTTP/1.1\nHost: x\r\n\r\n", status: 400},
		{name: "http/2 preface", head: "PRI * HTTP/2.0\r\n\r\n", status: 505},
		{name: "bad version", head: "GET / HTTP/1.x\r\nHost: x\r\n\r\n", status: 400},
		{name: "no target", head: "GET  HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "extra space", head: "GET / x HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "too many fields", head: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", maxHeaders) + "\r\n", status: 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req request
			err := parseHead([]byte(tt.head), &req)
			if tt.status != 0 {
				se, ok := err.(*statusError)
				if !ok || se.status != tt.status {
					t.Fatalf("parseHead = %v, want status %d", err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseHead: %v", err)
			}
			if len(req.headers) != tt.headers {
				t.Errorf("%d headers, want %d", len(req.headers), tt.headers)
			}
			if tt.check != nil {
				tt.check(t, &req)
			}
		})
	}
}

func wantTrue(t *testing.T, what string, ok bool) {
	t.Helper()
	if !ok {
		t.Errorf("%s: false", what)
	}
}

func TestParseChunkSize(t *testing.T) {
	tests := []struct {
		name string
		line string
		want int64
		ok   bool
	}{
		{name: "hex", line: "1aF", want: 0x1af, ok: true},
		{name: "zero", line: "0", want: 0, ok: true},
		{name: "extension", line: "5;name=value", want: 5, ok: true},
		{name: "whitespace before extension", line: "5 ;x", want: 5, ok: true},
		{name: "empty", line: "", ok: false},
		{name: "not hex", line: "g", ok: false},
		{name: "junk after size", line: "5x", ok: false},
		{name: "overflow", line: "1000000000000000", ok: false},
		{name: "largest", line: "fffffffffffffff", want: 0xfffffffffffffff, ok: true},
		{name: "control in extension", line: "5;\x00", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChunkSize([]byte(tt.line))
			if (err == nil) != tt.ok || got != tt.want && tt.ok {
				t.Errorf("parseChunkSize(%q) = %d, %v; want %d, ok %v", tt.line, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestWSAccept(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got := wsAccept([]byte("dGhlIHNhbXBsZSBub25jZQ==")); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("wsAccept = %q", got)
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		var req request
		if err := parseHead(head, &req); err != nil {
			if _, ok := err.(*statusError); !ok {
				t.Fatalf("error %v is not a *statusError", err)
			}
			return
		}
		if req.chunked && req.contentLength >= 0 {
			t.Fatal("both chunked and a content length")
		}
		if len(req.headers) > maxHeaders {
			t.Fatal("too many headers")
		}
		_ = req.path()
	})
}

func FuzzParseChunkSize(f *testing.F) {
	f.Add([]byte("1a;x=y"))
	f.Fuzz(func(t *testing.T, line []byte) {
		if n, err := parseChunkSize(line); err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	head := []byte("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n")
	var req request
	b.ReportAllocs()
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		if err := parseHead(head, &req); err != nil {
			b.Fatal(err)
		}
	}
}
