package proxy

import (
	"bytes"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkProxy_H2Stream measures one HTTP/2 stream (h2c, prior
// knowledge) proxied to a pooled HTTP/1.1 server connection. The client is
// a bare framer that reuses its frames and sends one pre-encoded head, so
// allocs/op is, nearly all of it, the proxy's per-stream cost.
func BenchmarkProxy_H2Stream(b *testing.B) {
	up := testsupport.RawUpstream(b)
	p := startProxy(b, `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up})
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		b.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.SetReuseFrames()
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	if err := fr.WriteWindowUpdate(0, 1<<30); err != nil {
		b.Fatal(err)
	}
	var head bytes.Buffer
	enc := hpack.NewEncoder(&head)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "bench.test"}, {":path", "/bench/path"}, {"user-agent", "strata-bench"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: true}) // never indexed: the same bytes every time
	}
	block := head.Bytes()
	id := uint32(1)
	roundTrip := func() {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			b.Fatal(err)
		}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				b.Fatal(err)
			}
			if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
				break
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				fr.WriteSettingsAck()
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok {
				b.Fatalf("stream %d reset: %v", r.StreamID, r.ErrCode)
			}
		}
		id += 2
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
