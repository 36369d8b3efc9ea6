package proxy

import (
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
			p := startProxy(b, testsupport.BenchConfig("", tc.rules), map[string]string{"up": up})
			testsupport.BenchKeepAliveTo(b, p.addr("web"))
		})
	}
}
