package assemble

import (
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// BenchmarkProxy_PluginAction measures one proxied keep-alive request whose
// path is copied into a request header: by a native rule, by the
// pathheader plugin action with its call deadline (the default), and by the
// same action with the deadline off (call_timeout < 0, which the
// configuration does not offer: it shows what enforcing the deadline
// costs); and one that gets a constant request header: by a native rule
// and by a Proxy-Wasm filter built with the Go SDK (addheader).
func BenchmarkProxy_PluginAction(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rules string
		tune  func(*plugins.Config)
	}{
		{name: "rule", rules: `    http_request: ["set-header x-path %[path]"]`},
		{name: "plugin", rules: `    http_request: ["path_header x-path"]`},
		{name: "plugin-nodeadline", rules: `    http_request: ["path_header x-path"]`, tune: func(hc *plugins.Config) { patient(hc); hc.CallTimeout = -1 }},
		{name: "set-header", rules: `    http_request: ["set-header x-filtered 1"]`},
		{name: "proxywasm", rules: `    filters: [addheader]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			pw, err := testsupport.BuildWasm("../../../../plugins/proxywasm/testdata/filters", "addheader")
			if err != nil {
				b.Fatal(err)
			}
			cfg := testsupport.BenchConfig(`plugins:
  pathheader: { file: "{{wasm:pathheader}}", grants: [headers] }
  addheader: { file: "{{pw}}" }`, tc.rules)
			p := startProxy(b, cfg, map[string]string{"up": up, "pw": pw}, tc.tune)
			testsupport.BenchKeepAliveTo(b, p.addr("web"))
		})
	}
}
