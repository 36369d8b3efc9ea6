package testsupport

import (
	"bufio"
	"io"
	"net"
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
