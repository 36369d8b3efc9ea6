package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
)

// End-to-end tests of how streams end: who is blamed (the access log's
// termination state, the backend's counters, the servers' health) and
// whether the client connection stays open after the proxy answered by
// itself.

// termConfig serves HTTP/1.1 and h2c on one bind, with the rules that
// make the proxy answer by itself, short client timeouts, and a backend
// whose server passive checks would mark down after 3 errors (and active
// checks would not bring back within a test).
const termConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true, zero_window_timeout: 1s }
    timeouts: { client: 1s, http_request: 1s, http_keep_alive: 10s }
    http_request:
      - "deny if { path_beg /deny }"
      - "deny deny_status 429 if { path_beg /rate }"
      - "return status 200 content-type text/plain string hello if { path_beg /return }"
      - "redirect location /elsewhere if { path_beg /redir }"
    default_backend: app
backends:
  app:
    observe: layer7
    error_limit: 3
    health_check: { type: tcp, interval: 1m, rise: 10 }
    timeouts: { server: 20s }
    servers:
      s1: { address: "{{up}}" }
`

// backendStats reads backend app from the proxy.
func (p *testProxy) backendStats(t testing.TB) BackendStats {
	t.Helper()
	for _, be := range p.Stats().Backends {
		if be.Name == "app" {
			return be
		}
	}
	t.Fatal("no backend app")
	return BackendStats{}
}

// logFor returns the access-log lines whose uri is uri, waiting until
// there are n of them.
func (p *testProxy) logFor(t testing.TB, uri string, n int) []map[string]any {
	t.Helper()
	var got []map[string]any
	testsupport.WaitFor(t, 5*time.Second, fmt.Sprintf("%d log lines for %s", n, uri), func() bool {
		p.Proxy.Alog.Flush()
		got = got[:0]
		for _, l := range strings.Split(strings.TrimSpace(p.logbuf.String()), "\n") {
			if strings.Contains(l, `"uri":"`+uri+`"`) {
				got = append(got, decodeLogLine(t, l))
			}
		}
		return len(got) >= n
	})
	return got
}

// TestTerm_H2ClientResetIsTheClients: streams an HTTP/2 client resets,
// while the server works on the response and while it sends the body,
// end as the client's aborts (CD, as HAProxy logs both), not 502 SC: the
// server stays up
// under observe layer7 with error_limit 3, the backend counts no 5xx and
// no server abort, and another client is served by it.
func TestTerm_H2ClientResetIsTheClients(t *testing.T) {
	up := startUpstream(t, "-name", "s1")
	p := startProxy(t, termConfig, map[string]string{"up": up.Addr})
	a := dialH2Attacker(t, p.addr("web"))
	const each = 4 // more than error_limit
	id := uint32(1)
	for i := range each {
		// Waiting for the response head: the server has the request and
		// answers in 10 s.
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.headers("/delay/10s"), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, 5*time.Second, "the server gets the request", func() bool { return up.Requests(t) == i+1 })
		if err := a.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, 5*time.Second, "the reset stream ends", func() bool { return frontendStats(p, "web").CurStreams == 0 })
		id += 2
	}
	for range each {
		// During the body: one byte every 100 ms.
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.headers("/drip/200/100ms"), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		a.responseHead(t, id)
		if err := a.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, 5*time.Second, "the reset stream ends", func() bool { return frontendStats(p, "web").CurStreams == 0 })
		id += 2
	}

	s := p.server(t, "s1")
	if s.Health != "up" || s.Check.Observed != "" {
		t.Errorf("client resets marked the server down: health %q, observed %q", s.Health, s.Check.Observed)
	}
	be := p.backendStats(t)
	if be.Status["5xx"] != 0 || be.Term["server_abort"] != 0 || be.Term["client_abort"] != 2*each {
		t.Errorf("backend counts: responses %v, terminations %v; want no 5xx, no server_abort, %d client_abort", be.Status, be.Term, 2*each)
	}
	for _, l := range p.logFor(t, "/delay/10s", each) {
		if l["termination_state"] != "CD" || l["termination_cause"] != "client_abort" || l["status"] != float64(0) {
			t.Errorf("reset waiting for the response: %v", l)
		}
	}
	for _, l := range p.logFor(t, "/drip/200/100ms", each) {
		if l["termination_state"] != "CD" || l["termination_cause"] != "client_abort" || l["status"] != float64(200) {
			t.Errorf("reset during the body: %v", l)
		}
	}
	if r := getOnce(t, p.addr("web"), "/"); r.status != 200 || r.server != "s1" {
		t.Errorf("after the resets: %+v", r)
	}
}

// TestTerm_RapidResetBurstKeepsServersUp: bursts of streams reset as soon
// as they are opened (rapid reset, below the frontend's reset limit) do
// not take the server down under observe layer7: a plain HTTP/1.1 client
// between the bursts gets every answer from it.
func TestTerm_RapidResetBurstKeepsServersUp(t *testing.T) {
	up := startUpstream(t, "-name", "s1")
	p := startProxy(t, termConfig, map[string]string{"up": up.Addr})
	cl := dial(t, p.addr("web"), "")
	for burst := range 3 {
		a := dialH2Attacker(t, p.addr("web"))
		for i := range 30 {
			id := uint32(2*i + 1)
			if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.headers("/delay/2s"), EndStream: true, EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
			if err := a.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
		}
		testsupport.WaitFor(t, 5*time.Second, "the burst's streams end", func() bool { return frontendStats(p, "web").CurStreams == 0 })
		for i := range 10 {
			if r := cl.get(t, "/"); r.status != 200 || r.server != "s1" {
				t.Fatalf("burst %d, request %d: %+v", burst, i, r)
			}
		}
	}
	if s := p.server(t, "s1"); s.Health != "up" || s.Check.Observed != "" {
		t.Errorf("rapid resets marked the server down: health %q, observed %q", s.Health, s.Check.Observed)
	}
	if be := p.backendStats(t); be.Status["5xx"] != 0 || be.Term["server_abort"] != 0 {
		t.Errorf("backend counts: responses %v, terminations %v; want no 5xx, no server_abort", be.Status, be.Term)
	}
}

// TestTerm_H2ClientResetToH2Server: a stream an HTTP/2 client resets
// while an HTTP/2 server works on it is reset at the server at once (the
// server's handler sees its request canceled) and ends as the client's
// abort: CD, no 5xx, the server stays up under observe layer7.
func TestTerm_H2ClientResetToH2Server(t *testing.T) {
	var started, canceled atomic.Int64
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	origin := &http.Server{Protocols: protos, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started.Add(1)
			<-r.Context().Done() // answers nothing: only a reset ends the request
			canceled.Add(1)
		})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Close() })
	p := startProxy(t, strings.Replace(termConfig, `s1: { address: "{{up}}" }`, `s1: { address: "{{up}}", h2: true }`, 1),
		map[string]string{"up": ln.Addr().String()})
	a := dialH2Attacker(t, p.addr("web"))
	const n = 4 // more than error_limit
	for i := range n {
		id := uint32(2*i + 1)
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: a.headers("/wait"), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, 5*time.Second, "the server gets the request", func() bool { return started.Load() == int64(i+1) })
		if err := a.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
		testsupport.WaitFor(t, 5*time.Second, "the server's stream is reset", func() bool { return canceled.Load() == int64(i+1) })
		testsupport.WaitFor(t, 5*time.Second, "the reset stream ends", func() bool { return frontendStats(p, "web").CurStreams == 0 })
	}
	s := p.server(t, "s1")
	if s.Health != "up" || s.Check.Observed != "" {
		t.Errorf("client resets marked the server down: health %q, observed %q", s.Health, s.Check.Observed)
	}
	if be := p.backendStats(t); be.Status["5xx"] != 0 || be.Term["client_abort"] != n {
		t.Errorf("backend counts: responses %v, terminations %v; want no 5xx, %d client_abort", be.Status, be.Term, n)
	}
	for _, l := range p.logFor(t, "/wait", n) {
		if l["termination_state"] != "CD" || l["termination_cause"] != "client_abort" || l["status"] != float64(0) {
			t.Errorf("reset waiting for the response: %v", l)
		}
	}
}

// responseHead reads frames until the response HEADERS of stream id.
func (a *h2Attacker) responseHead(t testing.TB, id uint32) {
	t.Helper()
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for the response head of stream %d: %v", id, err)
		}
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == id {
			return
		}
	}
}

// TestTerm_LocalAnswersKeepTheConnection: deny, a 429 deny, return and
// redirect answer an HTTP/1.1 client and keep its connection, whole
// requests or small bodies sent after the answer (drained); a large body
// still to come, or one the client waits to be asked for, closes it, said
// in the answer. Over HTTP/1.1 and HTTP/2
// the log says PR for the denials and LR for the proxy's own answers.
func TestTerm_LocalAnswersKeepTheConnection(t *testing.T) {
	up := startUpstream(t, "-name", "s1")
	p := startProxy(t, termConfig, map[string]string{"up": up.Addr})
	addr := p.addr("web")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, step := range []struct {
		raw    string
		status int
	}{
		{"GET /deny HTTP/1.1\r\nHost: x\r\n\r\n", 403},
		{"GET /rate HTTP/1.1\r\nHost: x\r\n\r\n", 429},
		{"GET /return HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"GET /redir HTTP/1.1\r\nHost: x\r\n\r\n", 302},
		{"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 403},
		{"POST /return HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200},
		{"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 200},
	} {
		r := sendRaw(t, c, br, step.raw)
		if r.status != step.status || r.closing {
			t.Fatalf("%q: status %d, connection: close %v; want %d, kept", step.raw, r.status, r.closing, step.status)
		}
	}
	// A small body sent after the answer is drained: the next request is
	// served on the same connection.
	for _, head := range []string{
		"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n",
		"POST /deny HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		r := sendRaw(t, c, br, head)
		if r.status != 403 || r.closing {
			t.Fatalf("%q: status %d, connection: close %v", head, r.status, r.closing)
		}
		body := strings.Repeat("a", 2000)
		if strings.Contains(head, "chunked") {
			body = "7d0\r\n" + body + "\r\n0\r\n\r\n"
		}
		if r := sendRaw(t, c, br, body+"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"); r.status != 200 || r.closing {
			t.Fatalf("after a drained body: status %d, connection: close %v", r.status, r.closing)
		}
	}
	// A large body still to come: the answer says close, and closes.
	r := sendRaw(t, c, br, "POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	if r.status != 403 || !r.closing {
		t.Fatalf("large body to come: status %d, connection: close %v", r.status, r.closing)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection stayed open after connection: close (%d, %v)", n, err)
	}
	// A body the client waits to be asked for (Expect: 100-continue)
	// will not come: the answer says close, and closes.
	e, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ebr := bufio.NewReader(e)
	r = sendRaw(t, e, ebr, "POST /deny HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
	if r.status != 403 || !r.closing {
		t.Fatalf("expect 100-continue: status %d, connection: close %v", r.status, r.closing)
	}
	e.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := ebr.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection stayed open after connection: close (%d, %v)", n, err)
	}
	if n := up.Requests(t); n != 3 {
		t.Errorf("the server saw %d requests, want 3 (the /ok ones)", n)
	}

	// HTTP/2: the same answers, one connection.
	var dials atomic.Int64
	hc := h2Client(addr, nil, &dials)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for path, status := range map[string]int{"/deny/h2": 403, "/rate/h2": 429, "/return/h2": 200, "/redir/h2": 302} {
		resp, err := hc.Get("http://a.test" + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || resp.ProtoMajor != 2 {
			t.Fatalf("%s: %d over HTTP/%d, want %d over HTTP/2", path, resp.StatusCode, resp.ProtoMajor, status)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("HTTP/2 client dialed %d times", n)
	}

	for uri, want := range map[string]struct {
		state, cause string
		n            int
	}{
		"/deny": {"PR", "denied", 4}, "/rate": {"PR", "denied", 1},
		"/return": {"LR", "local", 2}, "/redir": {"LR", "local", 1},
		"/deny/h2": {"PR", "denied", 1}, "/rate/h2": {"PR", "denied", 1},
		"/return/h2": {"LR", "local", 1}, "/redir/h2": {"LR", "local", 1},
	} {
		for _, l := range p.logFor(t, uri, want.n) {
			if l["termination_state"] != want.state || l["termination_cause"] != want.cause {
				t.Errorf("%s: logged %v %v, want %s %s", uri, l["termination_state"], l["termination_cause"], want.state, want.cause)
			}
		}
	}
}

// rawReply is what sendRaw reads of a response.
type rawReply struct {
	status  int
	closing bool // the response said "connection: close"
}

// sendRaw writes raw on c and reads one response.
func sendRaw(t *testing.T, c net.Conn, br *bufio.Reader, raw string) rawReply {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return rawReply{status: resp.StatusCode, closing: resp.Close}
}

// TestTerm_ClientTimeouts: the client's timeouts are logged by phase as
// HAProxy does: cR before a full request head (408), cH waiting for the
// request body (408), cD when an HTTP/1.1 client stops reading the
// response and when an HTTP/2 client keeps the stream's window at zero.
func TestTerm_ClientTimeouts(t *testing.T) {
	up := startUpstream(t, "-name", "s1")
	p := startProxy(t, termConfig, map[string]string{"up": up.Addr})
	addr := p.addr("web")

	out := rawExchange(t, addr, "GET /head-timeout HTTP/1.1\r\nHost: x\r\n")
	if statusOf(out) != 408 {
		t.Errorf("incomplete head: %q", out)
	}
	out = rawExchange(t, addr, "POST /body-timeout HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	if statusOf(out) != 408 {
		t.Errorf("incomplete body: %q", out)
	}
	// A response far larger than the socket buffers, never read.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big/200000000 HTTP/1.1\r\nHost: x\r\n\r\n")

	// HTTP/2: a zero initial window, so the response's DATA cannot go.
	a := dialH2Attacker(t, addr)
	if err := a.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.headers("/big/1000"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reset := make(chan http2.ErrCode, 1)
	go func() {
		for ctx.Err() == nil {
			f, err := a.fr.ReadFrame()
			if err != nil {
				return
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == 1 {
				reset <- r.ErrCode
				return
			}
		}
	}()
	select {
	case code := <-reset:
		if code != http2.ErrCodeCancel {
			t.Errorf("zero window: stream reset with %v", code)
		}
	case <-ctx.Done():
		t.Fatal("the zero-window stream was not reset")
	}

	for uri, want := range map[string]struct {
		state  string
		status float64
	}{
		"/body-timeout": {"cH", 408}, "/big/200000000": {"cD", 200}, "/big/1000": {"cD", 200},
	} {
		l := p.logFor(t, uri, 1)[0]
		if l["termination_state"] != want.state || l["termination_cause"] != "client_timeout" || l["status"] != want.status {
			t.Errorf("%s: logged %v %v %v, want %s client_timeout %v", uri, l["termination_state"], l["termination_cause"], l["status"], want.state, want.status)
		}
	}
	var head map[string]any
	testsupport.WaitFor(t, 5*time.Second, "the head timeout is logged", func() bool {
		p.Proxy.Alog.Flush()
		for _, line := range strings.Split(strings.TrimSpace(p.logbuf.String()), "\n") {
			if l := decodeLogLine(t, line); l["status"] == float64(408) && l["termination_phase"] == "request" {
				head = l
			}
		}
		return head != nil
	})
	if head["termination_state"] != "cR" || head["termination_cause"] != "client_timeout" {
		t.Errorf("incomplete head: %v", head)
	}
}

// decodeLogLine decodes one JSON access-log line.
func decodeLogLine(t testing.TB, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("access log line %q: %v", line, err)
	}
	return m
}
