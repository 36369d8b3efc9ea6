package proxy

import (
	"testing"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_KeepAliveFilter is BenchmarkProxy_KeepAlive's plain case
// with one native filter that continues at every point: the cost of the
// chain's hook points and of the filter's own per-stream state.
func BenchmarkProxy_KeepAliveFilter(b *testing.B) {
	up := testsupport.RawUpstream(b)
	f := &testFilter{}
	p := startProxyWith(b, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    filters: [noop]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
plugins:
  noop: { file: noop.wasm }
`, map[string]string{"up": up}, generation.BuildOptions{Filters: testResolver{"noop": f}})
	testsupport.BenchKeepAliveTo(b, p.addr("web"))
}
