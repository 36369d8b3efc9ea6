package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Checks through a CheckL4: the PROXY header the engine gives is written
// first, the handshake it gives runs next, and the check speaks over what
// the handshake returns.

// tlsStub is an HTTPS server answering 200 to every request; it records
// whether each request came over TLS.
func tlsStub(t *testing.T) (addr string, roots *x509.CertPool, tlsReqs func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	roots = x509.NewCertPool()
	roots.AddCert(s.Certificate())
	return s.Listener.Addr().String(), roots, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// tlsHandshake is the handshake the engine would give: crypto/tls with cfg.
func tlsHandshake(cfg *tls.Config) func(context.Context, net.Conn) (net.Conn, error) {
	return func(ctx context.Context, c net.Conn) (net.Conn, error) {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		return tc, nil
	}
}

// headerStub reads the first line of every connection (where a v1 PROXY
// header goes), records it and answers with status line st.
func headerStub(t *testing.T, st string) (addr string, first func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				io.WriteString(c, st+"\r\nContent-Length: 0\r\n\r\n")
			}()
		}
	}()
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), lines...) }
}

func TestRunCheck_L4(t *testing.T) {
	tlsAddr, roots, tlsReqs := tlsStub(t)
	verified := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	tcp := &CheckSpec{Type: "tcp", Timeout: 2 * time.Second}
	httpc := &CheckSpec{Type: "http", Path: "/health", Timeout: 2 * time.Second}
	tests := []struct {
		name   string
		addr   string
		spec   *CheckSpec
		l4     *CheckL4
		ok     bool
		status string
		code   int
		desc   string // a part of the reason
	}{
		{name: "tcp over tls", addr: tlsAddr, spec: tcp, l4: &CheckL4{Handshake: tlsHandshake(verified)}, ok: true, status: "L6OK"},
		{name: "http over tls", addr: tlsAddr, spec: httpc, l4: &CheckL4{Handshake: tlsHandshake(verified)}, ok: true, status: "L7OK", code: 200},
		{name: "http in clear to a tls server", addr: tlsAddr, spec: httpc, status: "L7STS", code: 400},
		{name: "tls unverified", addr: tlsAddr, spec: httpc, l4: &CheckL4{Handshake: tlsHandshake(&tls.Config{ServerName: "127.0.0.1"})},
			status: "L6RSP", desc: "certificate"},
		{name: "tls refused", addr: closedAddr(t), spec: tcp, l4: &CheckL4{Handshake: tlsHandshake(verified)}, status: "L4CON"},
		{name: "handshake error", addr: tlsAddr, spec: tcp, l4: &CheckL4{Handshake: func(context.Context, net.Conn) (net.Conn, error) {
			return nil, errors.New("tls handshake: no luck")
		}}, status: "L6RSP", desc: "no luck"},
		{name: "handshake timeout", addr: tlsAddr, spec: &CheckSpec{Type: "tcp", Timeout: 50 * time.Millisecond}, l4: &CheckL4{Handshake: func(ctx context.Context, _ net.Conn) (net.Conn, error) {
			<-ctx.Done() // the check's timeout ends it
			return nil, ctx.Err()
		}}, status: "L6TOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(context.Background(), tt.addr, tt.spec, tt.l4)
			if r.OK != tt.ok || r.Status != tt.status || r.Code != tt.code || !strings.Contains(r.Desc, tt.desc) {
				t.Fatalf("got %+v", r)
			}
		})
	}
	if tlsReqs() != 1 {
		t.Errorf("%d check requests over TLS, want 1", tlsReqs())
	}
}

func TestRunCheck_ProxyHeader(t *testing.T) {
	addr, first := headerStub(t, "HTTP/1.1 200 OK")
	l4 := &CheckL4{ProxyHeader: []byte("PROXY UNKNOWN\r\n")}
	for _, spec := range []*CheckSpec{{Type: "tcp", Timeout: 2 * time.Second}, {Type: "http", Timeout: 2 * time.Second}} {
		if r := runCheck(context.Background(), addr, spec, l4); !r.OK {
			t.Fatalf("%s check: %+v", spec.Type, r)
		}
	}
	// The TCP check closes at once; the HTTP one is answered after its
	// request: both connections opened with the header.
	eventually := time.Now().Add(5 * time.Second)
	for len(first()) < 2 && time.Now().Before(eventually) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := first(); len(got) != 2 || got[0] != "PROXY UNKNOWN\r\n" || got[1] != "PROXY UNKNOWN\r\n" {
		t.Fatalf("first lines %q", got)
	}
}

// TestBackend_ChecksRunL4: the check goroutine uses the server's CheckL4.
func TestBackend_ChecksRunL4(t *testing.T) {
	addr, roots, _ := tlsStub(t)
	spec := &CheckSpec{Type: "tcp", Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Rise: 1, Fall: 1}
	b, _ := New(Spec{Name: "app", Check: spec, Servers: []ServerSpec{
		{Name: "good", Addr: addr, Weight: 1},
		{Name: "bad", Addr: addr, Weight: 1},
	}})
	b.Server("good").CheckL4 = &CheckL4{Handshake: tlsHandshake(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})}
	b.Server("bad").CheckL4 = &CheckL4{Handshake: tlsHandshake(&tls.Config{RootCAs: roots, ServerName: "wrong.example"})}
	b.Start()
	defer b.Close()
	deadline := time.Now().Add(5 * time.Second)
	for b.Server("bad").Health() != HealthDown || b.Server("good").CheckInfo().Last.Status != "L6OK" {
		if time.Now().After(deadline) {
			t.Fatalf("good %+v, bad %+v", b.Server("good").CheckInfo(), b.Server("bad").CheckInfo())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info := b.Server("bad").CheckInfo(); info.Last.Status != "L6RSP" || !strings.Contains(info.Last.Desc, "wrong.example") {
		t.Fatalf("bad: %+v", info)
	}
	if b.Server("good").Health() != HealthUp {
		t.Fatal("good server down")
	}
}
