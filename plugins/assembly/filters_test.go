package assembly

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// The generation's filter resolver builds chain entries from Proxy-Wasm
// plugins and refuses, at the entry's path, a plugin that is missing, not
// Proxy-Wasm, or refuses its configuration. Plugin stats name the ABI.
func TestFilterResolver(t *testing.T) {
	pw, err := testsupport.BuildWasm("../proxywasm/testdata/filters", "headers")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, `
frontends:
  web: { bind: ["127.0.0.1:0"], mode: http, use_service: ["welcome"] }
plugins:
  hdrs: { file: "{{pw}}" }
  uaclass: { file: "{{wasm:uaclass}}" }
`, map[string]string{"pw": pw})
	g, err := Build(context.Background(), cfg, Options{CacheDir: testCache, PluginConfig: patient})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	abis := map[string]string{}
	for _, s := range g.Stats() {
		abis[s.Name] = s.ABIName
	}
	if abis["hdrs"] != "proxy-wasm 0.2.0" || abis["uaclass"] != "strata_v1" {
		t.Errorf("ABIs %v", abis)
	}
	f, err := g.Filters().Filter(FilterConfig{Plugin: "hdrs", Config: []byte("x-cfg"), Path: "frontends.web.filters[0]"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "hdrs" || f.MaxBody() != 1<<20 {
		t.Errorf("name %q max body %d", f.Name(), f.MaxBody())
	}
	for _, tt := range []struct {
		name, plugin, config, wantPath, wantText string
	}{
		{"missing", "ghost", "", "frontends.web.filters[1].plugin", "no plugin named ghost"},
		{"strata_v1", "uaclass", "", "frontends.web.filters[1].plugin", "is a strata_v1 module, not a Proxy-Wasm filter"},
		{"configuration refused", "hdrs", "refuse", "frontends.web.filters[1]", "proxy_on_configure returned false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Filters().Filter(FilterConfig{Plugin: tt.plugin, Config: []byte(tt.config), Path: "frontends.web.filters[1]"}, nil)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Path != tt.wantPath || !strings.Contains(ce.Error(), tt.wantText) {
				t.Fatalf("err %v, want one at %s saying %q", err, tt.wantPath, tt.wantText)
			}
		})
	}
}
