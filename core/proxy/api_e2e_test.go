package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestAPI_ServerState drives servers through the runtime API: each change
// applies to the next stream, health checks go on underneath and show.
func TestAPI_ServerState(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p := startProxy(t, backendConfig(`
    health_check: { type: tcp, interval: 50ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`)+`
  static:
    mode: http
    balance: static-rr
    servers:
      x1: { address: "{{s1}}", weight: 2 }
`, vars)
	api := startAdmin(t, p)
	cl := dial(t, p.addr("web"), "")
	round := func(n int) map[string]int {
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
	put := func(server, body string) ServerStats {
		t.Helper()
		var s ServerStats
		if code := api.call(t, "PUT", "/v1/backends/app/servers/"+server, body, &s); code != 200 {
			t.Fatalf("PUT %s %s: %d", server, body, code)
		}
		return s
	}

	var list []BackendStats
	if code := api.call(t, "GET", "/v1/backends", "", &list); code != 200 || len(list) != 2 || len(list[0].Servers) != 3 {
		t.Fatalf("GET /v1/backends: %d %+v", code, list)
	}
	if b := list[0]; b.Name != "app" || b.Balance != "roundrobin" || b.ServersUp != 3 {
		t.Fatalf("backend %+v", b)
	}

	// drain: no new stream.
	if s := put("s2", `{"state": "drain"}`); s.State != "drain" || s.Summary != "DRAIN" {
		t.Fatalf("after drain: %+v", s)
	}
	if c := round(6); c["s2"] != 0 || c["s1"] != 3 || c["s3"] != 3 {
		t.Fatalf("s2 drained: %v", c)
	}
	// maint: nothing; checks go on and their result shows.
	put("s2", `{"state": "maint"}`)
	ups["s2"].Kill()
	testsupport.WaitFor(t, 5*time.Second, "health of s2 in maint", func() bool {
		var s ServerStats
		api.call(t, "GET", "/v1/backends/app/servers/s2", "", &s)
		return s.Health == "down" && s.State == "maint" && s.Summary == "MAINT" && s.Check.Last.Status == "L4CON"
	})
	if c := round(4); c["s2"] != 0 {
		t.Fatalf("s2 in maint: %v", c)
	}
	// ready again, but down: still nothing until the checks say up.
	put("s2", `{"state": "ready"}`)
	if c := round(4); c["s2"] != 0 {
		t.Fatalf("s2 ready but down: %v", c)
	}
	startUpstream(t, "-name", "s2", "-listen", vars["s2"])
	testsupport.WaitFor(t, 5*time.Second, "s2 up", func() bool { return p.server(t, "s2").Health == "up" })
	if c := round(6); c["s2"] != 2 {
		t.Fatalf("s2 ready and up: %v", c)
	}
	// weight: the next streams follow it exactly.
	if s := put("s1", `{"weight": 3}`); s.Weight != 3 || s.InitialWeight != 1 {
		t.Fatalf("after weight: %+v", s)
	}
	if c := round(10); c["s1"] != 6 || c["s2"] != 2 || c["s3"] != 2 {
		t.Fatalf("weights 3:1:1 gave %v", c)
	}
	if s := put("s1", `{"weight": 0, "state": "ready"}`); s.Weight != 0 {
		t.Fatalf("weight 0: %+v", s)
	}
	if c := round(4); c["s1"] != 0 {
		t.Fatalf("weight 0 still chosen: %v", c)
	}

	errorsCases := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		msg    string
	}{
		{"bad state", "PUT", "/v1/backends/app/servers/s1", `{"state": "sleep"}`, 400, "invalid state"},
		{"bad weight", "PUT", "/v1/backends/app/servers/s1", `{"weight": 300}`, 400, "between 0 and 256"},
		{"nothing", "PUT", "/v1/backends/app/servers/s1", `{}`, 400, "nothing to change"},
		{"unknown field", "PUT", "/v1/backends/app/servers/s1", `{"stat": "drain"}`, 400, "unknown field"},
		{"not JSON", "PUT", "/v1/backends/app/servers/s1", `drain`, 400, "invalid JSON"},
		{"unknown server", "GET", "/v1/backends/app/servers/s9", "", 404, "no server named s9"},
		{"unknown backend", "PUT", "/v1/backends/nope/servers/s1", `{"state": "drain"}`, 404, "no backend named nope"},
		{"static weights", "PUT", "/v1/backends/static/servers/x1", `{"weight": 5}`, 409, "static weights"},
	}
	for _, tt := range errorsCases {
		t.Run(tt.name, func(t *testing.T) {
			var body string
			if code := api.call(t, tt.method, tt.path, tt.body, &body); code != tt.code || !strings.Contains(body, tt.msg) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if code := api.call(t, "PUT", "/v1/backends/static/servers/x1", `{"weight": 0}`, nil); code != 200 {
		t.Fatalf("static backend, weight 0: %d", code)
	}
	resp, err := http.Get(api.base + "/v1/backends")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without the token: %d", resp.StatusCode)
	}
}
