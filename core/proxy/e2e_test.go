package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

const basicConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 5s, http_request: 2s, http_keep_alive: 2s }
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { connect: 1s, server: {{server_timeout}} }
    servers:
      s1: { address: "{{up}}" }
`

func basicVars(up string) map[string]string {
	return map[string]string{"up": up, "server_timeout": "5s"}
}

// readResponse reads one response with net/http's reader.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, body
}

func TestProxy_KeepAliveBothSides(t *testing.T) {
	up := startUpstream(t, "-name", "s1")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 5 {
		fmt.Fprintf(c, "GET /r%d HTTP/1.1\r\nHost: example.test\r\n\r\n", i)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || string(body) != "hello world!" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("x-server"); got != "s1" {
			t.Fatalf("x-server = %q", got)
		}
	}
	if n := up.Requests(t); n != 5 {
		t.Fatalf("upstream saw %d requests, want 5", n)
	}
	if n := len(up.Events(t, "accept")); n != 1 {
		t.Fatalf("upstream accepted %d connections, want 1 (pooled keep-alive)", n)
	}
	lines := p.logLines(t, 5)
	for _, l := range lines {
		if l["status"] != float64(200) || l["termination_state"] != "--" || l["backend"] != "app" || l["server"] != "s1" {
			t.Fatalf("log line %v", l)
		}
	}
}

func TestProxy_PipelinedRequests(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	raw := "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	out := rawExchange(t, p.addr("web"), raw)
	if n := strings.Count(out, "HTTP/1.1 200"); n != 3 {
		t.Fatalf("got %d responses:\n%s", n, out)
	}
	if n := up.Requests(t); n != 3 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

func TestProxy_StreamsBodies(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	sum := sha256.Sum256(big)
	tests := []struct {
		name    string
		chunked bool
	}{
		{name: "content-length"},
		{name: "chunked", chunked: true},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(big)
			if tt.chunked {
				body = io.MultiReader(bytes.NewReader(big)) // unknown length: chunked
			}
			req, _ := http.NewRequest("POST", "http://"+p.addr("web")+"/upload", body)
			if !tt.chunked {
				req.ContentLength = int64(len(big))
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			e := testsupport.DecodeEcho(t, b)
			if e.BodyLength != int64(len(big)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("server got %d bytes sha %s", e.BodyLength, e.BodySHA256)
			}
			if tt.chunked && len(e.Header("transfer-encoding")) != 1 {
				t.Fatalf("transfer-encoding not forwarded: %v", e.Headers)
			}
		})
	}
	t.Run("big chunked response", func(t *testing.T) {
		resp, err := client.Get("http://" + p.addr("web") + "/chunked/500")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || len(b) == 0 {
			t.Fatalf("status %d te %v len %d", resp.StatusCode, resp.TransferEncoding, len(b))
		}
	})
	t.Run("big content-length response", func(t *testing.T) {
		resp, err := client.Get("http://" + p.addr("web") + "/big/5000000")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 5000000 {
			t.Fatalf("got %d bytes", len(b))
		}
	})
}

func TestProxy_ServerDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := startProxy(t, basicConfig, basicVars(addr))
	out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if statusOf(out) != 503 {
		t.Fatalf("got %q", out)
	}
	l := p.logLines(t, 1)[0]
	if l["termination_state"] != "SC" || l["termination_cause"] != "connect_failed" {
		t.Fatalf("log %v", l)
	}
}

func TestProxy_SlowServerTimesOut(t *testing.T) {
	up := startUpstream(t)
	vars := basicVars(up.Addr)
	vars["server_timeout"] = "300ms"
	p := startProxy(t, basicConfig, vars)
	out := rawExchange(t, p.addr("web"), "GET /delay/3s HTTP/1.1\r\nHost: x\r\n\r\n")
	if statusOf(out) != 504 {
		t.Fatalf("got %q", out)
	}
	l := p.logLines(t, 1)[0]
	if l["termination_state"] != "sH" {
		t.Fatalf("log %v", l)
	}
	// The proxy keeps serving.
	out = rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if statusOf(out) != 200 {
		t.Fatalf("after a timeout: %q", out)
	}
}

func TestProxy_ClientAbortMidBody(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	l := p.logLines(t, 1)[0]
	if l["termination_state"] != "CD" {
		t.Fatalf("log %v", l)
	}
	out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if statusOf(out) != 200 {
		t.Fatalf("after an abort: %q", out)
	}
}

func TestProxy_RequestTimeout(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	out := rawExchange(t, p.addr("web"), "GET / HTTP/1.1\r\nHost: x\r\n") // head never ends
	if statusOf(out) != 408 {
		t.Fatalf("got %q", out)
	}
	if up.Requests(t) != 0 {
		t.Fatal("an incomplete request reached the server")
	}
}

func TestProxy_KeepAliveTimeoutClosesIdle(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	readResponse(t, br, "GET")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before http_keep_alive (2s)", d)
	}
}

func TestProxy_ExpectContinue(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	body := strings.Repeat("x", 2048)
	out, err := exec.Command("curl", "-sS", "--max-time", "5", "-H", "Expect: 100-continue",
		"--expect100-timeout", "4", "--data-binary", body, "http://"+p.addr("web")+"/post").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	e := testsupport.DecodeEcho(t, out)
	if e.BodyLength != 2048 {
		t.Fatalf("server got %d bytes", e.BodyLength)
	}
}

func TestProxy_WebSocketEcho(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for i := range 3 {
		msg := []byte(fmt.Sprintf("message %d through strata", i))
		c.Write(maskedTextFrame(msg))
		op, payload := readFrame(t, br)
		if op != 1 || !bytes.Equal(payload, msg) {
			t.Fatalf("echo %d: op %d %q", i, op, payload)
		}
	}
}

func maskedTextFrame(p []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(p))}
	f = append(f, mask[:]...)
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	return f
}

func readFrame(t testing.TB, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	h := make([]byte, 2)
	if _, err := io.ReadFull(br, h); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		t.Fatalf("unexpected long frame")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, p
}

const tcpConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 5s }
    default_backend: echo
backends:
  echo:
    mode: tcp
    timeouts: { connect: 1s, server: 5s, tunnel: 5s }
    servers:
      e1: { address: "{{up}}" }
`

func TestProxy_TCPHalfClose(t *testing.T) {
	up := startUpstream(t, "-mode", "tcp")
	p := startProxy(t, tcpConfig, map[string]string{"up": up.Addr})
	c, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	payload := make([]byte, 2<<20) // large enough to take the splice path
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite() // half-close: the echo must still come back
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(payload))
	}
	l := p.logLines(t, 1)[0]
	if l["mode"] != "tcp" || l["termination_state"] != "--" || l["bytes_in"] != float64(len(payload)) || l["bytes_out"] != float64(len(payload)) {
		t.Fatalf("log %v", l)
	}
}
