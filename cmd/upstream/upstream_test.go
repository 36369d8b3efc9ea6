package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upstream is a server started in-process for a test.
type upstream struct {
	addr string
	log  string // the -log file
}

// start runs the server with args (plus -log) until the test ends.
func start(t *testing.T, args ...string) *upstream {
	t.Helper()
	u := &upstream{log: filepath.Join(t.TempDir(), "upstream.log")}
	args = append([]string{"-log", u.log, "-max-lifetime", "1m"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runContext(ctx, args, pw)
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("reading the first line: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	u.addr = addr
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return u
}

func (u *upstream) url(path string) string { return "http://" + u.addr + path }

// events reads the log file.
func (u *upstream) events(t *testing.T) []logLine {
	t.Helper()
	b, err := os.ReadFile(u.log)
	if err != nil {
		t.Fatal(err)
	}
	var lines []logLine
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e logLine
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	return lines
}

func count(events []logLine, event string) int {
	n := 0
	for _, e := range events {
		if e.Event == event {
			n++
		}
	}
	return n
}

// dial opens a raw connection with a deadline.
func (u *upstream) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRun_ExitsAfterMaxLifetime(t *testing.T) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"-max-lifetime", "300ms"}, pw)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "listening on 127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, br)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running after -max-lifetime")
	}
}

