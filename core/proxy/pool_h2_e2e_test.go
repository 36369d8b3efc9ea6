package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/stream"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Pooled HTTP/2 server connections that the server closes or that refuse
// streams: no request is lost, POSTs included, and nothing stays in
// CLOSE-WAIT.

// h2PoolConfig is a proxy whose backend speaks HTTP/2 to server s1, with
// an access log.
const h2PoolConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    default_backend: app
backends:
  app:
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}", h2: true }
`

// h2IdleOrigin is a cleartext HTTP/2 server (Go's) that closes idle
// connections after idle (GOAWAY, then close) and counts the requests it
// handled by path.
type h2IdleOrigin struct {
	addr   string
	mu     sync.Mutex
	seen   map[string]int
	closed atomic.Int64
}

func startH2IdleOrigin(t *testing.T, idle time.Duration) *h2IdleOrigin {
	t.Helper()
	o := &h2IdleOrigin{seen: map[string]int{}}
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: protos, IdleTimeout: idle, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			o.mu.Lock()
			o.seen[r.URL.Path]++
			o.mu.Unlock()
			io.WriteString(w, "ok")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				o.closed.Add(1)
			}
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

// TestPoolH2_ServerClosedIdle: an HTTP/2 server that closes idle
// connections after 50ms (strata keeps them 10s): 100 POSTs, each sent
// after the server closed the connection the previous one used, all get
// 200 and each is handled exactly once; then a burst of 50 leaves no
// connection in CLOSE-WAIT once the server has closed them.
func TestPoolH2_ServerClosedIdle(t *testing.T) {
	o := startH2IdleOrigin(t, 50*time.Millisecond)
	p := startProxy(t, h2PoolConfig, map[string]string{"s1": o.addr})
	cl := dial(t, p.addr("web"), "")
	const n = 100
	for i := range n {
		if i > 0 {
			testsupport.WaitFor(t, 10*time.Second, "the server closing its idle connection", func() bool {
				return o.closed.Load() >= int64(i)
			})
		}
		if r := cl.postOn(fmt.Sprintf("/p%d", i), "hello"); r.err != nil || r.status != 200 {
			t.Fatalf("POST %d of %d: %+v", i+1, n, r)
		}
	}
	o.mu.Lock()
	for i := range n {
		if c := o.seen[fmt.Sprintf("/p%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /p%d %d times, want 1", i, c)
		}
	}
	o.mu.Unlock()

	paths := make([]string, 50)
	for i := range paths {
		paths[i] = fmt.Sprintf("/b%d", i)
	}
	for i, r := range parallel(t, p.addr("web"), paths) {
		if r.err != nil || r.status != 200 {
			t.Fatalf("burst request %d: %+v", i, r)
		}
	}
	port := portOf(t, o.addr)
	testsupport.WaitFor(t, 15*time.Second, "no connection to the server left", func() bool {
		st := tcpStates(t, port)
		return st[tcpCloseWait] == 0 && st[tcpEstablished] == 0
	})
}

// h2FaultServer is a minimal cleartext HTTP/2 server that refuses streams
// unprocessed: with refuse 2 the first, third, fifth... stream of each
// connection gets RST_STREAM(REFUSED_STREAM), with refuse 1 every stream
// does; with goAwayFirst the first stream of the first connection gets
// GOAWAY(last stream id 0). Other streams are answered 200 "ok" once their
// request has ended.
type h2FaultServer struct {
	ln          net.Listener
	refuse      int // refuse the k-th stream of a connection when (k-1)%refuse == 0; 0: none
	goAwayFirst bool

	mu      sync.Mutex
	seen    map[string]int // requests handled, by path
	refused int
	conns   int
}

func startH2FaultServer(t *testing.T, refuse int, goAwayFirst bool) *h2FaultServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h2FaultServer{ln: ln, refuse: refuse, goAwayFirst: goAwayFirst, seen: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			first := s.conns == 1
			s.mu.Unlock()
			go s.serve(c, first)
		}
	}()
	return s
}

func (s *h2FaultServer) serve(c net.Conn, firstConn bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if fr.WriteSettings() != nil {
		return
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	paths := map[uint32]string{} // open streams being answered
	streams := 0
	goneAway := false
	answer := func(id uint32) error {
		s.mu.Lock()
		s.seen[paths[id]]++
		s.mu.Unlock()
		delete(paths, id)
		hbuf.Reset()
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "2"})
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true}); err != nil {
			return err
		}
		return fr.WriteData(id, true, []byte("ok"))
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return // strata closed the connection (after our GOAWAY: its drain)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.PingFrame:
			if !f.IsAck() && fr.WritePing(true, f.Data) != nil {
				return
			}
		case *http2.MetaHeadersFrame:
			streams++
			id := f.StreamID
			switch {
			case goneAway:
				continue // above the last stream id: ignored (§6.8)
			case s.goAwayFirst && firstConn && streams == 1:
				goneAway = true
				s.mu.Lock()
				s.refused++
				s.mu.Unlock()
				if fr.WriteGoAway(0, http2.ErrCodeNo, nil) != nil {
					return
				}
				continue
			case s.refuse > 0 && (streams-1)%s.refuse == 0:
				s.mu.Lock()
				s.refused++
				s.mu.Unlock()
				if fr.WriteRSTStream(id, http2.ErrCodeRefusedStream) != nil {
					return
				}
				continue
			}
			paths[id] = f.PseudoValue("path")
			if f.StreamEnded() && answer(id) != nil {
				return
			}
		case *http2.DataFrame:
			if _, ok := paths[f.StreamID]; !ok {
				continue // a refused stream's body
			}
			if f.StreamEnded() && answer(f.StreamID) != nil {
				return
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

// postsThrough sends n POSTs with a body through the proxy on one
// keep-alive client connection; each must get 200.
func postsThrough(t *testing.T, p *testProxy, prefix string, n int) {
	t.Helper()
	cl := dial(t, p.addr("web"), "")
	for i := range n {
		if r := cl.postOn(fmt.Sprintf("/%s%d", prefix, i), "payload"); r.err != nil || r.status != 200 {
			t.Fatalf("POST %d of %d: %+v", i+1, n, r)
		}
	}
}

// TestPoolH2_RefusedStreamReplays: a stream the server refuses with
// REFUSED_STREAM was not processed (RFC 9113 §8.7): the POST goes again,
// and each of 20 POSTs is handled exactly once after one retry.
func TestPoolH2_RefusedStreamReplays(t *testing.T) {
	s := startH2FaultServer(t, 2, false)
	p := startProxy(t, h2PoolConfig, map[string]string{"s1": s.ln.Addr().String()})
	postsThrough(t, p, "r", 20)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != 20 {
		t.Fatalf("the server refused %d streams, want 20", s.refused)
	}
	for i := range 20 {
		if c := s.seen[fmt.Sprintf("/r%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /r%d %d times, want 1", i, c)
		}
	}
	for _, l := range p.logLines(t, 20) {
		if l["status"] != float64(200) || l["retries"] != float64(1) {
			t.Fatalf("log %v", l)
		}
	}
}

// TestPoolH2_GoAwayReplays: a stream above the last stream id of the
// server's GOAWAY was not processed: the POST goes again on a new
// connection and is handled once.
func TestPoolH2_GoAwayReplays(t *testing.T) {
	s := startH2FaultServer(t, 0, true)
	p := startProxy(t, h2PoolConfig, map[string]string{"s1": s.ln.Addr().String()})
	postsThrough(t, p, "g", 5)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != 1 || s.conns != 2 {
		t.Fatalf("%d streams refused on %d connections, want 1 on 2", s.refused, s.conns)
	}
	for i := range 5 {
		if c := s.seen[fmt.Sprintf("/g%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /g%d %d times, want 1", i, c)
		}
	}
	l := p.logLines(t, 5)
	if l[0]["status"] != float64(200) || l[0]["retries"] != float64(1) {
		t.Fatalf("log %v", l[0])
	}
	if !strings.HasPrefix(fmt.Sprint(l[0]["uri"]), "/g0") {
		t.Fatalf("first log line %v", l[0])
	}
}

// h2cPoolConfig is h2PoolConfig with a cleartext HTTP/2 frontend and s1
// speaking HTTP/2 when h2 is true, HTTP/1.1 otherwise.
func h2cPoolConfig(h2 bool) string {
	return fmt.Sprintf(`
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
    default_backend: app
