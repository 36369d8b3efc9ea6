package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-proxy/strata/core/stream"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// Idle HTTP/2 client connections park on the watcher (idle.go) between
// streams, as HTTP/1.1 ones do between requests.

// h2IdleConfig serves h2c and HTTP/2 over TLS, with an http_keep_alive
// long enough that a connection parks well before it times out.
const h2IdleConfig = `
global:
  access_log: { output: none }
frontends:
  clear:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 10s, http_keep_alive: {{keep_alive}} }
    h2: { h2c: true }
    default_backend: app
  secure:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 10s, http_keep_alive: {{keep_alive}} }
    tls:
      certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
      alpn: [h2]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`

// startH2IdleProxy starts an echo upstream and the proxy of
// h2IdleConfig; roots trust its certificate (a.test).
func startH2IdleProxy(t *testing.T, keepAlive string) (p *testProxy, roots *x509.CertPool) {
	t.Helper()
	ca, site := testsupport.NewSite(t, "a.test")
	up := startUpstream(t, "-mode", "echo", "-name", "A")
	p = startProxy(t, h2IdleConfig, map[string]string{
		"up": up.Addr, "cert": site.Cert, "key": site.Key, "keep_alive": keepAlive,
	})
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return p, roots
}

// h2Response is what h2Exchange read of a response.
type h2Response struct {
	status string
	fields []hpack.HeaderField
	body   []byte
}

// h2Exchange sends a GET of path on stream id with the extra fields, then
// reads frames until the stream ends, acknowledging SETTINGS. dec decodes
// the response header blocks: one decoder for the connection, whose
// dynamic table must follow the proxy's encoder across requests. It
// returns the request's header block as sent.
func (a *h2Attacker) h2Exchange(t *testing.T, dec *hpack.Decoder, id uint32, path string, extra ...hpack.HeaderField) (h2Response, []byte) {
	t.Helper()
	a.headers(path) // the pseudo-headers, into a.block
	for _, f := range extra {
		a.enc.WriteField(f)
	}
	block := bytes.Clone(a.block.Bytes())
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	var r h2Response
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Fatalf("stream %d: reading the response: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				a.fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			t.Fatalf("stream %d: GOAWAY %v", id, f.ErrCode)
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d: RST_STREAM %v", id, f.ErrCode)
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatalf("stream %d: response header block: %v", id, err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					r.status = hf.Value
				}
			}
			r.fields = append(r.fields, fields...)
			if f.StreamEnded() {
				return r, block
			}
		case *http2.DataFrame:
			r.body = append(r.body, f.Data()...)
			if f.StreamEnded() {
				return r, block
			}
		}
	}
}

// TestH2_IdleParks: an HTTP/2 connection with no stream parks (over h2c
// and TLS); a request on the parked connection is served with the HPACK
// state of both directions intact (a field indexed by the first request
// is sent as an index by the second and reaches the server); a PING is
// answered while parked, after which the connection parks again; graceful
// stop sends a parked connection GOAWAY and closes it.
func TestH2_IdleParks(t *testing.T) {
	for _, fe := range []string{"clear", "secure"} {
		t.Run(fe, func(t *testing.T) {
			p, roots := startH2IdleProxy(t, "30s")
			var a *h2Attacker
			if fe == "clear" {
				a = dialH2Attacker(t, p.addr(fe))
			} else {
				a = dialH2AttackerTLS(t, p.addr(fe), &tls.Config{RootCAs: roots, ServerName: "a.test"})
			}
			dec := hpack.NewDecoder(4096, nil)
			mark := hpack.HeaderField{Name: "x-park", Value: "kept-in-the-table"}

			r, _ := a.h2Exchange(t, dec, 1, "/first", mark)
			if r.status != "200" || echoHeader(t, r.body, "x-park") != mark.Value {
				t.Fatalf("first request: status %q, x-park %q", r.status, echoHeader(t, r.body, "x-park"))
			}
			n := waitParks(t, p, 0)

			r, block := a.h2Exchange(t, dec, 3, "/second", mark)
			if _, err := hpack.NewDecoder(4096, nil).DecodeFull(block); err == nil {
				t.Fatal("the second request's block does not refer to the dynamic table: the test's encoder did not index its fields")
			}
			if r.status != "200" || echoHeader(t, r.body, "x-park") != mark.Value {
				t.Fatalf("second request, on the parked connection: status %q, x-park %q", r.status, echoHeader(t, r.body, "x-park"))
			}
			if st := frontendStats(p, fe); st.Sessions != 1 || st.Streams != 2 {
				t.Fatalf("sessions %d streams %d, want 2 streams on 1 session", st.Sessions, st.Streams)
			}
			n = waitParks(t, p, n)

			ping := [8]byte{'p', 'a', 'r', 'k', 'e', 'd'}
			if err := a.fr.WritePing(false, ping); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := a.fr.ReadFrame()
				if err != nil {
					t.Fatalf("waiting for the PING ack: %v", err)
				}
				if pf, ok := f.(*http2.PingFrame); ok {
					if !pf.IsAck() || pf.Data != ping {
						t.Fatalf("PING answered with ack %v data %q", pf.IsAck(), pf.Data)
					}
					break
				}
			}
			waitParks(t, p, n)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- p.Shutdown(ctx) }()
			code, ok := a.goAway()
			if !ok || code != http2.ErrCodeNo {
				t.Fatalf("graceful stop of a parked connection: GOAWAY %v (received %v), want NO_ERROR", code, ok)
			}
			a.c.Close() // the client leaves once told to, as clients do
			if err := <-stopped; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if n := p.Parked.Load(); n != 0 {
				t.Fatalf("%d connections still parked after Shutdown", n)
			}
		})
	}
}

