package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestPool_DifferentialHAProxy runs HAProxy and strata side by side
// behind the same server, which closes idle keep-alive connections after
// 50ms while both proxies keep them for 10s: 100 POSTs through each, each
// sent after the server closed the connection the previous one used. Both
// answer 200 to every one, and the server handles every POST once.
//
// The server's close is logged after close(2), but its FIN may still be
// on its way to the proxy when the next POST leaves: that POST meets a
// connection the server closed before it arrived, and must go again
// (TestPool_ClosedAsRequestLeaves makes that moment certain). The 50ms
// are a keep-alive timeout, counted from an answer: an idle timeout
// would also close, on a loaded machine, the new connection a proxy
// opens for a POST before the POST reaches it; neither strata nor
// HAProxy (whose retries end once a connection is established) sends a
// request again after a fresh connection failed.
func TestPool_DifferentialHAProxy(t *testing.T) {
	ups, vars := startUpstreams(t, []string{"s1"}, "-keep-alive-timeout", "50ms")
	u := ups["s1"]
	haddr := haproxyAddr(t)
	startHAProxy(t, fmt.Sprintf(`global
defaults
  mode http
  timeout client 10s
  timeout server 5s
  timeout connect 5s
  timeout http-keep-alive 10s
frontend web
  bind %s
  default_backend app
backend app
  server s1 `+u.Addr+`
`, haddr), haddr)
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}" }
`), vars)

	const n = 100
	run := func(name, addr, prefix string) {
		t.Helper()
		cl := dial(t, addr, "")
		closed := len(u.Events(t, "close"))
		ok := 0
		for i := range n {
			if i > 0 {
				testsupport.WaitFor(t, 10*time.Second, name+": the server closing the idle connection", func() bool {
					return len(u.Events(t, "close")) >= closed+i
				})
			}
			if r := cl.postOn(fmt.Sprintf("/%s%d", prefix, i), "hello"); r.err == nil && r.status == 200 {
				ok++
			} else {
				t.Errorf("%s: POST %d: %+v", name, i+1, r)
				cl = dial(t, addr, "") // a 502 closes the connection
			}
		}
		seen := uriCounts(t, u)
		for i := range n {
			if c := seen[fmt.Sprintf("/%s%d", prefix, i)]; c != 1 {
				t.Errorf("%s: the server handled POST /%s%d %d times, want 1", name, prefix, i, c)
			}
		}
		t.Logf("%s: %d of %d POSTs answered 200", name, ok, n)
	}
	run("haproxy", haddr, "h")
	run("strata", p.addr("web"), "s")
}
