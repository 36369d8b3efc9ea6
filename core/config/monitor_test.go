package config

import (
	"strings"
	"testing"
)

// TestLoad_MonitorURI: monitor_uri is read as written, and refused with
// its path where it cannot work.
func TestLoad_MonitorURI(t *testing.T) {
	doc := func(mode, uri string) []byte {
		return []byte(`
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: ` + mode + `
    monitor_uri: "` + uri + `"
    default_backend: app
backends:
  app:
    mode: ` + mode + `
    servers:
      s1: { address: "127.0.0.1:1" }
`)
	}
	if c := mustLoad(t, Sources{YAML: doc("http", "/healthz")}); c.Frontends[0].MonitorURI != "/healthz" {
		t.Fatalf("MonitorURI %q", c.Frontends[0].MonitorURI)
	}
	tests := []struct {
		name, mode, uri, want string
	}{
		{name: "tcp mode", mode: "tcp", uri: "/healthz", want: "frontends.web.monitor_uri: monitor_uri needs mode: http"},
		{name: "not a URI", mode: "http", uri: "healthz", want: `frontends.web.monitor_uri: invalid URI "healthz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := errorLines(t, Sources{YAML: doc(tt.mode, tt.uri)})
			if !strings.Contains(strings.Join(lines, "\n"), tt.want) {
				t.Fatalf("errors %q, want one containing %q", lines, tt.want)
			}
		})
	}
}
