package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDefaults_Inherited runs strata with a backend that writes neither
// its balance nor its server timeout: both come from the defaults
// section it names. With balance first, every request goes to the first
// server (round robin, the built-in, would alternate); with the
// inherited 300ms server timeout, a server that answers after 3s gets the
// client a 504 (the built-in 30s would wait).
func TestDefaults_Inherited(t *testing.T) {
	s1, s2 := startUpstream(t, "s1"), startUpstream(t, "s2")
	p := startStrata(t, `
global:
  access_log: { output: stdout, format: json }
defaults:
  default: { timeouts: { connect: 2s, server: 30s } }
  fast: { balance: first, timeouts: { server: 300ms } }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    defaults: fast
    servers:
      s1: { address: "`+s1.addr+`" }
      s2: { address: "`+s2.addr+`" }
`, false)

	c, err := net.Dial("tcp", p.web)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	get := func(path string) *http.Response {
		t.Helper()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.ReadAll(resp.Body)
		return resp
	}
	for i := range 4 {
		if resp := get(fmt.Sprintf("/r%d", i)); resp.StatusCode != 200 || resp.Header.Get("x-server") != "s1" {
			t.Fatalf("request %d: %d from %q, want 200 from s1 (balance first, inherited)", i, resp.StatusCode, resp.Header.Get("x-server"))
		}
	}
	if resp := get("/delay/3s"); resp.StatusCode != 504 {
		t.Fatalf("a server answering in 3s: %d, want 504 (server timeout 300ms, inherited)", resp.StatusCode)
	}
	if s2.received("/r1") {
		t.Fatal("s2 received a request")
	}
}