// TestH2_IdleTimeoutWhileParked: a parked HTTP/2 connection still ends at
// http_keep_alive, with GOAWAY, as one waiting in its goroutine does.
func TestH2_IdleTimeoutWhileParked(t *testing.T) {
	p, _ := startH2IdleProxy(t, "500ms")
	a := dialH2Attacker(t, p.addr("clear"))
	dec := hpack.NewDecoder(4096, nil)
	if r, _ := a.h2Exchange(t, dec, 1, "/", hpack.HeaderField{Name: "x-a", Value: "b"}); r.status != "200" {
		t.Fatalf("status %q", r.status)
	}
	waitParked(t, p, 1)
	code, ok := a.goAway()
	if !ok || code != http2.ErrCodeNo {
		t.Fatalf("idle timeout of a parked connection: GOAWAY %v (received %v), want NO_ERROR", code, ok)
	}
	a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, a.c); err != nil {
		t.Fatalf("after GOAWAY: %v, want the proxy to close", err)
	}
	waitParked(t, p, 0)
}

// waitParks waits until p has parked more than after times and one
// connection is parked now, and returns how many times it has parked. (An
// HTTP/2 connection may also park before its first request, when the
// client is slow to send it on a busy machine.)
func waitParks(t *testing.T, p *testProxy, after int64) int64 {
	t.Helper()
	testsupport.WaitFor(t, 5*time.Second, "parks", func() bool { return p.Parks.Load() > after && p.Parked.Load() == 1 })
	return p.Parks.Load()
}

// TestH2_IdleHammer: Go's HTTP/2 clients (h2c and TLS) at once, each
// sending rounds of concurrent streams on its one connection with pauses
// of 0 to 1½ stream.ParkAfter between them, so that streams start while the
// connection parks, is parked and resumes (run it with -race): every
// stream is answered, echoing its own header, on one connection per
// client.
func TestH2_IdleHammer(t *testing.T) {
	p, roots := startH2IdleProxy(t, "30s")
	const clients, rounds, streams = 6, 8, 4
	var dials atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		fe, scheme, r := "clear", "http", (*x509.CertPool)(nil)
		if i%2 == 1 {
			fe, scheme, r = "secure", "https", roots
		}
		c := h2Client(p.addr(fe), r, &dials)
		// One stream first: concurrent first requests would each dial.
		if got := testsupport.Get(t, c, scheme+"://a.test/"); got.Status != 200 {
			t.Fatalf("client %d: status %d", i, got.Status)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseIdleConnections()
			for round := range rounds {
				var rw sync.WaitGroup
				for s := range streams {
					rw.Add(1)
					go func() {
						defer rw.Done()
						want := fmt.Sprintf("c%d-r%d-s%d", i, round, s)
						req, _ := http.NewRequest("GET", scheme+"://a.test/", nil)
						req.Header.Set("x-which", want)
						got, err := testsupport.Do(c, req)
						if err != nil || got.Status != 200 {
							t.Errorf("%s: %d %v", want, got.Status, err)
							return
						}
						if h := echoHeader(t, got.Body, "x-which"); h != want {
							t.Errorf("%s: the server saw x-which %q", want, h)
						}
					}()
				}
				rw.Wait()
				time.Sleep(stream.ParkAfter * time.Duration((i+round)%4) / 2) // 0, ½, 1, 1½ stream.ParkAfter
			}
		}()
	}
	wg.Wait()
	if n := dials.Load(); n != clients {
		t.Errorf("%d connections for %d clients", n, clients)
	}
	if p.Parks.Load() == 0 {
		t.Fatal("no connection parked")
	}
}

// TestH2_ClientClosesParked: when the client closes a parked HTTP/2
// connection, it is woken, its session ends and nothing stays parked.
func TestH2_ClientClosesParked(t *testing.T) {
	p, _ := startH2IdleProxy(t, "30s")
	a := dialH2Attacker(t, p.addr("clear"))
	if r, _ := a.h2Exchange(t, hpack.NewDecoder(4096, nil), 1, "/"); r.status != "200" {
		t.Fatalf("status %q", r.status)
	}
	waitParks(t, p, 0)
	a.c.Close()
	waitParked(t, p, 0)
	testsupport.WaitFor(t, 5*time.Second, "the session of the closed connection ended", func() bool {
		return frontendStats(p, "clear").CurSessions == 0
	})
}
