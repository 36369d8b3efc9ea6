package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Scenario tests of active and passive health checks.

// TestHealth_RiseFall stops a server and starts it again: it goes down
// after `fall` failed checks and up after `rise` good ones, and takes no
// stream while down.
func TestHealth_RiseFall(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    timeouts: { connect: 1s, server: 5s }
    health_check: { type: http, path: /health, interval: 100ms, timeout: 2s, rise: 3, fall: 3 }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
`), vars)
	const interval = 100 * time.Millisecond
	testsupport.WaitFor(t, 5*time.Second, "first checks of s2", func() bool { return p.server(t, "s2").Check.Last.Status == "L7OK" })
	if s := p.server(t, "s2"); s.Health != "up" || s.Summary != "UP" || s.Check.Last.Code != 200 {
		t.Fatalf("s2 before: %+v", s)
	}
	cl := dial(t, p.addr("web"), "")
	if c := map[string]int{cl.get(t, "/").server: 1, cl.get(t, "/").server: 1}; len(c) != 2 {
		t.Fatalf("both servers up, got %v", c)
	}

	ups["s2"].Kill()
	killed := time.Now()
	testsupport.WaitFor(t, 5*time.Second, "s2 down", func() bool { return p.server(t, "s2").Health == "down" })
	if d := time.Since(killed); d < (3-1)*interval {
		t.Fatalf("down after %v: fewer than fall=3 checks", d)
	}
	s := p.server(t, "s2")
	if s.Summary != "DOWN" || s.Check.Last.Status != "L4CON" || s.Check.Downs != 1 {
		t.Fatalf("s2 down: %+v", s)
	}
	for range 6 {
		if r := cl.get(t, "/"); r.status != 200 || r.server != "s1" {
			t.Fatalf("with s2 down: %+v", r)
		}
	}

	startUpstream(t, "-name", "s2", "-listen", vars["s2"])
	restarted := time.Now()
	testsupport.WaitFor(t, 5*time.Second, "s2 up again", func() bool { return p.server(t, "s2").Health == "up" })
	if d := time.Since(restarted); d < (3-1)*interval {
		t.Fatalf("up after %v: fewer than rise=3 checks", d)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[cl.get(t, "/").server] = true
	}
	if !seen["s2"] {
		t.Fatalf("s2 back up but unused: %v", seen)
	}
}

// TestHealth_HTTPCheckRequest: the check sends the configured method,
// path and Host, and judges the status by expect.
func TestHealth_HTTPCheckRequest(t *testing.T) {
	tests := []struct {
		name   string
		check  string
		health string
		status string
		code   int
	}{
		{name: "unexpected status", check: `{ type: http, path: /status/503, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			health: "down", status: "L7STS", code: 503},
		{name: "expected status", check: `{ type: http, method: HEAD, path: /status/204, host: health.example, expect: { status: "204" }, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }`,
			health: "up", status: "L7OK", code: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, vars := startUpstreams(t, []string{"s1"})
			p := startProxy(t, backendConfig(`
    health_check: `+tt.check+`
    servers:
      s1: { address: "{{s1}}" }
`), vars)
			testsupport.WaitFor(t, 5*time.Second, "a check result", func() bool { return p.server(t, "s1").Check.Last.Status == tt.status })
			s := p.server(t, "s1")
			if s.Health != tt.health || s.Check.Last.Code != tt.code {
				t.Fatalf("server %+v", s)
			}
			evs := ups["s1"].Events(t, "request")
			if len(evs) == 0 {
				t.Fatal("no check request reached the server")
			}
			head := evs[0].Head // the raw head (base64 in the log)
			h := strings.ToLower(string(head))
			if tt.health == "up" && (evs[0].Method != "HEAD" || !strings.Contains(h, "host: health.example")) {
				t.Fatalf("check request %s %s\n%s", evs[0].Method, evs[0].URI, head)
			}
			if tt.health == "down" {
				if r := getOnce(t, p.addr("web"), "/"); r.status != 503 {
					t.Fatalf("no server up: %+v", r)
				}
			}
		})
	}
}

