package testsupport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Proto is how a test client speaks to the proxy.
type Proto string

const (
	H1    Proto = "h1"     // HTTP/1.1 over TCP
	H2C   Proto = "h2c"    // HTTP/2 over TCP, with prior knowledge
	H1TLS Proto = "h1-tls" // HTTP/1.1 over TLS, the only protocol offered by ALPN
	H2TLS Proto = "h2-tls" // HTTP/2 over TLS, the only protocol offered by ALPN
	TLS   Proto = "tls"    // TLS offering h2 and http/1.1 by ALPN, as browsers do
)

// IsTLS reports whether p runs over TLS.
func (p Proto) IsTLS() bool { return p == H1TLS || p == H2TLS || p == TLS }

// Client says how NewClient's client connects.
type Client struct {
	Proto Proto
	// Roots are the CAs trusted for TLS (a CA's Pool).
	Roots *x509.CertPool
	// TLS, when set, is the TLS configuration (server name, client
	// certificates); Roots and the ALPN protocols of Proto are set on a
	// copy of it.
	TLS *tls.Config
	// ProxyHeader, when set, is written first on every connection: a
	// PROXY protocol header (v1 text or v2 bytes).
	ProxyHeader string
	// FollowRedirects makes the client follow redirects; by default it
	// returns them, as the tests check them.
	FollowRedirects bool
	// Dialer, when set, dials the connections (a local address to
	// test source-address rules from).
	Dialer *net.Dialer
	// OnDial, when set, sees every connection dialed (to count them, or
	// to close one under the client).
	OnDial func(net.Conn)
}

// NewClient returns a net/http client that connects to addr whatever the
// URL says, so that URLs can carry the host and server name (SNI) to test,
// and speaks cfg.Proto there. It does not decompress, and a request is
// bounded by 20 s, which only a hang reaches.
func NewClient(addr string, cfg Client) *http.Client {
	tr := &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := cfg.Dialer
			if d == nil {
				d = &net.Dialer{}
			}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			if cfg.ProxyHeader != "" {
				if _, err := io.WriteString(c, cfg.ProxyHeader); err != nil {
					c.Close()
					return nil, err
				}
			}
			if cfg.OnDial != nil {
				cfg.OnDial(c)
			}
			return c, nil
		},
	}
	var protos http.Protocols
	switch cfg.Proto {
	case H1, "":
		protos.SetHTTP1(true)
	case H2C:
		protos.SetUnencryptedHTTP2(true)
	case H1TLS:
		protos.SetHTTP1(true)
	case H2TLS:
		protos.SetHTTP2(true)
	case TLS:
		protos.SetHTTP1(true)
		protos.SetHTTP2(true)
	}
	tr.Protocols = &protos
	if cfg.Proto.IsTLS() {
		tc := &tls.Config{}
		if cfg.TLS != nil {
			tc = cfg.TLS.Clone()
		}
		if cfg.Roots != nil {
			tc.RootCAs = cfg.Roots
		}
		tr.TLSClientConfig = tc
	}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	if !cfg.FollowRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// Scheme is the URL scheme for p: https over TLS, http otherwise.
func (p Proto) Scheme() string {
	if p.IsTLS() {
		return "https"
	}
	return "http"
}

// Response is an answer read whole.
type Response struct {
	Status int
	Proto  string // "HTTP/1.1" or "HTTP/2.0", as the client saw it
	Header http.Header
	Body   []byte
}

// Do sends req with c and reads the whole answer; a transport error is
// returned, not fatal, for the tests that expect one.
func Do(c *http.Client, req *http.Request) (Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Proto: resp.Proto, Header: resp.Header, Body: b}, nil
}

// Get requests url with c and fails the test on a transport error.
func Get(tb testing.TB, c *http.Client, url string) Response {
	tb.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := Do(c, req)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// DialFrom connects to addr over TCP from the local address local (a
// 127.0.0.0/8 address, to test source-address rules; "" for any). The
// connection is closed when the test ends.
func DialFrom(tb testing.TB, addr, local string) net.Conn {
	tb.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// DialMode connects to addr from the local address local (as DialFrom)
// and, when p runs over TLS, completes a TLS handshake trusting roots for
// the server name name. The connection is closed when the test ends.
func DialMode(tb testing.TB, p Proto, addr, local string, roots *x509.CertPool, name string) net.Conn {
	tb.Helper()
	c := DialFrom(tb, addr, local)
	if !p.IsTLS() {
		return c
	}
	tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: name})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		tb.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	c.SetDeadline(time.Time{})
	tb.Cleanup(func() { tc.Close() })
	return tc
}
