package assemble

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/plugins"
)

// The test-only plugins that fail in every way, through the running proxy:
// what the client gets under each on_error policy, the termination cause in
// the access log, the plugin's counters, the replacement of a discarded
// instance, and other requests served meanwhile.

const misbehaveConfig = webFrontend + `
    http_request:
      - "set-header x-ok %[ok] if { path_beg /ok }"
      - "set-header x-v %[trap] if { path_beg /trap }"
      - "set-header x-v %[spin] if { path_beg /spin }"
      - "set-header x-v %[grow] if { path_beg /grow }"
      - "set-header x-v %[fail] if { path_beg /fail }"
      - "set-header x-v %[req.hdr(x-in),trap_conv] if { path_beg /conv }"
      - "trap_action if { path_beg /action }"
    use_service: ["trap_service if { path_beg /service }"]
    use_backend: ["trap_target if { path_beg /target }"]
    default_backend: app
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    use_service: ["trap_service"]
    default_backend: tcpapp
  tcpcontent:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    tcp_request_content: ["reject if { trap eq 1 }"]
    default_backend: tcpapp
plugins:
  mb:
    file: "{{wasm:misbehave}}"
    on_error: {{on_error}}
    call_timeout: 2s
    memory_limit: 48MiB
    instances: { min: 1, max: 4 }
backends:` + appBackend + `
  tcpapp:
    mode: tcp
    timeouts: { connect: 2s, server: 10s }
    servers:
      t1: { address: "{{tcp}}" }
`

// lost counts instances lost by any cause.
func lost(s plugins.Stats) uint64 { return s.Traps + s.Timeouts + s.MemoryFaults }