// TestHealth_BackupTakeover: when every active server is down, the first
// backup takes all the traffic; when an active server is back, it takes
// the traffic back.
func TestHealth_BackupTakeover(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"a1", "a2", "b1", "b2"})
	p := startProxy(t, backendConfig(`
    health_check: { type: tcp, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      a1: { address: "{{a1}}" }
      a2: { address: "{{a2}}" }
      b1: { address: "{{b1}}", backup: true }
      b2: { address: "{{b2}}", backup: true }
`), vars)
	cl := dial(t, p.addr("web"), "")
	got := func(n int) map[string]int {
		c := map[string]int{}
		for range n {
			r := cl.get(t, "/")
			if r.status != 200 {
				t.Fatalf("reply %+v", r)
			}
			c[r.server]++
		}
		return c
	}
	if c := got(6); c["a1"] != 3 || c["a2"] != 3 {
		t.Fatalf("actives up: %v", c)
	}
	ups["a1"].Kill()
	ups["a2"].Kill()
	testsupport.WaitFor(t, 5*time.Second, "actives down", func() bool {
		return p.server(t, "a1").Health == "down" && p.server(t, "a2").Health == "down"
	})
	if c := got(6); c["b1"] != 6 {
		t.Fatalf("actives down: %v, want everything on the first backup", c)
	}
	startUpstream(t, "-name", "a2", "-listen", vars["a2"])
	testsupport.WaitFor(t, 5*time.Second, "a2 up", func() bool { return p.server(t, "a2").Health == "up" })
	if c := got(6); c["a2"] != 6 {
		t.Fatalf("a2 back: %v", c)
	}
}

// TestPassive_Layer7: consecutive 5xx from a server take it down; the
// active check brings it back after rise successes.
func TestPassive_Layer7(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    balance: uri
    observe: layer7
    error_limit: 3
    health_check: { type: tcp, interval: 100ms, timeout: 2s, rise: 10, fall: 1000 }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	first := cl.get(t, "/status/500")
	bad := first.server
	other := map[string]string{"s1": "s2", "s2": "s1"}[bad]
	for range 2 {
		if r := cl.get(t, "/status/500"); r.server != bad || r.status != 500 {
			t.Fatalf("before error_limit: %+v", r)
		}
	}
	s := p.server(t, bad)
	if s.Health != "down" || !strings.Contains(s.Check.Observed, "3 consecutive 5xx") {
		t.Fatalf("after 3 errors: %+v", s)
	}
	if r := cl.get(t, "/status/500"); r.server != other {
		t.Fatalf("the path still goes to %s", r.server)
	}
	testsupport.WaitFor(t, 10*time.Second, "active checks bring the server back", func() bool { return p.server(t, bad).Health == "up" })
	if r := cl.get(t, "/status/500"); r.server != bad {
		t.Fatalf("after recovery the path goes to %s", r.server)
	}
}

// TestPassive_Layer4: consecutive connection failures take a server down,
// without active checks.
func TestPassive_Layer4(t *testing.T) {
	_, vars := startUpstreams(t, []string{"live"})
	vars["dead"] = closedAddr(t)
	p := startProxy(t, backendConfig(`
    observe: layer4
    error_limit: 2
    retries: 0
    timeouts: { connect: 1s, server: 5s }
    servers:
      dead: { address: "{{dead}}" }
      live: { address: "{{live}}" }
`), vars)
	cl := func() reply { return getOnce(t, p.addr("web"), "/") }
	// Round-robin: dead, live, dead — then dead is down.
	if r := cl(); r.status != 503 {
		t.Fatalf("1: %+v", r)
	}
	if r := cl(); r.server != "live" {
		t.Fatalf("2: %+v", r)
	}
	if r := cl(); r.status != 503 {
		t.Fatalf("3: %+v", r)
	}
	s := p.server(t, "dead")
	if s.Health != "down" || !strings.Contains(s.Check.Observed, "2 consecutive connection errors") {
		t.Fatalf("dead: %+v", s)
	}
	for range 4 {
		if r := cl(); r.server != "live" {
			t.Fatalf("after the server went down: %+v", r)
		}
	}
}
