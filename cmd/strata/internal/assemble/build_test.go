package assemble

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/config"
)

// Configuration errors that involve plugins: each names its path and says
// why, and a failed Build leaves nothing loaded.
func TestBuild_Errors(t *testing.T) {
	const base = `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    default_backend: app
%s
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    default_backend: tcpapp
%s
backends:
  app: { mode: http, servers: { s1: { address: "127.0.0.1:9" } } }
  tcpapp: { mode: tcp, servers: { s1: { address: "127.0.0.1:9" } } }
plugins:
%s
`
	tests := []struct {
		name               string
		web, tcp, plugins  string
		wantPath, wantText string
	}{
		{name: "lacking grants", plugins: `  rewrite: { file: "{{wasm:rewrite}}", grants: [headers] }`,
			wantPath: "plugins.rewrite", wantText: "lacks grants: route (route_set); add them to the plugin's grants"},
		{name: "missing module", plugins: `  ghost: { file: "/nonexistent/ghost.wasm" }`,
			wantPath: "plugins.ghost.file", wantText: "no such file"},
		{name: "unknown grant", plugins: `  uaclass: { file: "{{wasm:uaclass}}", grants: [teleport] }`,
			wantPath: "plugins.uaclass", wantText: `unknown grant "teleport"`},
		{name: "a fetch needing TXN in tcp-request connection", web: `    tcp_request_connection: ["reject if { ua_class bot }"]`,
			plugins:  `  uaclass: { file: "{{wasm:uaclass}}" }`,
			wantPath: "frontends.web.tcp_request_connection[0]", wantText: "TXN"},
		{name: "two plugins register one fetch", plugins: "  a: { file: \"{{wasm:uaclass}}\" }\n  b: { file: \"{{wasm:uaclass}}\" }",
			wantPath: "plugins.b", wantText: "ua_class"},
		{name: "unknown target", web: `    use_backend: ["nosuch"]`, plugins: `  canary: { file: "{{wasm:canary}}", grants: [headers, route] }`,
			wantPath: "frontends.web.use_backend[0]", wantText: `unknown backend or routing target "nosuch"; known routing targets: canary`},
		{name: "target arguments", web: `    use_backend: ["kpick(backend)"]`, plugins: `  kitchen: { file: "{{wasm:kitchen}}", grants: [headers, body, vars, stick_counters, route, respond, log, trace, clock, random] }`,
			wantPath: "frontends.web.use_backend[0]", wantText: "routing target kpick: takes 2 argument(s), got 1"},
		{name: "an HTTP-only service in a tcp frontend", tcp: `    use_service: ["inspect"]`, plugins: `  inspect: { file: "{{wasm:inspect}}", grants: [headers, stick_counters, respond] }`,
			wantPath: "frontends.tcp.use_service[0]", wantText: "answers HTTP only"},
		{name: "the built-in service in a tcp frontend", tcp: `    use_service: ["welcome"]`, plugins: `  uaclass: { file: "{{wasm:uaclass}}" }`,
			wantPath: "frontends.tcp.use_service[0]", wantText: "service welcome answers HTTP only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(base, "%s", tt.web, 1)
			yaml = strings.Replace(yaml, "%s", tt.tcp, 1)
			yaml = strings.Replace(yaml, "%s", tt.plugins, 1)
			cfg := loadConfig(t, yaml, nil)
			g, err := Build(context.Background(), cfg, Options{CacheDir: testCache, PluginConfig: patient})
			if err == nil {
				g.Close(context.Background())
				t.Fatal("no error")
			}
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%T %v, want *config.Errors", err, err)
			}
			for _, e := range errs.List {
				if e.Path == tt.wantPath && strings.Contains(e.Error(), tt.wantText) {
					return
				}
			}
			t.Errorf("no error at %s saying %q:\n%v", tt.wantPath, tt.wantText, err)
		})
	}
}

// A configuration without plugins builds without a plugin host.
func TestBuild_NoPlugins(t *testing.T) {
	cfg := loadConfig(t, `
frontends:
  web: { bind: ["127.0.0.1:0"], mode: http, use_service: ["welcome"] }
`, nil)
	g, err := Build(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	if g.host != nil || len(g.Plugins()) != 0 {
		t.Error("a plugin host without plugins")
	}
}
