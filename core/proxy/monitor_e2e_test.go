package proxy

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestMonitorURI_Draining: the frontend answers its monitor_uri itself,
// before any rule (a deny-all rule does not see it), with HAProxy's 200
// page while it serves; once a graceful stop has begun it answers 503, so
// that a load balancer's check takes the instance out while the
// connections it still has finish.
func TestMonitorURI_Draining(t *testing.T) {
	p := startMonitorProxy(t)
	addr := p.addr("web")
	cl := dial(t, addr, "")
	if r := cl.get(t, "/healthz"); r.status != 200 || r.server != "" || !strings.Contains(r.body, "Service ready.") {
		t.Fatalf("GET /healthz: %+v", r)
	}
	// Only the exact URI, as HAProxy 2.6 compares it: anything else goes
	// through the rules and to the server.
	if r := cl.get(t, "/healthz?full=1"); r.status != 200 || r.server != "s1" {
		t.Fatalf("GET /healthz?full=1: %+v", r)
	}
	if r := cl.get(t, "/private"); r.status != 403 {
		t.Fatalf("GET /private: %+v", r)
	}

	// Draining: idle connections linger (as in a binary upgrade), so the
	// client's connection is still there to ask.
	p.SetIdleLinger(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Shutdown(ctx) }()
	testsupport.WaitFor(t, 5*time.Second, "listener closed by the graceful stop", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if r := cl.get(t, "/healthz"); r.status != 503 || !strings.Contains(r.body, "503 Service Unavailable") {
		t.Fatalf("GET /healthz while draining: %+v", r)
	}
	cancel() // the grace period ends: Shutdown closes what is left
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its grace period ended")
	}
}

// TestMonitorURI_H2: the monitor URI is answered the same over HTTP/2
// (h2c), by the engine both fronts share.
func TestMonitorURI_H2(t *testing.T) {
	p := startMonitorProxy(t)
	var dials atomic.Int64
	c := h2Client(p.addr("web"), nil, &dials)
	for _, tt := range []struct {
		path, server string
		body         string
	}{
		{path: "/healthz", body: "Service ready."},
		{path: "/healthz?x", server: "s1"},
	} {
		resp, err := c.Get("http://test" + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("x-server") != tt.server ||
			!strings.Contains(string(b), tt.body) || (tt.server == "" && resp.Header.Get("cache-control") != "no-cache") {
			t.Errorf("GET %s: %s %d x-server %q cache-control %q %q", tt.path, resp.Proto, resp.StatusCode,
				resp.Header.Get("x-server"), resp.Header.Get("cache-control"), b)
		}
	}
}

// startMonitorProxy starts a frontend with monitor_uri /healthz over
// HTTP/1.1 and h2c, before one server s1. Its rule denies /healthz (and
// /private): a 403 for the monitor URI would show the rule saw it.
func startMonitorProxy(t *testing.T) *testProxy {
	t.Helper()
	_, vars := startUpstreams(t, []string{"s1"})
	return startProxy(t, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    monitor_uri: /healthz
    http_request: ["deny status 403 if { url /healthz } || { path /private }"]
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{s1}}" }
`, vars)
}
