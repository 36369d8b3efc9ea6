package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Attacks on HTTP/2 through the running proxy: the attacker's connection
// ends after a bounded amount of work, what reaches the servers stays
// bounded, and other clients keep being served meanwhile.

// h2AttackConfig serves h2c with small, explicit limits.
const h2AttackConfig = `
global:
  access_log: { output: none }
frontends:
  clear:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true, max_concurrent_streams: 20, max_resets: 100, max_header_list_size: 16k }
    default_backend: app
backends:
  app:
    servers: { s1: { address: "{{up}}" } }
`

// h2Attacker is a raw HTTP/2 client.
type h2Attacker struct {
	c     net.Conn
	fr    *http2.Framer
	block bytes.Buffer
	enc   *hpack.Encoder
}

func dialH2Attacker(t testing.TB, addr string) *h2Attacker {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return h2AttackerOn(t, c)
}

// dialH2AttackerTLS is dialH2Attacker over TLS, ALPN h2.
func dialH2AttackerTLS(t testing.TB, addr string, cfg *tls.Config) *h2Attacker {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		c.Close()
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	return h2AttackerOn(t, c)
}

// h2AttackerOn sends the client preface and SETTINGS on c.
func h2AttackerOn(t testing.TB, c net.Conn) *h2Attacker {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	a := &h2Attacker{c: c, fr: http2.NewFramer(c, c)}
	a.enc = hpack.NewEncoder(&a.block)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := a.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return a
}

// headers returns a request header block for path.
func (a *h2Attacker) headers(path string) []byte {
	a.block.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", path}} {
		a.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return a.block.Bytes()
}

// goAway reads frames until the proxy sends GOAWAY or closes, and returns
// the GOAWAY's error code (ok false when the connection closed without
// one).
func (a *h2Attacker) goAway() (code http2.ErrCode, ok bool) {
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		if g, isGoAway := f.(*http2.GoAwayFrame); isGoAway {
			return g.ErrCode, true
		}
	}
}

// servedMeanwhile checks that another client gets its answer.
func servedMeanwhile(t *testing.T, addr string) {
	t.Helper()
	var dials atomic.Int64
	c := h2Client(addr, nil, &dials)
	resp, err := c.Get("http://a.test/")
	if err != nil {
		t.Fatalf("another client was not served: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another client got %d", resp.StatusCode)
	}
}

// TestH2_RapidReset: a client opening streams and resetting them at once
// (CVE-2023-44487) gets GOAWAY ENHANCE_YOUR_CALM after the configured
// number of resets; the server saw at most that many requests.
func TestH2_RapidReset(t *testing.T) {
	up := startUpstream(t, "-mode", "fixed")
	p := startProxy(t, h2AttackConfig, map[string]string{"up": up.Addr})
	addr := p.addr("clear")
	a := dialH2Attacker(t, addr)
	const tries = 100000
	sent := 0
	for id := uint32(1); sent < tries; id += 2 {
		if a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.headers("/delay/1s"), EndStream: true, EndHeaders: true}) != nil {
			break
		}
		if a.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	code, ok := a.goAway()
	if !ok || code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("after %d reset streams: GOAWAY %v (received %v), want ENHANCE_YOUR_CALM", sent, code, ok)
	}
	if sent == tries {
		t.Fatalf("the proxy took all %d reset streams", tries)
	}
	servedMeanwhile(t, addr)
	// 100 resets allowed, 20 streams at once: what reached the server is
	// bounded by them, whatever the attacker sent.
	if n := up.Requests(t); n > 100+20+1 {
		t.Errorf("the server saw %d requests of a rapid-reset attack", n)
	}
	testsupport.WaitFor(t, 5*time.Second, "the attack's streams end", func() bool { return frontendStats(p, "clear").CurStreams == 0 })
	if frontendStats(p, "clear").H2Errors == 0 {
		t.Error("the attack was not counted in h2_errors")
	}
}

// TestH2_ContinuationFlood: a header block that never ends (CVE-2024-27316
// class) ends the connection once it exceeds max_header_list_size; the
// proxy does not buffer what the attacker keeps sending.
func TestH2_ContinuationFlood(t *testing.T) {
	up := startUpstream(t, "-mode", "fixed")
	p := startProxy(t, h2AttackConfig, map[string]string{"up": up.Addr})
	addr := p.addr("clear")
	a := dialH2Attacker(t, addr)
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.headers("/"), EndHeaders: false}); err != nil {
		t.Fatal(err)
	}
	// Literal fields of 4 KiB each, never indexed: valid HPACK, endless.
	a.block.Reset()
	a.enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: string(bytes.Repeat([]byte("a"), 4096)), Sensitive: true})
	frag := bytes.Clone(a.block.Bytes())
	const budget = 256 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	written := 0
	var err error
	for written < budget {
		if err = a.fr.WriteContinuation(1, false, frag); err != nil {
			break
		}
		written += len(frag)
	}
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatalf("the proxy accepted %d bytes of one header block", written)
	}
	// What the attacker managed to write beyond the 16 KiB limit sits in
	// the two sockets' kernel buffers (a few MiB on loopback), not in the
	// proxy.
	if written > 32<<20 {
		t.Errorf("the proxy kept reading a 16 KiB header list: %d bytes written before it closed", written)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Errorf("the heap grew by %d bytes during the flood", grew)
	}
	servedMeanwhile(t, addr)
	if up.Requests(t) != 1 { // servedMeanwhile's
		t.Errorf("the flooding stream reached the server")
	}
}
