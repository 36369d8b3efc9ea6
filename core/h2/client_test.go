package h2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// appHandler is the handler behind the x/net client tests.
type appHandler struct {
	started chan uint32   // /block and /slow handlers announce themselves
	release chan struct{} // closing it lets /slow handlers answer
	resets  chan error    // /block handlers report their stream's Err
}

func newAppHandler() *appHandler {
	return &appHandler{started: make(chan uint32, 100), release: make(chan struct{}), resets: make(chan error, 10)}
}

func (a *appHandler) serve(s *Stream) {
	req := s.Request()
	path, query, _ := strings.Cut(req.Path, "?")
	switch path {
	case "/echo":
		// Stream the body back, then trailers with its length and the
		// request's x-req-trailer.
		s.WriteHeaders(200, []hpack.HeaderField{{Name: "Trailer", Value: "x-body-len, x-req-trailer"}}, false)
		n, err := io.Copy(s, s)
		if err != nil {
			s.Reset(http2.ErrCodeInternal)
			return
		}
		tr := []hpack.HeaderField{{Name: "x-body-len", Value: strconv.FormatInt(n, 10)}}
		for _, f := range s.Trailers() {
			if f.Name == "x-req-trailer" {
				tr = append(tr, hpack.HeaderField{Name: "x-req-trailer", Value: f.Value})
			}
		}
		s.WriteTrailers(tr)
		s.Close()
	case "/big":
		n, _ := strconv.Atoi(query)
		s.WriteHeaders(200, []hpack.HeaderField{{Name: "Content-Length", Value: strconv.Itoa(n)}}, false)
		buf := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := s.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
		s.Close()
	case "/block":
		a.started <- s.ID()
		<-s.Done()
		a.resets <- s.Err()
		s.Reset(http2.ErrCodeCancel)
	case "/slow":
		a.started <- s.ID()
		<-a.release
		io.Copy(io.Discard, s)
		s.WriteHeaders(200, nil, false)
		s.Write([]byte("slow"))
		s.Close()
	default:
		okHandler(s)
	}
}

// newClient uses x/net's own HTTP/2 client on purpose: an independent
// implementation with prior-knowledge h2c, whatever net/http negotiates.
//
//lint:file-ignore SA1019 x/net's http2.Transport is the client under test.
func newClient(useTLS bool) (*http.Client, string) {
	tr := &http2.Transport{}
	scheme := "https"
	if useTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test's self-signed cert
	} else {
		scheme = "http"
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, scheme
}

var modes = []struct {
	name string
	tls  bool
}{{"cleartext", false}, {"tls", true}}

func TestConn_XNetClient(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			app := newAppHandler()
			ts := startServer(t, Config{}, app.serve, mode.tls)
			client, scheme := newClient(mode.tls)
			defer client.CloseIdleConnections()
			base := scheme + "://" + ts.addr

			t.Run("concurrent streams", func(t *testing.T) {
				concurrentEchoes(t, 60, func(i int) int { return 10_000 + i }, func(body []byte) ([]byte, error) {
					got, _, err := post(client, base+"/echo", body, nil)
					return got, err
				})
			})

			t.Run("large bodies both ways", func(t *testing.T) {
				// 3 MiB up: beyond our 256 KiB stream and 1 MiB connection
				// windows; the echo is beyond nothing the client sets, so
				// also fetch 6 MiB, beyond its 4 MiB stream window.
				body := make([]byte, 3<<20)
				rand.Read(body)
				got, tr, err := post(client, base+"/echo", body, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, body) {
					t.Fatalf("echo of %d bytes returned %d differing bytes", len(body), len(got))
				}
				if tr.Get("x-body-len") != strconv.Itoa(len(body)) {
					t.Fatalf("trailer x-body-len = %q", tr.Get("x-body-len"))
				}
				resp, err := client.Get(base + "/big?" + strconv.Itoa(6<<20))
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != 6<<20 {
					t.Fatalf("read %d bytes, err %v; want %d", n, err, 6<<20)
				}
			})

			t.Run("trailers", func(t *testing.T) {
				_, tr, err := post(client, base+"/echo", []byte("with trailers"), http.Header{"X-Req-Trailer": {"yes"}})
				if err != nil {
					t.Fatal(err)
				}
				if tr.Get("x-req-trailer") != "yes" || tr.Get("x-body-len") != "13" {
					t.Fatalf("trailers %v", tr)
				}
			})

			t.Run("client reset while others complete", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					req, _ := http.NewRequestWithContext(ctx, "GET", base+"/block", nil)
					resp, err := client.Do(req)
					if err == nil {
						resp.Body.Close()
					}
					done <- err
				}()
				<-app.started
				for i := range 5 {
					got, _, err := post(client, base+"/echo", []byte{byte(i)}, nil)
					if err != nil || len(got) != 1 {
						t.Fatalf("echo during a blocked stream: %q, %v", got, err)
					}
				}
				cancel()
				if err := <-done; err == nil {
					t.Fatal("cancelled request succeeded")
				}
				var re *ResetError
				if err := <-app.resets; !errors.As(err, &re) || !re.Remote || re.Code != http2.ErrCodeCancel {
					t.Fatalf("blocked stream's Err = %v, want a remote CANCEL reset", err)
				}
				if got, _, err := post(client, base+"/echo", []byte("after"), nil); err != nil || string(got) != "after" {
					t.Fatalf("echo after the reset: %q, %v", got, err)
				}
			})
		})
	}
}

// post sends body (with trailers when trailer is set) and returns the
// response body and trailers.
func post(client *http.Client, url string, body []byte, trailer http.Header) ([]byte, http.Header, error) {
	var r io.Reader = bytes.NewReader(body)
	if trailer != nil {
		r = io.MultiReader(bytes.NewReader(body)) // unknown length: trailers need a streamed body
	}
	req, err := http.NewRequest("POST", url, r)
	if err != nil {
		return nil, nil, err
	}
	if trailer != nil {
		req.ContentLength = -1
		req.Trailer = trailer
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return got, resp.Trailer, err
}

func TestConn_Shutdown(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			app := newAppHandler()
			ts := startServer(t, Config{}, app.serve, mode.tls)
			client, scheme := newClient(mode.tls)
			defer client.CloseIdleConnections()
			base := scheme + "://" + ts.addr

			const inflight = 5
			results := make(chan error, inflight)
			for range inflight {
				go func() {
					got, _, err := post(client, base+"/slow", []byte("x"), nil)
					if err == nil && string(got) != "slow" {
						err = fmt.Errorf("body %q", got)
					}
					results <- err
				}()
			}
			for range inflight {
				<-app.started
			}
			ts.mu.Lock()
			c := ts.conns[0]
			ts.mu.Unlock()
			if n := c.ActiveStreams(); n != inflight {
				t.Fatalf("ActiveStreams = %d, want %d", n, inflight)
			}
			c.Shutdown()
			c.Shutdown() // idempotent
			close(app.release)
			for range inflight {
				if err := <-results; err != nil {
					t.Errorf("in-flight request: %v", err)
				}
			}
			errs := ts.serveErrs(t, 1)
			if errs[0] != nil {
				t.Fatalf("Serve after Shutdown = %v, want nil", errs[0])
			}
			// A new request goes over a new connection.
			if got, _, err := post(client, base+"/echo", []byte("new"), nil); err != nil || string(got) != "new" {
				t.Fatalf("request after Shutdown: %q, %v", got, err)
			}
		})
	}
}
