package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDefaults_Precedence: a frontend's or backend's own key wins over the
// section it names, which wins over `default`, which wins over the
// built-in value; a named section is decoded over `default`.
func TestDefaults_Precedence(t *testing.T) {
	const body = `
frontends:
  plain: { bind: ["127.0.0.1:8001"], default_backend: plain }
  named: { bind: ["127.0.0.1:8002"], default_backend: named, defaults: web }
  own:
    bind: ["127.0.0.1:8003"]
    default_backend: own
    defaults: web
    timeouts: { client: 7s, http_request: 3s }
    forward_for: false
  tcp: { bind: ["127.0.0.1:8004"], mode: tcp, default_backend: tcp }
backends:
  plain: { servers: { s: { address: "127.0.0.1:9001" } } }
  named: { defaults: web, servers: { s: { address: "127.0.0.1:9001" } } }
  own:
    defaults: web
    balance: first
    timeouts: { connect: 1s }
    health_check: false
    servers: { s: { address: "127.0.0.1:9001" } }
  tcp: { mode: tcp, servers: { s: { address: "127.0.0.1:9001" } } }
`
	t.Run("no defaults: built-in values", func(t *testing.T) {
		c := mustLoad(t, Sources{YAML: []byte(body + "defaults: { web: {} }\n")})
		f, b := c.Frontend("plain"), c.Backend("plain")
		if f.Timeouts != (FrontendTimeouts{DefaultClientTimeout, DefaultHTTPRequestTimeout, DefaultHTTPKeepAliveTimeout}) || f.ForwardFor != nil {
			t.Errorf("frontend %+v", f)
		}
		if b.Balance != DefaultBalance || b.Timeouts.Connect != DefaultConnectTimeout || b.Timeouts.Queue != DefaultConnectTimeout || b.HealthCheck != nil || b.Retries != DefaultRetries {
			t.Errorf("backend %+v", b)
		}
	})

	c := mustLoad(t, Sources{YAML: []byte(body + `
defaults:
  web:
    timeouts: { client: 20s, connect: 2s }
    balance: leastconn
    health_check: { type: http, path: /healthz }
  default:
    timeouts: { client: 40s, http_request: 4s, server: 50s, queue: 9s }
    forward_for: { header: x-real-ip }
    retries: 1
    redispatch: true
`)})
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"default applies to a frontend without defaults", c.Frontend("plain").Timeouts,
			// http_keep_alive follows the inherited http_request, as in HAProxy
			FrontendTimeouts{Client: 40 * time.Second, HTTPRequest: 4 * time.Second, HTTPKeepAlive: 4 * time.Second}},
		{"default's forward_for", c.Frontend("plain").ForwardFor.Header, "x-real-ip"},
		{"default applies to a backend without defaults", []any{c.Backend("plain").Retries, c.Backend("plain").Redispatch, c.Backend("plain").Timeouts.Server, c.Backend("plain").Balance},
			[]any{1, true, 50 * time.Second, DefaultBalance}},
		{"named section over default", c.Frontend("named").Timeouts,
			FrontendTimeouts{Client: 20 * time.Second, HTTPRequest: 4 * time.Second, HTTPKeepAlive: 4 * time.Second}},
		{"named backend: balance and timeouts", []any{c.Backend("named").Balance, c.Backend("named").Timeouts.Connect, c.Backend("named").Timeouts.Server, c.Backend("named").Timeouts.Queue},
			[]any{"leastconn", 2 * time.Second, 50 * time.Second, 9 * time.Second}},
		{"named backend: health check", []any{c.Backend("named").HealthCheck.Type, c.Backend("named").HealthCheck.Path}, []any{"http", "/healthz"}},
		{"own keys win", c.Frontend("own").Timeouts,
			FrontendTimeouts{Client: 7 * time.Second, HTTPRequest: 3 * time.Second, HTTPKeepAlive: 3 * time.Second}},
		{"forward_for: false turns the inherited one off", c.Frontend("own").ForwardFor == nil, true},
		{"own backend keys win", []any{c.Backend("own").Balance, c.Backend("own").Timeouts.Connect, c.Backend("own").HealthCheck == nil},
			[]any{"first", time.Second, true}},
		{"a TCP frontend inherits no forward_for", c.Frontend("tcp").ForwardFor == nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

// TestDefaults_Derived: a keep-alive or queue timeout that nobody sets
// follows http_request or connect, wherever those were set; one that a
// section sets stays.
func TestDefaults_Derived(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
defaults:
  default: { timeouts: { http_keep_alive: 12s, connect: 3s } }
  slow: { timeouts: { queue: 30s } }
frontends:
  web: { bind: ["127.0.0.1:8001"], default_backend: a, timeouts: { http_request: 2s } }
backends:
  a: { timeouts: { connect: 1s }, servers: { s: { address: "127.0.0.1:9001" } } }
  b: { defaults: slow, timeouts: { connect: 1s }, servers: { s: { address: "127.0.0.1:9001" } } }
`)})
	if got := c.Frontend("web").Timeouts; got.HTTPKeepAlive != 12*time.Second || got.HTTPRequest != 2*time.Second {
		t.Errorf("a keep-alive timeout set in default must stay: %+v", got)
	}
	if got := c.Backend("a").Timeouts.Queue; got != time.Second {
		t.Errorf("queue %v, want the backend's own connect timeout", got)
	}
	if got := c.Backend("b").Timeouts.Queue; got != 30*time.Second {
		t.Errorf("queue %v, want the section's 30s", got)
	}
}

// TestDefaults_Mode: mode is inherited, and a frontend and its backend
// must still agree.
func TestDefaults_Mode(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
defaults: { default: { mode: tcp } }
frontends: { db: { bind: ["127.0.0.1:5432"], default_backend: db } }
backends: { db: { servers: { s: { address: "127.0.0.1:9001" } } } }
`)})
	if c.Frontend("db").Mode != ModeTCP || c.Backend("db").Mode != ModeTCP {
		t.Fatalf("modes %v %v, want tcp", c.Frontend("db").Mode, c.Backend("db").Mode)
	}
	got := errorLines(t, Sources{YAML: []byte(`
defaults: { default: { mode: tcp }, web: { mode: http } }
frontends: { db: { bind: ["127.0.0.1:5432"], default_backend: db, defaults: web } }
backends: { db: { servers: { s: { address: "127.0.0.1:9001" } } } }
`)})
	if len(got) != 1 || !strings.HasPrefix(got[0], "frontends.db.default_backend: ") || !strings.Contains(got[0], "mode") {
		t.Fatalf("errors %q, want one about the modes", got)
	}
}

