package main

import (
	"bufio"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestDefaults_Inherited runs strata with a backend that writes neither
// its balance nor its server timeout: both come from the defaults section
// it names, which is read over `default`. With balance first, every
// request goes to the first server (round robin, the built-in, would
// alternate); with the inherited 300ms server timeout, a server that
// answers after 3s gets the client a 504 (the built-in 30s would wait).
// HAProxy runs the same sections (`defaults fast from base`, `backend app
// from fast`) on the same traffic, and both must answer alike.
func TestDefaults_Inherited(t *testing.T) {
	s1, s2 := startUpstream(t, "s1"), startUpstream(t, "s2")
	p := startStrata(t, `
global:
  access_log: { output: stdout, format: json }
defaults:
  default: { timeouts: { connect: 2s, client: 30s, server: 30s } }
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
	want := []string{"200 s1", "200 s1", "200 s1", "200 s1", "504 "}
	got := defaultsTraffic(t, p.web)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("strata answered %q, want %q (balance first and server timeout 300ms, inherited)", got, want)
	}
	if s2.received("/r1") {
		t.Fatal("s2 received a request")
	}

	if why := testsupport.HAProxyUnavailable(); why != "" {
		t.Logf("strata checked alone: %s", why)
		return
	}
	addr := freePort(t)
	testsupport.StartHAProxy(t, fmt.Sprintf(`global
defaults base
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
defaults fast from base
  balance first
  timeout server 300ms
frontend web from base
  bind %s
  default_backend app
backend app from fast
  server s1 %s
  server s2 %s
`, addr, s1.addr, s2.addr), addr)
	if hap := defaultsTraffic(t, addr); !reflect.DeepEqual(hap, got) {
		t.Fatalf("HAProxy answered %q, strata %q", hap, got)
	}
}

// defaultsTraffic sends four requests and one to a server that answers
// in 3s on one connection, and returns "STATUS SERVER" for each.
func defaultsTraffic(t *testing.T, addr string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var out []string
	for _, path := range []string{"/r0", "/r1", "/r2", "/r3", "/delay/3s"} {
		resp := getOn(t, c, br, "test", path)
		out = append(out, fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("x-server")))
	}
	c.SetDeadline(time.Time{})
	return out
}
