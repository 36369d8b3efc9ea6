package proxy

import (
	"crypto/tls"
	"runtime"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/stream"

	"golang.org/x/net/http2"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_IdleConnMemory opens b.N keep-alive client connections
// that make one request each and stay idle, then reports what the process
// holds per connection once they have settled: goroutine stacks
// (stack-B/conn) and live heap (heap-B/conn, which includes the test
// client's socket, about 0.3 KiB). Run it with
// -benchtime=2000x; cmd/stratabench reports the resident memory the same
// connections cost a strata process, side by side with HAProxy.
func BenchmarkProxy_IdleConnMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		fe   string // the frontend dialled
		open func(b *testing.B, addr string) func()
	}{
		{name: "h1", fe: "web", open: idleH1},
		{name: "h2c", fe: "web", open: idleH2c},
		{name: "h2tls", fe: "secure", open: idleH2TLS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			_, site := testsupport.NewSite(b, "a.test")
			p := startProxy(b, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 60s, http_keep_alive: 60s }
    h2: { h2c: true }
    default_backend: app
  secure:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 60s, http_keep_alive: 60s }
    tls:
      certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
      alpn: [h2]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up, "cert": site.Cert, "key": site.Key})
			addr := p.addr(tc.fe)
			for range 20 { // what the process keeps whatever the load
				tc.open(b, addr)()
			}
			before := settledMemStats()
			var closers []func()
			for b.Loop() {
				closers = append(closers, tc.open(b, addr))
			}
			b.StopTimer()
			after := settledMemStats()
			n := float64(len(closers))
			b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/conn")
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-B/conn")
			for _, c := range closers {
				c()
			}
		})
	}
}

// settledMemStats waits for idle connections to park (parkAfter) and for
// two garbage collections (which shrink the stacks of blocked goroutines),
// then reads the memory statistics.
func settledMemStats() runtime.MemStats {
	time.Sleep(4 * stream.ParkAfter)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// idleH1 makes one HTTP/1.1 request on a new connection and leaves it
// open; the function returned closes it. Only the connection stays
// reachable, not the client's reader.
func idleH1(b *testing.B, addr string) func() {
	cl := dial(b, addr, "")
	if r := cl.get(b, "/"); r.status != 200 {
		b.Fatalf("status %d", r.status)
	}
	c := cl.c
	c.SetDeadline(time.Time{})
	return func() { c.Close() }
}

// idleH2c makes one HTTP/2 request (prior knowledge) on a new connection
// and leaves it open.
func idleH2c(b *testing.B, addr string) func() {
	return idleH2On(b, dialH2Attacker(b, addr))
}

// idleH2TLS is idleH2c over TLS (ALPN h2, the certificate not checked).
func idleH2TLS(b *testing.B, addr string) func() {
	return idleH2On(b, dialH2AttackerTLS(b, addr, &tls.Config{InsecureSkipVerify: true}))
}

// idleH2On makes one request with a and leaves its connection open.
func idleH2On(b *testing.B, a *h2Attacker) func() {
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.headers("/"), EndStream: true, EndHeaders: true}); err != nil {
		b.Fatal(err)
	}
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			b.Fatalf("waiting for the response: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			a.fr.WriteSettingsAck()
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream) {
			break
		}
	}
	c := a.c // not the framer and encoder
	c.SetDeadline(time.Time{})
	return func() { c.Close() }
}
