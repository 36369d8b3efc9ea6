package assemble

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestScenario_Plugins: the plugin rows of the scenario suite (core/proxy
// runs the engine's rows), over HTTP/1.1 and HTTP/2, clear and TLS
// (testsupport.Modes), from one table: a plugin's action edits the
// request, its routing target chooses the backend from the request's own
// header, and an action or a target that traps fails its stream closed
// (500, termination cause plugin) in every protocol.
func TestScenario_Plugins(t *testing.T) {
	ca, site := testsupport.NewSite(t, "h2.test")
	a := startUpstream(t, "-mode", "echo", "-name", "A")
	b := startUpstream(t, "-mode", "echo", "-name", "B")
	cfg := "global:\n  access_log: { output: stdout, format: json }\n" +
		testsupport.DualFrontends(site, pluginRules) + pluginsAndBackends
	p := startProxy(t, cfg, map[string]string{"a": a.Addr, "b": b.Addr}, nil)
	for _, m := range testsupport.Modes {
		t.Run(m.Name, func(t *testing.T) {
			c := testsupport.NewClient(p.addr(m.Frontend), testsupport.Client{Proto: m.Proto, Roots: ca.Pool})
			defer c.CloseIdleConnections()
			// Every kind of h2Streams, the canary target both ways.
			streams := h2Streams(8)
			for i := range streams {
				streams[i].path += "-" + m.Name // its own access-log line
				streams[i].wantPath = streams[i].path
			}
			for _, s := range streams {
				if err := s.checkOver(c, m.Proto); err != nil {
					t.Error(err)
					continue
				}
				checkLogLine(t, p, s)
			}
		})
	}
}

// checkLogLine waits for the access-log line of s and checks its status,
// termination cause and backend.
func checkLogLine(t *testing.T, p *testProxy, s h2Stream) {
	t.Helper()
	var l map[string]any
	testsupport.WaitFor(t, 10*time.Second, "the access-log line of "+s.path, func() bool {
		for _, line := range strings.Split(p.alog.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["uri"] == s.path {
				l = m
				return true
			}
		}
		return false
	})
	switch {
	case s.wantStatus == 500:
		if l["status"] != float64(500) || l["termination_cause"] != "plugin" {
			t.Errorf("%s %s: access log %v, want 500 with termination cause plugin", s.name, s.path, l)
		}
	case l["status"] != float64(200) || l["termination_cause"] != "none" || l["backend"] != strings.ToLower(s.wantServer):
		t.Errorf("%s %s: access log %v, want 200 from backend %s", s.name, s.path, l, strings.ToLower(s.wantServer))
	}
}