func TestRun_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "nope"},
		{"-max-lifetime", "0"},
		{"-max-lifetime", "48h"},
		{"-name", ""},
		{"-listen", "0.0.0.0:0"},
		{"-listen", ":0"},
		{"extra"},
	} {
		if err := runContext(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestFixed_KeepAlive(t *testing.T) {
	u := start(t, "-name", "s7")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		resp, err := client.Get(u.url("/anything"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello world!" || resp.Header.Get("x-server") != "s7" {
			t.Fatalf("got %d %q x-server %q", resp.StatusCode, body, resp.Header.Get("x-server"))
		}
	}
	ev := u.events(t)
	if n := count(ev, "accept"); n != 1 {
		t.Errorf("%d connections accepted, want 1 (keep-alive)", n)
	}
	if n := count(ev, "request"); n != 3 {
		t.Errorf("%d requests logged, want 3", n)
	}
	for _, e := range ev {
		if e.Event != "request" {
			continue
		}
		head, err := base64.StdEncoding.DecodeString(e.Head)
		if err != nil || !bytes.HasPrefix(head, []byte("GET /anything HTTP/1.1\r\n")) || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Errorf("logged head %q, %v", head, err)
		}
		if e.Method != "GET" || e.URI != "/anything" {
			t.Errorf("logged %s %s", e.Method, e.URI)
		}
	}
}

func TestFixed_CustomBodyAndHead(t *testing.T) {
	u := start(t, "-body", "abc")
	c := u.dial(t)
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || resp.ContentLength != 3 {
		t.Fatalf("HEAD: %v %+v", err, resp)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "abc" || !resp.Close {
		t.Errorf("HTTP/1.0 answer %q close %v", body, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection still open after an HTTP/1.0 answer: %v", err)
	}
}

func TestFixed_Pipelined(t *testing.T) {
	u := start(t)
	c := u.dial(t)
	var req strings.Builder
	for i := 0; i < 20; i++ {
		req.WriteString("GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
		req.WriteString("POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
		req.WriteString("POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
	}
	io.WriteString(c, req.String())
	br := bufio.NewReader(c)
	for i := 0; i < 60; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "hello world!" {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}

// echoed is the decoded body of an echo answer.
type echoed struct {
	Server      string      `json:"server"`
	Conn        uint64      `json:"conn"`
	ConnRequest uint64      `json:"conn_request"`
	Method      string      `json:"method"`
	URI         string      `json:"uri"`
	Proto       string      `json:"proto"`
	Headers     [][2]string `json:"headers"`
	Chunked     bool        `json:"chunked"`
	BodyLength  int64       `json:"body_length"`
	BodySHA256  string      `json:"body_sha256"`
	Trailers    [][2]string `json:"trailers"`
	RawHead     string      `json:"raw_head"`
}

func readEcho(t *testing.T, br *bufio.Reader) echoed {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("echo answer %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestEcho(t *testing.T) {
	u := start(t, "-mode", "echo", "-name", "e1")
	big := strings.Repeat("0123456789", 50_000)
	tests := []struct {
		name     string
		request  string
		method   string
		uri      string
		proto    string
		headers  [][2]string
		body     string
		chunked  bool
		trailers [][2]string
	}{
		{
			name:    "get keeps header order and case",
			request: "GET /x?y HTTP/1.1\r\nzeta: 1\r\nHost: h\r\nAlpha:  2 \r\nzeta: 3\r\n\r\n",
			method:  "GET", uri: "/x?y", proto: "HTTP/1.1",
			headers: [][2]string{{"zeta", "1"}, {"Host", "h"}, {"Alpha", "2"}, {"zeta", "3"}},
		},
		{
			name:    "content-length body",
			request: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello there",
			method:  "POST", uri: "/p", proto: "HTTP/1.1",
			headers: [][2]string{{"Host", "h"}, {"Content-Length", "11"}},
			body:    "hello there",
		},
		{
			name:    "large body",
			request: "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 500000\r\n\r\n" + big,
			method:  "PUT", uri: "/big", proto: "HTTP/1.1",
			headers: [][2]string{{"Host", "h"}, {"Content-Length", "500000"}},
			body:    big,
		},
		{
			name:    "chunked body with extensions and trailers",
			request: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1\r\n \r\nA \r\nworld, 10 \r\n0\r\nX-Sum: 42\r\n\r\n",
			method:  "POST", uri: "/c", proto: "HTTP/1.1",
			headers:  [][2]string{{"Host", "h"}, {"Transfer-Encoding", "chunked"}},
			body:     "hello world, 10 ",
			chunked:  true,
			trailers: [][2]string{{"X-Sum", "42"}},
		},
	}
	c := u.dial(t)
	br := bufio.NewReader(c)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			e := readEcho(t, br)
			if e.Server != "e1" || e.Method != tt.method || e.URI != tt.uri || e.Proto != tt.proto {
				t.Errorf("got %s %s %s %s", e.Server, e.Method, e.URI, e.Proto)
			}
			if e.ConnRequest != uint64(i+1) || e.Conn != 1 {
				t.Errorf("conn %d request %d, want 1 and %d", e.Conn, e.ConnRequest, i+1)
			}
			if !equalPairs(e.Headers, tt.headers) {
				t.Errorf("headers %q, want %q", e.Headers, tt.headers)
			}
			if e.BodyLength != int64(len(tt.body)) || e.BodySHA256 != sum(tt.body) || e.Chunked != tt.chunked {
				t.Errorf("body %d %s chunked %v, want %d %s %v", e.BodyLength, e.BodySHA256, e.Chunked, len(tt.body), sum(tt.body), tt.chunked)
			}
			if !equalPairs(e.Trailers, tt.trailers) {
				t.Errorf("trailers %q, want %q", e.Trailers, tt.trailers)
			}
			head, _ := base64.StdEncoding.DecodeString(e.RawHead)
			if !strings.HasPrefix(tt.request, string(head)) || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
				t.Errorf("raw head %q", head)
			}
		})
	}
}

func equalPairs(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEcho_ExpectContinue(t *testing.T) {
	u := start(t, "-mode", "echo")
	c := u.dial(t)
	io.WriteString(c, "PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "abc")
	if e := readEcho(t, br); e.BodySHA256 != sum("abc") {
		t.Errorf("body sha %s", e.BodySHA256)
	}
}

func TestSpecialPaths(t *testing.T) {
	for _, mode := range []string{"fixed", "echo"} {
		u := start(t, "-mode", mode)
		tests := []struct {
			name    string
			path    string
			status  int
			body    string // "" = not checked
			bodyLen int64  // -1 = not checked
			chunked bool
			minTime time.Duration
			err     bool // the client sees no valid answer
		}{
			{name: "status", path: "/status/503", status: 503, body: "s1 503\n", bodyLen: 7},
			{name: "status no content", path: "/status/204", status: 204, body: "", bodyLen: 0},
			{name: "status bad", path: "/status/abc", status: 400, bodyLen: -1},
			{name: "delay", path: "/delay/150ms", status: 200, bodyLen: -1, minTime: 150 * time.Millisecond},
			{name: "chunked", path: "/chunked/3", status: 200, body: "s1 chunk 1\ns1 chunk 2\ns1 chunk 3\n", bodyLen: 33, chunked: true},
			{name: "big", path: "/big/1000000", status: 200, bodyLen: 1_000_000},
			{name: "big empty", path: "/big/0", status: 200, bodyLen: 0},
			{name: "drip", path: "/drip/5/20ms", status: 200, body: "01234", bodyLen: 5, minTime: 80 * time.Millisecond},
			{name: "drip too long", path: "/drip/100/1s", status: 400, bodyLen: -1},
			{name: "close", path: "/close", err: true},
			{name: "headers only", path: "/headers-only/200ms", status: 200, err: true, minTime: 200 * time.Millisecond},
			{name: "query ignored", path: "/status/418?x=/close", status: 418, body: "s1 418\n", bodyLen: 7},
			{name: "name alone is no special path", path: "/big", status: 200, bodyLen: -1},
		}
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
				began := time.Now()
				resp, err := client.Get(u.url(tt.path))
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if took := time.Since(began); took < tt.minTime {
					t.Errorf("took %v, want at least %v", took, tt.minTime)
				}
				if tt.err {
					if err == nil {
						t.Fatalf("no error; status %d body %q", resp.StatusCode, body)
					}
					if tt.status != 0 && resp != nil && resp.StatusCode != tt.status {
						t.Errorf("status %d", resp.StatusCode)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.status || resp.Header.Get("x-server") != "s1" {
					t.Errorf("status %d x-server %q", resp.StatusCode, resp.Header.Get("x-server"))
				}
				if tt.body != "" && string(body) != tt.body {
					t.Errorf("body %q, want %q", body, tt.body)
				}
				if tt.bodyLen >= 0 && int64(len(body)) != tt.bodyLen {
					t.Errorf("body of %d bytes, want %d", len(body), tt.bodyLen)
				}
				chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
				if chunked != tt.chunked {
					t.Errorf("chunked %v", chunked)
				}
			})
		}
	}
}

func TestSpecial_EarlyHints(t *testing.T) {
	u := start(t)
	c := u.dial(t)
	io.WriteString(c, "GET /status/103 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	r1, err := http.ReadResponse(br, nil)
	if err != nil || r1.StatusCode != 103 {
		t.Fatalf("interim: %v %v", r1, err)
	}
	r2, err := http.ReadResponse(br, nil)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("final: %v %v", r2, err)
	}
}

func TestSpecial_BadResponseIsInvalid(t *testing.T) {
	u := start(t)
	c := u.dial(t)
	io.WriteString(c, "GET /badresponse HTTP/1.1\r\nHost: x\r\n\r\n")
	raw, _ := io.ReadAll(c)
	if !bytes.Contains(raw, []byte("\r\nContent-Length: ")) || !bytes.Contains(raw, []byte("\r\nTransfer-Encoding: chunked\r\n")) {
		t.Errorf("answer %q has not both framings", raw)
	}
}

func TestSpecial_ShutdownEndsWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, []string{"-max-lifetime", "1m"}, pw); pw.Close() }()
	br := bufio.NewReader(pr)
	line, _ := br.ReadString('\n')
	go io.Copy(io.Discard, br)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	for _, p := range []string{"/delay/30s", "/headers-only", "/drip/100/100ms"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("server did not stop while requests were waiting")
	}
}

func TestBadRequests(t *testing.T) {
	u := start(t)
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{name: "no host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "conflicting lengths", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "bad chunk size", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400},
		{name: "chunk without crlf", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", status: 400},
		{name: "unknown coding", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n", status: 501},
		{name: "head too large", raw: "GET / HTTP/1.1\r\nHost: x\r\nA: " + strings.Repeat("a", maxHead) + "\r\n\r\n", status: 431},
		{name: "http/2 preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := u.dial(t)
			io.WriteString(c, tt.raw)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tt.status || !resp.Close {
				t.Errorf("status %d close %v, want %d and close", resp.StatusCode, resp.Close, tt.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("connection not closed: %v", err)
			}
		})
	}
	if n := count(u.events(t), "bad_request"); n != len(tests) {
		t.Errorf("%d bad_request lines, want %d", n, len(tests))
	}
}

func TestTEAndCLClosesAfterAnswer(t *testing.T) {
	u := start(t, "-mode", "echo")
	c := u.dial(t)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	json.NewDecoder(resp.Body).Decode(&e)
	if e.BodyLength != 3 || !resp.Close {
		t.Errorf("body length %d close %v; want 3 and close", e.BodyLength, resp.Close)
	}
}

func TestIdleTimeout(t *testing.T) {
	u := start(t, "-idle-timeout", "200ms")
	c := u.dial(t)
	began := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	if took := time.Since(began); took < 150*time.Millisecond || took > 3*time.Second {
		t.Errorf("closed after %v", took)
	}
}

// TestKeepAliveTimeout: -keep-alive-timeout closes a connection that
// waits for its next request after an answer, and only such a one: a
// connection opened earlier that never sent a request outlives it and is
// served.
func TestKeepAliveTimeout(t *testing.T) {
	u := start(t, "-keep-alive-timeout", "50ms")
	const req = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"
	fresh := u.dial(t)
	c := u.dial(t)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v, %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want the server's close (EOF)", err)
	}
	// fresh has waited longer than the keep-alive timeout, but for a
	// first request.
	if _, err := io.WriteString(fresh, req); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(fresh), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request on a connection older than the keep-alive timeout: %v, %v", resp, err)
	}
	resp.Body.Close()
}

func TestTCP_EchoAndHalfClose(t *testing.T) {
	u := start(t, "-mode", "tcp")
	c := u.dial(t).(*net.TCPConn)
	payload := bytes.Repeat([]byte("tcp echo "), 100_000)
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("echoed %d bytes, want %d", len(got), len(payload))
	}
	if n := count(u.events(t), "accept"); n != 1 {
		t.Errorf("%d accept lines", n)
	}
}

func TestCountsOnStdout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runContext(ctx, nil, pw); pw.Close() }()
	br := bufio.NewReader(pr)
	line, _ := br.ReadString('\n')
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	copied := make(chan struct{})
	go func() { io.Copy(&out, br); close(copied) }()
	for i := 0; i < 2; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	<-done
	<-copied
	if got := out.String(); got != "stopped: 1 connections, 2 requests\n" {
		t.Errorf("last line %q", got)
	}
}

func TestSpecial_ClosePipelined(t *testing.T) {
	u := start(t)
	c := u.dial(t)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("answer to the request before /close: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
		t.Errorf("after /close: %q, %v; want a bare close", rest, err)
	}
}
