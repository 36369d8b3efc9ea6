package proxy

import (
	"bufio"
	"io"
	"net"
	"testing"

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
`, map[string]string{"up": up}, BuildOptions{Filters: testResolver{"noop": f}})
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench/path HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: strata-bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReaderSize(c, 4096)
	resp := make([]byte, len(testsupport.RawUpstreamResponse))
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, resp); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
}