backends:
  app:
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}", h2: %v }
`, h2)
}

// postsH2 sends n POSTs with a body through the proxy from an HTTP/2
// client (cleartext, one connection); each must get 200.
func postsH2(t *testing.T, addr, prefix string, n int) {
	t.Helper()
	c := testsupport.NewClient(addr, testsupport.Client{Proto: testsupport.H2C, FollowRedirects: true})
	defer c.CloseIdleConnections()
	for i := range n {
		resp, err := c.Post(fmt.Sprintf("http://%s/%s%d", addr, prefix, i), "text/plain", strings.NewReader(fmt.Sprintf("payload %d", i)))
		if err != nil {
			t.Fatalf("POST %d of %d: %v", i+1, n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("POST %d of %d: %s %s", i+1, n, resp.Proto, resp.Status)
		}
	}
}

// TestPoolH2_RefusedStreamReplaysFromH2Client: the POSTs of an HTTP/2
// client, whose bodies strata streams, go again too when the HTTP/2
// server refuses their streams: the body read is kept for that.
func TestPoolH2_RefusedStreamReplaysFromH2Client(t *testing.T) {
	s := startH2FaultServer(t, 2, false)
	p := startProxy(t, h2cPoolConfig(true), map[string]string{"s1": s.ln.Addr().String()})
	postsH2(t, p.addr("web"), "c", 20)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != 20 {
		t.Fatalf("the server refused %d streams, want 20", s.refused)
	}
	for i := range 20 {
		if c := s.seen[fmt.Sprintf("/c%d", i)]; c != 1 {
			t.Fatalf("the server handled POST /c%d %d times, want 1", i, c)
		}
	}
}

// TestPool_ResetBeforeAnswerReplaysFromH2Client: an HTTP/2 client's POST
// (of known length, or chunked to the server) to an HTTP/1.1 server that
// resets the reused connection unread goes again on a fresh connection
// and is handled once, with its whole body.
func TestPool_ResetBeforeAnswerReplaysFromH2Client(t *testing.T) {
	s := startResetServer(t)
	p := startProxy(t, h2cPoolConfig(false), map[string]string{"s1": s.ln.Addr().String()})
	addr := p.addr("web")
	c := testsupport.NewClient(addr, testsupport.Client{Proto: testsupport.H2C, FollowRedirects: true})
	defer c.CloseIdleConnections()
	for i := range 10 {
		resp, err := c.Get(fmt.Sprintf("http://%s/warm%d", addr, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// Each HTTP/2 stream runs on its own: the connection of the
		// previous POST may be pooled after this GET's, so two may be.
		testsupport.WaitFor(t, 5*time.Second, "a pooled connection", func() bool { return p.server(t, "s1").IdleConns >= 1 })
		var body io.Reader = strings.NewReader("payload")
		if i%2 == 1 {
			body = io.MultiReader(body) // no length: the body goes chunked to the server
		}
		resp, err = c.Post(fmt.Sprintf("http://%s/post%d", addr, i), "text/plain", body)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d: %s", i, resp.Status)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expectEachPostOnce(t, p)
}

// TestPoolH2_IdleTimeout: HTTP/2 connections without streams for longer
// than the backend's http_keep_alive are closed by strata even when no
// request comes (the server would keep them a minute).
func TestPoolH2_IdleTimeout(t *testing.T) {
	o := startH2IdleOrigin(t, time.Minute)
	p := startProxy(t, strings.Replace(h2PoolConfig, "http_keep_alive: 10s", "http_keep_alive: 200ms", 1), map[string]string{"s1": o.addr})
	postsThrough(t, p, "k", 3)
	testsupport.WaitFor(t, 15*time.Second, "strata closing its idle HTTP/2 connection", func() bool {
		return o.closed.Load() == 1
	})
	if st := tcpStates(t, portOf(t, o.addr)); st[tcpEstablished] != 0 || st[tcpCloseWait] != 0 {
		t.Fatalf("sockets to the server: %v", st)
	}
}

// TestPoolH2_RefusedAlways: a server that refuses every stream gets the
// request a bounded number of times (the first attempt and 3 replays),
// and the client gets 502 rather than no answer.
func TestPoolH2_RefusedAlways(t *testing.T) {
	s := startH2FaultServer(t, 1, false)
	p := startProxy(t, h2PoolConfig, map[string]string{"s1": s.ln.Addr().String()})
	cl := dial(t, p.addr("web"), "")
	if r := cl.postOn("/never", "payload"); r.err != nil || r.status != 502 {
		t.Fatalf("POST: %+v", r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != 1+stream.MaxH2Replays || len(s.seen) != 0 {
		t.Fatalf("%d streams refused, %d handled; want %d refused, none handled", s.refused, len(s.seen), 1+stream.MaxH2Replays)
	}
	l := p.logLines(t, 1)[0]
	if l["status"] != float64(502) || l["retries"] != float64(stream.MaxH2Replays) {
		t.Fatalf("log %v", l)
	}
}
