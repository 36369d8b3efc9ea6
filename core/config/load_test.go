package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, src Sources) *Config {
	t.Helper()
	c, err := Load(src)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// errorLines loads src and returns the error lines (nil when it loads).
func errorLines(t *testing.T, src Sources) []string {
	t.Helper()
	c, err := Load(src)
	if err == nil {
		return nil
	}
	if c != nil {
		t.Errorf("Load returned a configuration with an error")
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error is %T, want *Errors", err)
	}
	if len(errs.List) == 0 {
		t.Fatalf("Load returned an empty *Errors")
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoad_Full(t *testing.T) {
	c := mustLoad(t, Sources{Files: []string{"testdata/full.yaml"}})

	abs, _ := filepath.Abs("testdata")
	if c.Dir != abs {
		t.Errorf("Dir = %q, want %q", c.Dir, abs)
	}
	if got := c.Global.Admin; got != (Admin{Listen: "127.0.0.1:9900", Token: "secret"}) {
		t.Errorf("Admin = %+v", got)
	}
	if got := c.Global.AccessLog; got != (AccessLog{Output: "stdout", Format: "json"}) {
		t.Errorf("AccessLog = %+v", got)
	}

	if len(c.Frontends) != 1 {
		t.Fatalf("%d frontends, want 1", len(c.Frontends))
	}
	f := c.Frontend("web")
	if f == nil || f != c.Frontends[0] {
		t.Fatalf("Frontend(web) = %v", f)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Path", f.Path, "frontends.web"},
		{"Bind", f.Bind, []string{"127.0.0.1:8080"}},
		{"Mode", f.Mode, ModeHTTP},
		{"Timeouts", f.Timeouts, FrontendTimeouts{Client: 30 * time.Second, HTTPRequest: 10 * time.Second, HTTPKeepAlive: 15 * time.Second}},
		{"ACLs", f.ACLs, map[string][]string{"is_admin": {"path_beg /admin"}}},
		{"ACLPath", f.ACLPath, "frontends.web.acls"},
		{"TCPRequestConnection", f.TCPRequestConnection, Rules{Path: "frontends.web.tcp_request_connection", List: []string{"reject if { src 10.0.0.0/8 }"}}},
		{"TCPRequestContent", f.TCPRequestContent, Rules{Path: "frontends.web.tcp_request_content", List: []string{"accept if { req.len gt 0 }"}}},
		{"HTTPRequest", f.HTTPRequest, Rules{Path: "frontends.web.http_request", List: []string{"set-header x-forwarded-proto http", "deny status 403 if is_admin"}}},
		{"HTTPResponse.List", f.HTTPResponse.List, []string{"del-header server"}},
		{"UseBackend.List", f.UseBackend.List, []string{"api if { path_beg /api/ }"}},
		{"UseService.Path", f.UseService.Path, "frontends.web.use_service"},
		{"DefaultBackend", f.DefaultBackend, "app"},
		{"rule path", f.HTTPRequest.ItemPath(1), "frontends.web.http_request[1]"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("frontend %s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}

	var names []string
	for _, b := range c.Backends {
		names = append(names, b.Name)
	}
	if want := []string{"app", "api"}; !reflect.DeepEqual(names, want) {
		t.Errorf("backends = %v, want %v (file order)", names, want)
	}
	app := c.Backend("app")
	var servers []string
	for _, s := range app.Servers {
		servers = append(servers, s.Name+"="+s.Address)
	}
	if want := []string{"s2=127.0.0.1:9002", "s1=127.0.0.1:9001"}; !reflect.DeepEqual(servers, want) {
		t.Errorf("servers = %v, want %v (file order)", servers, want)
	}
	if got, want := app.Timeouts, (BackendTimeouts{Connect: 2 * time.Second, Server: 30 * time.Second, Tunnel: time.Hour, Queue: 2 * time.Second, HTTPKeepAlive: DefaultServerKeepAlive}); got != want {
		t.Errorf("app timeouts = %+v, want %+v", got, want)
	}
	if s := app.Servers[0]; s.Path != "backends.app.servers.s2" || s.Weight != 1 {
		t.Errorf("server s2 = %+v", s)
	}
	if c.Backend("nope") != nil || c.Frontend("nope") != nil {
		t.Errorf("lookup of a missing name is not nil")
	}
	if got := c.Source("backends.app.servers.s1.address"); got != "testdata/full.yaml:23" {
		t.Errorf("Source = %q", got)
	}
	if got := c.Source("frontends.web.http_request[1]"); got != "testdata/full.yaml:12" {
		t.Errorf("Source of a list element = %q", got)
	}
}

func TestLoad_Defaults(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
frontends:
  web: { bind: ":8080", default_backend: app }
backends:
  app:
    health_check: { type: http }
    servers: { s1: { address: "10.0.0.1:80", tls: true } }
stick_tables:
  t: { type: string, size: 200k }
plugins:
  p: { file: p.wasm }
`)})
	if want := (Global{
		Grace: 10 * time.Second, MaxConn: 0,
		AccessLog: AccessLog{Output: "stdout", Format: "json"},
		Tune:      Tune{MaxRequestLine: 8192, MaxHeadBytes: 16384, MaxHeaders: 101, BufSize: 16384, StickCounters: 3},
		Tracing:   Tracing{Exporter: "none", SampleRatio: 1, ServiceName: "strata"},
		Metrics:   Metrics{Exporter: "none", Interval: 10 * time.Second},
	}); c.Global != want {
		t.Errorf("Global = %+v\nwant %+v", c.Global, want)
	}
	f := c.Frontends[0]
	if f.Mode != ModeHTTP || f.MaxConn != 0 || f.ForwardFor != nil || f.Forwarded {
		t.Errorf("frontend = %+v", f)
	}
	if want := (FrontendTimeouts{Client: 30 * time.Second, HTTPRequest: 10 * time.Second, HTTPKeepAlive: 15 * time.Second}); f.Timeouts != want {
		t.Errorf("frontend timeouts = %+v", f.Timeouts)
	}
	b := c.Backends[0]
	if b.Mode != ModeHTTP || b.Balance != "roundrobin" || b.HashType != "map-based" || b.Retries != 3 || b.Redispatch || b.ErrorLimit != 10 || b.Observe != "" || b.Stick != nil {
		t.Errorf("backend = %+v", b)
	}
	if want := (BackendTimeouts{Connect: 5 * time.Second, Server: 30 * time.Second, Tunnel: time.Hour, Queue: 5 * time.Second, HTTPKeepAlive: 4 * time.Second}); b.Timeouts != want {
		t.Errorf("backend timeouts = %+v", b.Timeouts)
	}
	wantHC := &HealthCheck{Type: "http", Path: "/", Method: "GET", Expect: Expect{Status: []StatusRange{{200, 399}}},
		Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}
	if !reflect.DeepEqual(b.HealthCheck, wantHC) {
		t.Errorf("health check = %+v", b.HealthCheck)
	}
	s := b.Servers[0]
	if s.Weight != 1 || s.MaxConn != 0 || s.Backup || s.Resolve || s.Disabled || s.SendProxy != "" || s.H2 {
		t.Errorf("server = %+v", s)
	}
	if s.TLS == nil || *s.TLS != (ServerTLS{Verify: "required"}) {
		t.Errorf("server tls = %+v", s.TLS)
	}
	if st := c.StickTable("t"); st == nil || st.Type != "string" || st.Len != 32 || st.Size != 200*1024 || st.Expire != 0 {
		t.Errorf("stick table = %+v", st)
	}
	p := c.Plugin("p")
	if p == nil || p.InstancesMin != 1 || p.InstancesMax != 16 || p.MemoryLimit != 32<<20 || p.CallTimeout != 100*time.Millisecond || p.OnError != "fail_closed" || p.Watch {
		t.Errorf("plugin = %+v", p)
	}
	if got := c.Resolve("p.wasm"); got != "p.wasm" {
		t.Errorf("Resolve with inline YAML = %q", got)
	}
}

func TestLoad_Values(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
global:
  grace: 1500
  tune: { bufsize: 64k, max_head_bytes: 32KiB }
frontends:
  web:
    bind: ["[::1]:8080", "127.0.0.1:8080"]
    timeouts: { client: 1m30s, http_request: 2s }
    acls: { api: ["path_beg /api", "hdr(host) api.example.com"] }
    forward_for: { header: X-Real-Client, except: ["127.0.0.0/8", "::1", "::ffff:10.0.0.0/104"] }
    forwarded: yes
    use_backend: "api if { req.hdr(host),lower -m str api }"
backends:
  api:
    balance: random(2)
    hash_type: consistent
    health_check: { type: http, path: /healthz, expect: { status: "200,204-206" }, interval: 5s, rise: 1 }
    stick: { on: src, table: per_ip }
    servers:
      z: { address: "app.internal:80", weight: "0", backup: true, send_proxy: v2, tls: { verify: none, sni: app } }
      a: { address: "10.0.0.2:80" }
stick_tables:
  per_ip: { type: ip, size: 1m, expire: 1d, store: "conn_cur, http_req_rate(10s)" }
plugins:
  auth:
    file: auth.wasm
    config: { limit: 10, ratio: 1.5, on: true, name: x }
    instances: { min: 2, max: 4 }
    memory_limit: 64MiB
    env: { MODE: 1 }
`)})
	if c.Global.Grace != 1500*time.Millisecond || c.Global.Tune.BufSize != 65536 || c.Global.Tune.MaxHeadBytes != 32768 {
		t.Errorf("global = %+v", c.Global)
	}
	f := c.Frontends[0]
	if f.Timeouts.Client != 90*time.Second || f.Timeouts.HTTPKeepAlive != 2*time.Second {
		t.Errorf("keep-alive does not follow http_request: %+v", f.Timeouts)
	}
	if !reflect.DeepEqual(f.ACLs["api"], []string{"path_beg /api", "hdr(host) api.example.com"}) {
		t.Errorf("acls = %v", f.ACLs)
	}
	wantFF := &ForwardFor{Header: "X-Real-Client", Except: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}}
	if !reflect.DeepEqual(f.ForwardFor, wantFF) || !f.Forwarded {
		t.Errorf("forward_for = %+v, forwarded = %v", f.ForwardFor, f.Forwarded)
	}
	if want := []string{"api if { req.hdr(host),lower -m str api }"}; !reflect.DeepEqual(f.UseBackend.List, want) {
		t.Errorf("a rule given as a string = %q", f.UseBackend.List)
	}
	b := c.Backends[0]
	if b.Balance != "random(2)" || b.HashType != "consistent" || *b.Stick != (Stick{On: "src", Table: "per_ip"}) {
		t.Errorf("backend = %+v", b)
	}
	if h := b.HealthCheck; h.Path != "/healthz" || h.Timeout != 5*time.Second || h.Rise != 1 || !h.Expect.Match(205) || h.Expect.Match(201) {
		t.Errorf("health check = %+v", h)
	}
	z := b.Servers[0]
	if z.Name != "z" || z.Weight != 0 || !z.Backup || z.SendProxy != "v2" || z.TLS.Verify != "none" || z.TLS.SNI != "app" {
		t.Errorf("server z = %+v", z)
	}
	st := c.StickTables[0]
	if st.Size != 1<<20 || st.Expire != 24*time.Hour || !reflect.DeepEqual(st.Store, []string{"conn_cur", "http_req_rate(10s)"}) {
		t.Errorf("stick table = %+v", st)
	}
	p := c.Plugins[0]
	if want := map[string]any{"limit": 10, "ratio": 1.5, "on": true, "name": "x"}; !reflect.DeepEqual(p.Config, want) {
		t.Errorf("plugin config = %#v, want YAML types", p.Config)
	}
	if p.InstancesMin != 2 || p.InstancesMax != 4 || p.MemoryLimit != 64<<20 || p.Env["MODE"] != "1" {
		t.Errorf("plugin = %+v", p)
	}
}

const baseYAML = `
global:
  maxconn: 1000
  admin: { listen: "unix:/run/strata.sock" }
frontends:
  web:
    bind: ["127.0.0.1:8080"]
    timeouts: { client: 30s }
    http_request: ["set-header a b", "del-header c"]
    default_backend: app
  web-2:
    bind: ["127.0.0.1:8081"]
    default_backend: api.v2
backends:
  app:
    servers:
      s2: { address: "127.0.0.1:9002" }
      s1: { address: "127.0.0.1:9001" }
  api.v2:
    servers:
      a1: { address: "127.0.0.1:9003" }
`

func TestLoad_Overrides(t *testing.T) {
	override := filepath.Join(t.TempDir(), "override.yaml")
	if err := os.WriteFile(override, []byte("global: { maxconn: 2000 }\nbackends:\n  app:\n    servers:\n      s0: { address: \"127.0.0.1:9000\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "base.yaml")
	if err := os.WriteFile(base, []byte(baseYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		src   Sources
		check func(*Config) (got, want any)
	}{
		{"env sets a nested key", Sources{Env: []string{"STRATA_GLOBAL__ADMIN__TOKEN=x", "PATH=/bin"}},
			func(c *Config) (any, any) { return c.Global.Admin.Token, "x" }},
		{"env list comma separated", Sources{Env: []string{"STRATA_FRONTENDS__WEB__BIND=127.0.0.1:9000, [::1]:9000"}},
			func(c *Config) (any, any) { return c.Frontend("web").Bind, []string{"127.0.0.1:9000", "[::1]:9000"} }},
		{"env list as YAML flow", Sources{Env: []string{`STRATA_FRONTENDS__WEB__BIND=["127.0.0.1:9000"]`}},
			func(c *Config) (any, any) { return c.Frontend("web").Bind, []string{"127.0.0.1:9000"} }},
		{"env rules as one string", Sources{Env: []string{"STRATA_FRONTENDS__WEB__HTTP_REQUEST=set-var(txn.a) str(x),lower"}},
			func(c *Config) (any, any) {
				return c.Frontend("web").HTTPRequest.List, []string{"set-var(txn.a) str(x),lower"}
			}},
		{"env name with a dash", Sources{Env: []string{"STRATA_FRONTENDS__WEB_2__MAXCONN=7"}},
			func(c *Config) (any, any) { return c.Frontend("web-2").MaxConn, 7 }},
		{"env name with a dot, upper case", Sources{Env: []string{"STRATA_BACKENDS__API_V2__RETRIES=1"}},
			func(c *Config) (any, any) { return c.Backend("api.v2").Retries, 1 }},
		{"env adds a server at the end", Sources{Env: []string{"STRATA_BACKENDS__APP__SERVERS__S9__ADDRESS=127.0.0.1:9009"}},
			func(c *Config) (any, any) { return serverNames(c.Backend("app")), "s2 s1 s9" }},
		{"env variable without __ is left alone", Sources{Env: []string{"STRATA_CONFIG=/etc/strata.yaml"}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 1000 }},
		{"set a duration", Sources{Sets: []string{"frontends.web.timeouts.client=5s"}},
			func(c *Config) (any, any) { return c.Frontend("web").Timeouts.Client, 5 * time.Second }},
		{"set through a dotted name", Sources{Sets: []string{"backends.api.v2.servers.a1.weight=9"}},
			func(c *Config) (any, any) { return c.Backend("api.v2").Servers[0].Weight, 9 }},
		{"set one rule", Sources{Sets: []string{"frontends.web.http_request[1]=del-header d"}},
			func(c *Config) (any, any) {
				return c.Frontend("web").HTTPRequest.List, []string{"set-header a b", "del-header d"}
			}},
		{"set appends a rule", Sources{Sets: []string{"frontends.web.http_request[2]=del-header e"}},
			func(c *Config) (any, any) { return len(c.Frontend("web").HTTPRequest.List), 3 }},
		{"set a mapping", Sources{Sets: []string{"backends.app.timeouts={connect: 1s, queue: 3s}"}},
			func(c *Config) (any, any) {
				tm := c.Backend("app").Timeouts
				return []time.Duration{tm.Connect, tm.Queue}, []time.Duration{time.Second, 3 * time.Second}
			}},
		{"set null restores the default", Sources{Sets: []string{"frontends.web.timeouts={}"}},
			func(c *Config) (any, any) { return c.Frontend("web").Timeouts.Client, DefaultClientTimeout }},
		{"env over file", Sources{Env: []string{"STRATA_GLOBAL__MAXCONN=5"}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 5 }},
		{"set over env over file", Sources{Env: []string{"STRATA_GLOBAL__MAXCONN=5"}, Sets: []string{"global.maxconn=6"}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 6 }},
		{"later set wins", Sources{Sets: []string{"global.maxconn=6", "global.maxconn=7"}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 7 }},
		{"second file over first", Sources{Files: []string{base, override}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 2000 }},
		{"second file adds servers after the first's", Sources{Files: []string{base, override}},
			func(c *Config) (any, any) { return serverNames(c.Backend("app")), "s2 s1 s0" }},
		{"env over second file", Sources{Files: []string{base, override}, Env: []string{"STRATA_GLOBAL__MAXCONN=3"}},
			func(c *Config) (any, any) { return c.Global.MaxConn, 3 }},
		{"Dir is the first file's", Sources{Files: []string{base, override}},
			func(c *Config) (any, any) { return c.Dir, filepath.Dir(base) }},
		{"env sets a whole section", Sources{Env: []string{"STRATA_GLOBAL={maxconn: 9, grace: 1s}"}},
			func(c *Config) (any, any) { return []any{c.Global.MaxConn, c.Global.Grace}, []any{9, time.Second} }},
		{"Resolve joins Dir", Sources{Files: []string{base}},
			func(c *Config) (any, any) {
				return []string{c.Resolve("p.wasm"), c.Resolve("/abs/p.wasm")}, []string{filepath.Join(filepath.Dir(base), "p.wasm"), "/abs/p.wasm"}
			}},
		{"source of an env value", Sources{Env: []string{"STRATA_GLOBAL__MAXCONN=5"}},
			func(c *Config) (any, any) { return c.Source("global.maxconn"), "env STRATA_GLOBAL__MAXCONN" }},
		{"source of a set list element", Sources{Sets: []string{"frontends.web.http_request[1]=x"}},
			func(c *Config) (any, any) { return c.Source("frontends.web.http_request[1]"), "--set" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.Files == nil {
				src.YAML = []byte(baseYAML)
			}
			got, want := tt.check(mustLoad(t, src))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func serverNames(b *Backend) string {
	var names []string
	for _, s := range b.Servers {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

func TestDefault(t *testing.T) {
	c := mustLoad(t, Sources{YAML: Default()})
	f := c.Frontend("welcome")
	if f == nil || !reflect.DeepEqual(f.Bind, []string{"127.0.0.1:8080"}) || f.Mode != ModeHTTP || f.DefaultBackend != "" {
		t.Fatalf("welcome frontend = %+v", f)
	}
	if !reflect.DeepEqual(f.UseService.List, []string{"welcome"}) {
		t.Errorf("use_service = %v", f.UseService.List)
	}
	if len(c.Backends) != 0 || c.Global.Admin.Listen != "" {
		t.Errorf("default config has backends or an admin listener")
	}
	d := Default()
	d[0] = 'x'
	if Default()[0] == 'x' {
		t.Errorf("Default returns shared bytes")
	}
}

func TestErrors_Error(t *testing.T) {
	errs := &Errors{List: []*Error{
		{Path: "a.b", Msg: "bad"},
		{Path: "c[1]", Msg: "worse", Fix: "fix it", Source: "f.yaml:3"},
	}}
	if got, want := errs.Error(), "a.b: bad\nc[1]: worse; fix it"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(errs, &e) || e.Path != "a.b" {
		t.Errorf("errors.As does not find the first *Error")
	}
}

func TestLoad_ErrorSource(t *testing.T) {
	_, err := Load(Sources{YAML: []byte("frontends:\n  web:\n    bind: [\":80\"]\n    default_backend: nope\n"),
		Env: []string{"STRATA_GLOBAL__MAXCONN=lots"}})
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	got := map[string]string{}
	for _, e := range errs.List {
		got[e.Path] = e.Source
	}
	want := map[string]string{
		"global.maxconn":                "env STRATA_GLOBAL__MAXCONN",
		"frontends.web.default_backend": "(inline):4",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources = %v, want %v", got, want)
	}
}
