package proxy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMonitorURI_Draining: the frontend answers its monitor_uri itself,
// before any rule (a deny-all rule does not see it), with HAProxy's 200
// page while it serves; once a graceful stop has begun it answers 503, so
// that a load balancer's check takes the instance out while the
// connections it still has finish.
func TestMonitorURI_Draining(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1"})
	p := startProxy(t, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    monitor_uri: /healthz
    http_request: ["deny status 403 if { url /healthz } || { path /private }"]
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{s1}}" }
`, vars)
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
	eventually(t, 5*time.Second, "listener closed by the graceful stop", func() bool {
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
