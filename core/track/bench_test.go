package track

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/strata-proxy/strata/core/rules"
)

// BenchmarkEngine_Request is the tracking work of one HTTP request, as the
// engine does it: count the request, run http-request track-sc1 and
// sc-inc-gpc(0,0), read sc1_http_req_rate, end the stream (count bytes,
// release the stream's tracker). "session" has the session tracked in
// sc0 only; "session+stream" adds the stream's own tracker. Run in
// parallel, each goroutine one client (its own entries).
func BenchmarkEngine_Request(b *testing.B) {
	for _, streamTrack := range []bool{false, true} {
		name := "session"
		if streamTrack {
			name = "session+stream"
		}
		b.Run(name, func(b *testing.B) {
			te := newTestEnv(b, 3, tableSpec{"per_ip", "ip", "conn_cur,conn_rate(10s),http_req_rate(10s),http_err_rate(10s),gpc(1),bytes_out_cnt", 100000})
			trackSrc := te.rule(b, rules.TCPConnection, "track-sc0 src")
			trackStream := te.rule(b, rules.HTTPRequest, "track-sc1 src")
			inc := te.rule(b, rules.HTTPRequest, "sc-inc-gpc(0,0)")
			rate := te.expr(b, rules.HTTPRequest, "sc1_http_req_rate")
			var next atomic.Uint32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := next.Add(1)
				k := te.newConn(fmt.Sprint(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})))
				trackSrc.Eval(k.sessCtx())
				st, ctx := k.stream()
				for pb.Next() {
					te.e.CountRequest(st)
					if streamTrack {
						trackStream.Eval(ctx)
					}
					inc.Eval(ctx)
					rate.Eval(ctx)
					st.BytesIn, st.BytesOut = 100, 1000
					te.e.EndStream(st, true)
				}
				te.e.EndSession(&k.sess)
			})
		})
	}
}
