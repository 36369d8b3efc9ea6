package proxy

import (
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_KeepAliveTracked is BenchmarkProxy_KeepAlive with stick
// tables: "tables" only defines them (the cost every request pays once a
// configuration has tables), "tracked" tracks the session and every
// stream and updates a counter on each request.
func BenchmarkProxy_KeepAliveTracked(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rules string
	}{
		{name: "tables"},
		{name: "tracked", rules: `    tcp_request_connection: ["track-sc0 src table per_ip"]
    http_request: ["track-sc1 src table per_req", "sc-inc-gpc(0,0)", "deny if { sc1_http_req_rate gt 1000000000 }"]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			p := startProxy(b, testsupport.BenchConfig(`stick_tables:
  per_ip: { type: ip, size: 1000, expire: 1m, store: [conn_cur, conn_rate(10s), http_req_rate(10s), http_err_rate(10s), "gpc(1)", bytes_out_cnt] }
  per_req: { type: ip, size: 1000, expire: 1m, store: [conn_cur, http_req_rate(10s)] }`, tc.rules), map[string]string{"up": up})
			testsupport.BenchKeepAliveTo(b, p.addr("web"))
		})
	}
}
