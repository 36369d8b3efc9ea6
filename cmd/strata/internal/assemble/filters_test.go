package assemble

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// A chain naming a plugin that is not Proxy-Wasm, or one whose module
// refuses its configuration, is refused when the generation is built
// (what strata check does), at the entry's path, saying why.
func TestBuild_FilterErrors(t *testing.T) {
	pw, err := testsupport.BuildWasm("../../../../plugins/proxywasm/testdata/filters", "headers")
	if err != nil {
		t.Fatal(err)
	}
	const yaml = `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    use_service: ["welcome"]
    filters:
      - { plugin: hdrs, config: x-cfg }
      - %s
plugins:
  hdrs: { file: "{{pw}}" }
  uaclass: { file: "{{wasm:uaclass}}" }
`
	tests := []struct {
		name, entry, wantText string
	}{
		{"strata_v1 plugin", "uaclass", "plugin uaclass (" + wasm(t, "uaclass") + ") is a strata_v1 module, not a Proxy-Wasm filter"},
		{"configuration refused", "{ plugin: hdrs, config: refuse }", "proxy_on_configure returned false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, strings.Replace(yaml, "%s", tt.entry, 1), map[string]string{"pw": pw})
			g, err := Build(context.Background(), cfg, Options{CacheDir: testCache, PluginConfig: patient})
			if err == nil {
				g.Close(context.Background())
				t.Fatal("built")
			}
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%T %v", err, err)
			}
			for _, e := range errs.List {
				if e.Path == "frontends.web.filters[1]" && strings.Contains(e.Msg, tt.wantText) {
					return
				}
			}
			t.Errorf("no error at frontends.web.filters[1] saying %q:\n%v", tt.wantText, err)
		})
	}
}
