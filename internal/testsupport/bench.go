package testsupport

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// BenchRequest is the request the keep-alive benchmarks send.
const BenchRequest = "GET /bench/path HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: strata-bench\r\nAccept: */*\r\n\r\n"

// BenchKeepAlive measures one request on the keep-alive client connection
// c, through a proxy in front of RawUpstream: it warms the connection up
// (100 requests: pools, buffers, lazily built state), then reports
// allocations and times b.N round trips.
func BenchKeepAlive(b *testing.B, c net.Conn) {
	b.Helper()
	req := []byte(BenchRequest)
	br := bufio.NewReaderSize(c, 4096)
	resp := make([]byte, len(RawUpstreamResponse))
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

// BenchKeepAliveTo is BenchKeepAlive on a new TCP connection to addr.
func BenchKeepAliveTo(b *testing.B, addr string) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	BenchKeepAlive(b, c)
}

// BenchConfig is the configuration of the keep-alive benchmarks: frontend
// web, its access log off, in front of backend app whose one server is
// "{{up}}" (RawUpstream). top goes right after the global access_log line
// (more global keys at two spaces, or top-level sections: plugins,
// stick_tables); rules are lines of frontend web (four spaces).
func BenchConfig(top, rules string) string {
	if rules != "" && !strings.HasSuffix(rules, "\n") {
		rules += "\n"
	}
	if top != "" && !strings.HasSuffix(top, "\n") {
		top += "\n"
	}
	return `
global:
  access_log: { output: none }
` + top + `frontends:
  web:
    bind: ["127.0.0.1:0"]
` + rules + `    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`
}