func TestMisbehave_OnErrorThroughTheProxy(t *testing.T) {
	for _, onErr := range []string{"fail_closed", "fail_open"} {
		t.Run(onErr, func(t *testing.T) {
			closed := onErr == "fail_closed"
			app := startUpstream(t, "-name", "app", "-mode", "echo")
			tcpUp := startUpstream(t, "-mode", "tcp")
			p := startProxy(t, misbehaveConfig, map[string]string{"up": app.Addr, "tcp": tcpUp.Addr, "on_error": onErr}, nil)

			// A client on another path, on its own connection, the whole
			// time: it must only ever see 200s.
			stop := make(chan struct{})
			done, served := p.hammer(t, "web", "/plain", stop)
			defer func() {
				close(stop)
				if bad := <-done; len(bad) > 0 {
					t.Errorf("the parallel client got %d failures, first: %s", len(bad), bad[0])
				}
				if served() == 0 {
					t.Error("the parallel client made no request")
				}
			}()

			created := p.stats(t, "mb").Created
			tests := []struct {
				name, path string
				headers    []string
				// counted reports whether the failure shows in the
				// counters (before, after).
				counted func(b, a plugins.Stats) bool
			}{
				{"fetch traps", "/trap", nil, func(b, a plugins.Stats) bool { return a.Traps == b.Traps+1 }},
				{"fetch loops past call_timeout", "/spin", nil, func(b, a plugins.Stats) bool { return a.Timeouts == b.Timeouts+1 }},
				{"fetch grows memory past memory_limit", "/grow", nil, func(b, a plugins.Stats) bool { return lost(a) == lost(b)+1 }},
				{"fetch returns an error", "/fail", nil, func(b, a plugins.Stats) bool { return a.Errors > b.Errors && lost(a) == lost(b) }},
				{"converter traps", "/conv", []string{"x-in", "trap"}, func(b, a plugins.Stats) bool { return a.Traps == b.Traps+1 }},
				{"action traps", "/action", nil, func(b, a plugins.Stats) bool { return a.Traps == b.Traps+1 }},
				{"routing target traps", "/target", nil, func(b, a plugins.Stats) bool { return a.Traps == b.Traps+1 }},
				{"service traps", "/service", nil, func(b, a plugins.Stats) bool { return a.Traps == b.Traps+1 }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := p.stats(t, "mb")
					r := p.get(t, "web", tt.path, tt.headers...)
					after := p.stats(t, "mb")
					if !tt.counted(before, after) {
						t.Errorf("counters before %+v, after %+v", before, after)
					}
					l := p.logFor(t, "uri", tt.path)
					if closed {
						if r.status != 500 || l["termination_cause"] != "plugin" || l["status"] != float64(500) {
							t.Errorf("got %d, access log %v; want 500 with termination cause plugin", r.status, l)
						}
						return
					}
					// fail_open: as if the rule were not there.
					if r.status != 200 || r.header.Get("x-server") != "app" || l["termination_cause"] != "none" {
						t.Fatalf("got %d from %q, access log %v; want the server's 200", r.status, r.header.Get("x-server"), l)
					}
					if v, ok := decodeEcho(t, r).First("x-v"); ok && v != "" {
						t.Errorf("x-v = %q from a failed call", v)
					}
				})
				// A fresh instance serves the next call.
				r := p.get(t, "web", "/ok")
				if v, _ := decodeEcho(t, r).First("x-ok"); r.status != 200 || v != "42" {
					t.Fatalf("after %s: /ok got %d with x-ok %q", tt.name, r.status, v)
				}
			}
			if s := p.stats(t, "mb"); s.Created < created+6 || s.Instances < 1 {
				t.Errorf("instances were not replaced: %+v", s)
			}

			t.Run("tcp service traps", func(t *testing.T) {
				got := rawExchange(t, p.addr("tcp"), "ping", true)
				l := p.logFor(t, "frontend", "tcp")
				if closed {
					if got != "" || l["termination_cause"] != "plugin" {
						t.Errorf("got %q, access log %v; want a close with termination cause plugin", got, l)
					}
					return
				}
				if got != "ping" || l["backend"] != "tcpapp" || l["termination_cause"] != "none" {
					t.Errorf("got %q, access log %v; want the stream to go on to the server", got, l)
				}
			})
			t.Run("tcp-request content fetch traps", func(t *testing.T) {
				got := rawExchange(t, p.addr("tcpcontent"), "ping", true)
				l := p.logFor(t, "frontend", "tcpcontent")
				if closed {
					if got != "" || l["termination_cause"] != "plugin" {
						t.Errorf("got %q, access log %v; want a reject with termination cause plugin", got, l)
					}
					return
				}
				if got != "ping" || l["termination_cause"] != "none" {
					t.Errorf("got %q, access log %v", got, l)
				}
			})
		})
	}
}

