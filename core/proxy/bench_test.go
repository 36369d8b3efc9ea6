package proxy

import (
	"net"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_KeepAlive measures one proxied request on a keep-alive
// client connection and a pooled server connection. allocs/op is the
// figure the engine promises to keep at zero.
func BenchmarkProxy_KeepAlive(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rules string
	}{
		{name: "plain"},
		{name: "set-header", rules: `    http_request: ["set-header x-path %[path]"]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			cfg := strings.Replace(`
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
RULES
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, "RULES", tc.rules, 1)
			p := startProxy(b, cfg, map[string]string{"up": up})
			c, err := net.Dial("tcp", p.addr("web"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			testsupport.BenchKeepAlive(b, c)
		})
	}
}
