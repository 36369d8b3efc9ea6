package config

import (
	"testing"
	"time"
)

func TestLoad_PluginCallTimeoutAndCache(t *testing.T) {
	tests := []struct {
		name, timeout string
		want          time.Duration
	}{
		{"duration", "50ms", 50 * time.Millisecond},
		{"none turns the deadline off", "none", -1},
		{"none in capitals", "None", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, Sources{YAML: []byte(`
global: { plugin_cache: cache/plugins }
frontends:
  web: { bind: ":8080", default_backend: app }
backends:
  app: { servers: { s1: { address: "10.0.0.1:80" } } }
plugins:
  p: { file: p.wasm, call_timeout: ` + tt.timeout + ` }
`)})
			if got := c.Plugin("p").CallTimeout; got != tt.want {
				t.Errorf("call_timeout = %v, want %v", got, tt.want)
			}
			if c.Global.PluginCache != "cache/plugins" {
				t.Errorf("plugin_cache = %q", c.Global.PluginCache)
			}
		})
	}
}