// A host call that needs a layer the call lacks gets the layer error, and
// a handle kept from an earlier call is refused: the stream goes on.
func TestMisbehave_LayerErrorAndStaleHandle(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, webFrontend+`
    tcp_request_connection: ["peek"]
    http_request:
      - "peek if { path_beg /peekhttp }"
      - "return status 200 content-type text/plain lf-string %[var(proc.peek_status)] if { path_beg /peek }"
      - "return status 200 content-type text/plain lf-string %[stale] if { path_beg /stale }"
    default_backend: app
plugins:
  mb: { file: "{{wasm:misbehave}}", call_timeout: 5s, instances: { min: 1, max: 1 } }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)

	// tcp-request connection has no transaction: req_header_get says
	// ERR_LAYER (-2); at http-request it finds the header (0).
	if r := p.get(t, "web", "/peek"); r.status != 200 || r.body != "-2" {
		t.Errorf("peek at tcp-request connection: %d %q, want -2", r.status, r.body)
	}
	if r := p.get(t, "web", "/peekhttp"); r.status != 200 || r.body != "0" {
		t.Errorf("peek at http-request: %d %q, want 0", r.status, r.body)
	}
	if r := p.get(t, "web", "/stale"); r.body != "0" {
		t.Errorf("first stale call: %q", r.body)
	}
	if r := p.get(t, "web", "/stale"); r.body != "-3" {
		t.Errorf("a handle kept from an earlier call: %q, want ERR_HANDLE (-3)", r.body)
	}
	if s := p.stats(t, "mb"); lost(s) != 0 {
		t.Errorf("an instance was lost: %+v", s)
	}
}

// After repeated failures the plugin is quarantined: its rules fail (here
// closed) without calling it, until the backoff expires and a call
// succeeds.
func TestMisbehave_Quarantine(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request:
      - "set-header x-ok %[ok] if { path_beg /ok }"
      - "set-header x-v %[trap] if { path_beg /trap }"
    default_backend: app
plugins:
  mb: { file: "{{wasm:misbehave}}", call_timeout: 5s, instances: { min: 1, max: 1 } }
backends:`+appBackend, map[string]string{"up": up.Addr}, func(hc *plugins.Config) {
		patient(hc)
		hc.Quarantine = plugins.Quarantine{Failures: 3, Window: time.Minute, Backoff: 3 * time.Second}
	})
	for i := range 3 {
		if r := p.get(t, "web", "/trap"); r.status != 500 {
			t.Fatalf("trap %d: %d", i, r.status)
		}
	}
	s := p.stats(t, "mb")
	if !s.Quarantine.Active || s.Quarantine.Total != 1 {
		t.Fatalf("not quarantined after 3 traps: %+v", s.Quarantine)
	}
	if r := p.get(t, "web", "/ok"); r.status != 500 {
		t.Errorf("a quarantined plugin's rule: %d, want 500 (fail_closed)", r.status)
	}
	if s := p.stats(t, "mb"); s.Skipped == 0 || s.Calls != 3 {
		t.Errorf("the quarantined plugin was called: %+v", s)
	}
	var list []map[string]any
	p.apiGet(t, "/v1/plugins", &list)
	if q, _ := list[0]["quarantine"].(map[string]any); q["active"] != true {
		t.Errorf("GET /v1/plugins: quarantine %v", list[0]["quarantine"])
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.stats(t, "mb").Quarantine.Active {
		if time.Now().After(deadline) {
			t.Fatal("the quarantine did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := p.get(t, "web", "/ok"); r.status != 200 {
		t.Fatalf("the probe after the backoff: %d", r.status)
	}
	if q := p.stats(t, "mb").Quarantine; q.Active || q.Probing || q.Level != 0 {
		t.Errorf("not healthy after a successful probe: %+v", q)
	}
}

// GET /v1/plugins lists what the runtime API promises.
func TestAPI_Plugins(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, webFrontend+`
    http_request: ["set-header x-c %[ua_class]"]
    default_backend: app
plugins:
  uaclass: { file: "{{wasm:uaclass}}", call_timeout: 5s }
  bucket: { file: "{{wasm:bucket}}", call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)
	p.get(t, "web", "/")
	var list []map[string]any
	p.apiGet(t, "/v1/plugins", &list)
	if len(list) != 2 || list[0]["name"] != "uaclass" || list[1]["name"] != "bucket" {
		t.Fatalf("plugins %v", list)
	}
	for _, key := range []string{"name", "file", "abi", "registrations", "instances", "calls", "errors", "traps", "timeouts", "memory_faults", "quarantine", "grants", "on_error"} {
		if _, ok := list[0][key]; !ok {
			t.Errorf("no %q in %v", key, list[0])
		}
	}
	if list[0]["abi"] != float64(1) || list[0]["calls"] != float64(1) || !strings.HasSuffix(list[0]["file"].(string), "uaclass.wasm") {
		t.Errorf("uaclass: %v", list[0])
	}
	if regs, _ := list[0]["registrations"].([]any); len(regs) != 1 || !strings.Contains(regs[0].(string), "ua_class") {
		t.Errorf("registrations %v", list[0]["registrations"])
	}
	var one map[string]any
	p.apiGet(t, "/v1/plugins/bucket", &one)
	if one["name"] != "bucket" {
		t.Errorf("GET /v1/plugins/bucket: %v", one)
	}
	// A plugin the configuration does not have.
	req, _ := http.NewRequest("GET", "http://"+p.api+"/v1/plugins/nosuch", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /v1/plugins/nosuch: %d", resp.StatusCode)
	}
}