// TestDefaults_Errors: a bad section or reference is reported at its own
// path, once, with the names that exist.
func TestDefaults_Errors(t *testing.T) {
	const tail = `
backends: { app: { servers: { s: { address: "127.0.0.1:9001" } } } }
`
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown name, with the known ones",
			"defaults: { web: {}, api: {} }\nfrontends: { f: { bind: [\"127.0.0.1:1\"], default_backend: app, defaults: nope } }" + tail,
			[]string{`frontends.f.defaults: unknown defaults section "nope"; define it under defaults, or name one of: api, web`}},
		{"a likely typo",
			"defaults: { web: {}, api: {} }\nfrontends: { f: { bind: [\"127.0.0.1:1\"], default_backend: app, defaults: wbe } }" + tail,
			[]string{`frontends.f.defaults: unknown defaults section "wbe"; did you mean "web"? defined: api, web`}},
		{"no section at all",
			"frontends: { f: { bind: [\"127.0.0.1:1\"], default_backend: app } }\nbackends: { app: { defaults: web, servers: { s: { address: \"127.0.0.1:9001\" } } } }\n",
			[]string{`backends.app.defaults: unknown defaults section "web"; define it: defaults: { web: { … } }`}},
		{"a bad value is reported once, at the section",
			"defaults: { default: { timeouts: { client: soon } } }\nfrontends:\n  f: { bind: [\"127.0.0.1:1\"], default_backend: app }\n  g: { bind: [\"127.0.0.1:2\"], default_backend: app }" + tail,
			[]string{`defaults.default.timeouts.client: invalid duration "soon"; ` + durationFix}},
		{"a key that is not inherited",
			"defaults: { default: { bind: [\":80\"] } }\nfrontends: { f: { bind: [\"127.0.0.1:1\"], default_backend: app } }" + tail,
			[]string{`defaults.default.bind: unknown key; bind is not inherited: set it under frontends.NAME`}},
		{"a bad balance",
			"defaults: { default: { balance: roundrobni } }\nfrontends: { f: { bind: [\"127.0.0.1:1\"], default_backend: app } }" + tail,
			[]string{`defaults.default.balance: invalid balance "roundrobni"; did you mean "roundrobin"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{YAML: []byte(tt.yaml)})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDefaults_LogFormat: a frontend takes log_format from its defaults
// section (HAProxy's `option httplog` in `defaults`) unless it writes
// its own; a bad format in a section is reported at the section's path.
func TestDefaults_LogFormat(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
defaults:
  default: { log_format: tcplog }
  web: { log_format: httplog }
frontends:
  a: { bind: ["127.0.0.1:8001"], default_backend: b, defaults: web }
  own: { bind: ["127.0.0.1:8002"], default_backend: b, defaults: web, log_format: "%ci %ST" }
  base: { bind: ["127.0.0.1:8003"], default_backend: b }
backends:
  b: { servers: { s: { address: "127.0.0.1:9001" } } }
`)})
	for name, want := range map[string]string{"a": "httplog", "own": "%ci %ST", "base": "tcplog"} {
		if got := c.Frontend(name).LogFormat; got != want {
			t.Errorf("frontend %s: log_format %q, want %q", name, got, want)
		}
	}
	_, err := Load(Sources{YAML: []byte(`
defaults:
  web: { log_format: "%{+Q" }
frontends:
  a: { bind: ["127.0.0.1:8001"], default_backend: b, defaults: web }
backends:
  b: { servers: { s: { address: "127.0.0.1:9001" } } }
`)})
	if err == nil || !strings.Contains(err.Error(), "defaults.web.log_format") {
		t.Fatalf("a bad log_format in a defaults section: got %v, want an error at defaults.web.log_format", err)
	}
}
