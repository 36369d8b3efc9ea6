package h2

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// writeCounter is a server transport that counts its Write calls: each is
// one write system call (or one per TLS record).
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (w writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(p)
}

// BenchmarkConn_ConcurrentStreams: ten small GETs at once on one warm
// connection, as h2load -m10 sends them; an op is the ten round trips.
// allocs/op over ten is the allocations of one stream (client and server
// side together); writes/stream is the server's Write calls per response,
// what batching the frames of streams that finish together brings down.
func BenchmarkConn_ConcurrentStreams(b *testing.B) {
	const streams = 10
	var writes atomic.Int64
	ts := startServerOver(b, Config{}, newOwnApp().serve, false, func(nc net.Conn) Transport {
		return writeCounter{Conn: nc, writes: &writes}
	})
	cc := dialClientConn(b, ts.addr, false, ClientConfig{})
	req := &ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/", EndStream: true,
		Fields: []hpack.HeaderField{{Name: "user-agent", Value: "bench"}}}
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	roundTrip := func() {
		defer wg.Done()
		s, err := cc.OpenStream(req)
		if err == nil {
			_, err = s.ReadResponse()
		}
		if err == nil {
			_, err = io.Copy(io.Discard, s)
		}
		if err != nil {
			errs <- err
		}
	}
	b.ReportAllocs()
	writes.Store(0)
	n := 0
	for b.Loop() {
		wg.Add(streams)
		for range streams {
			go roundTrip()
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		n++
	}
	b.ReportMetric(float64(writes.Load())/float64(n*streams), "writes/stream")
}
