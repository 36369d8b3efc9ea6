package proxy

import (
	"path/filepath"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_KeepAliveLogged is BenchmarkProxy_KeepAlive with the
// access log on, written to a file: strata's own JSON line, and HAProxy's
// httplog with a captured header. allocs/op must stay at zero: lines are
// built in pooled buffers and queued without allocating.
func BenchmarkProxy_KeepAliveLogged(b *testing.B) {
	for _, tc := range []struct{ name, fe string }{
		{name: "json"},
		{name: "httplog", fe: `
    log_format: httplog
    capture_request_headers: [{ name: Host, len: 32 }]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			p := startProxyOwnLog(b, `
global:
  access_log: { output: "{{log}}" }
frontends:
  web:
    bind: ["127.0.0.1:0"]`+tc.fe+`
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up, "log": filepath.Join(b.TempDir(), "access.log")})
			testsupport.BenchKeepAliveTo(b, p.addr("web"))
		})
	}
}
