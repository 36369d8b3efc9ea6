package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
)

// termRules are the request rules of TestTerm_DifferentialHAProxy, word
// for word the same in HAProxy and strata.
var termRules = []string{
	"deny if { path_beg /deny }",
	"deny deny_status 429 if { path_beg /rate }",
	"return status 200 content-type text/plain string hello if { path_beg /return }",
	"redirect location /elsewhere if { path_beg /redir }",
}

// TestTerm_DifferentialHAProxy runs HAProxy 2.6 and strata side by side
// with the same rules and sends each the same traffic: on one keep-alive
// connection deny, a 429 deny, return and redirect, with and without a
// request body, between requests a server answers; a denied request whose
// large body has not come; a request head that never ends; a response the
// client never reads. Both must answer alike (status, connection kept or
// closed), log the same termination state and status for every request,
// and count the same connections and requests in a stick table.
func TestTerm_DifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	haddr, haddr2 := haproxyAddr(t), haproxyAddr(t)
	const store = "conn_cur,conn_cnt,http_req_cnt,http_err_cnt"
	var hcfg strings.Builder
	fmt.Fprintf(&hcfg, `global
  stats socket %s level admin
  log stdout format raw local0
defaults
  mode http
  log global
  option dontlognull
  log-format "LOG %%ts %%ST %%HU"
  timeout client 1s
  timeout server 20s
  timeout connect 5s
  timeout http-request 1s
  timeout http-keep-alive 10s
backend per_ip
  stick-table type ip size 100 expire 60s store %s
frontend web
  bind %s
  bind %s proto h2
  tcp-request connection track-sc0 src table per_ip
`, sock, store, haddr, haddr2)
	for _, r := range termRules {
		fmt.Fprintf(&hcfg, "  http-request %s\n", r)
	}
	fmt.Fprintf(&hcfg, "  default_backend app\nbackend app\n  server s1 %s\n", up.Addr)
	hap := startHAProxy(t, hcfg.String(), haddr)

	quoted := make([]string, len(termRules))
	for i, r := range termRules {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	p := startProxy(t, fmt.Sprintf(`
global:
  access_log: { output: stdout, format: json }
stick_tables:
  per_ip: { type: ip, size: 100, expire: 60s, store: %q }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    timeouts: { client: 1s, http_request: 1s, http_keep_alive: 10s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    http_request: [%s]
    default_backend: app
backends:
  app:
    timeouts: { connect: 5s, server: 20s }
    servers:
      s1: { address: "{{up}}" }
`, store, strings.Join(quoted, ", ")), map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)
	saddr := p.addr("web")
	if c, err := net.Dial("tcp", saddr); err == nil {
		c.Close() // HAProxy saw one at its start
	}

	// The traffic, to each in turn: the answers must be the same.
	hAnswers := append(termScript(t, haddr), termScriptH2(t, haddr2, up)...)
	sAnswers := append(termScript(t, saddr), termScriptH2(t, saddr, up)...)
	// The unread responses end at the client timeout, whenever the
	// proxies get to it: the log is read until both have logged them.
	if strings.Join(hAnswers, "\n") != strings.Join(sAnswers, "\n") {
		t.Fatalf("answers differ:\nhaproxy:\n  %s\nstrata:\n  %s", strings.Join(hAnswers, "\n  "), strings.Join(sAnswers, "\n  "))
	}
	t.Logf("answers:\n  %s", strings.Join(sAnswers, "\n  "))

	// The log: one line per request, the same state and status.
	// A line per answer but the HTTP/2 connection count, plus the unread
	// response's stream and the reset stream.
	want := len(sAnswers) - 1 + 2
	var hLog, sLog []string
	for range 1500 {
		hLog, sLog = haproxyTermLog(hap), strataTermLog(t, p)
		if len(hLog) >= want && len(sLog) >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Join(hLog, "\n") != strings.Join(sLog, "\n") || len(sLog) != want {
		t.Fatalf("logs differ (want %d lines):\nhaproxy:\n  %s\nstrata:\n  %s", want, strings.Join(hLog, "\n  "), strings.Join(sLog, "\n  "))
	}
	t.Logf("log:\n  %s", strings.Join(sLog, "\n  "))

	// The connections and requests counted.
	var hap2, str []string
	for range 300 {
		hap2, str = haproxyShowTable(t, sock, "per_ip"), strataShowTable(t, api, "per_ip")
		if equalLines(hap2, str) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !equalLines(hap2, str) {
		t.Fatalf("table per_ip:\nhaproxy:\n  %s\nstrata:\n  %s", strings.Join(hap2, "\n  "), strings.Join(str, "\n  "))
	}
	t.Logf("per_ip: %s", strings.Join(str, " | "))
}

// termScript sends the traffic of TestTerm_DifferentialHAProxy to addr
// and returns what it got, one line per request. The last request's
// response is never read: its connection stays open until the test ends,
// so that only the proxy's client timeout can end it.
func termScript(t *testing.T, addr string) []string {
	t.Helper()
	var out []string
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, raw := range []string{
		"GET /deny HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /rate HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /return HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /redir HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /deny/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /return/body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET /rate/again HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ok/last HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		out = append(out, termExchange(c, br, raw))
	}
	c.Close()

	// A denied request whose large body has not come: answered, closed.
	out = append(out, termOnce(t, addr, "POST /deny/large HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"))
	// A head that never ends: 408 at the http-request timeout.
	out = append(out, termOnce(t, addr, "GET /slow HTTP/1.1\r\nHost: x\r\n"))

	// A response the client never reads: the client timeout ends it.
	u, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	u.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(u, "GET /big/200000000 HTTP/1.1\r\nHost: x\r\n\r\n")
	return out
}

// termScriptH2 sends HTTP/2 traffic to addr (h2c with prior knowledge):
// the proxy's own answers on one connection, then a stream the client
// resets while the server works on it.
func termScriptH2(t *testing.T, addr string, up *upstream) []string {
	t.Helper()
	var out []string
	var dials atomic.Int64
	c := h2Client(addr, nil, &dials)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, path := range []string{"/deny/h2", "/rate/h2", "/return/h2", "/redir/h2", "/ok/h2"} {
		resp, err := c.Get("http://x" + path)
		if err != nil {
			out = append(out, path+": "+err.Error())
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, fmt.Sprintf("h2 GET %s: %d", path, resp.StatusCode))
	}
	out = append(out, fmt.Sprintf("h2 connections: %d", dials.Load()))
	c.CloseIdleConnections()

	a := dialH2Attacker(t, addr)
	n := delayed(t, up)
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.headers("/delay/10s"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, 5*time.Second, "the server gets the request", func() bool { return delayed(t, up) == n+1 })
	if err := a.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	return out
}

// delayed counts the /delay/10s requests the upstream received (other
// requests of the script may still be arriving).
func delayed(t *testing.T, up *upstream) int {
	n := 0
	for _, e := range up.Events(t, "request") {
		if strings.HasSuffix(e.URI, "/delay/10s") {
			n++
		}
	}
	return n
}

// termExchange sends raw on a keep-alive connection and describes the
// answer: status, whether it said close, and whether the connection
// then serves another request.
func termExchange(c net.Conn, br *bufio.Reader, raw string) string {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line := strings.SplitN(raw, "\r\n", 2)[0]
	if _, err := io.WriteString(c, raw); err != nil {
		return line + ": " + err.Error()
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return line + ": " + err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("%s: %d close=%v", line, resp.StatusCode, resp.Close)
}

// termOnce sends raw on a new connection and describes the answer and
// whether the proxy closed the connection after it.
func termOnce(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	s := termExchange(c, br, raw)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = br.ReadByte()
	return fmt.Sprintf("%s, then closed=%v", s, err == io.EOF)
}

// haproxyTermLog returns HAProxy's log lines ("LOG %ts %ST %HU") as
// "STATE STATUS URI", sorted.
func haproxyTermLog(h *haproxyProc) []string {
	var out []string
	for _, l := range strings.Split(h.out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "LOG "); ok {
			f := strings.Fields(rest)
			if len(f) == 3 {
				out = append(out, termLogLine(f[0], f[1], f[2]))
			}
		}
	}
	sort.Strings(out)
	return out
}

// strataTermLog returns strata's access log in the form of
// haproxyTermLog.
func strataTermLog(t *testing.T, p *testProxy) []string {
	p.Proxy.Alog.Flush()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(p.logbuf.String()), "\n") {
		if l == "" {
			continue
		}
		m := decodeLogLine(t, l)
		out = append(out, termLogLine(m["termination_state"].(string), fmt.Sprint(m["status"]), m["uri"].(string)))
	}
	sort.Strings(out)
	return out
}

// termLogLine formats a log line for comparison. A request whose head
// never ended has no URI: HAProxy says <BADREQ>, strata nothing.
func termLogLine(state, status, uri string) string {
	if uri == "" || uri == "<BADREQ>" {
		uri = "-"
	}
	// HAProxy logs an HTTP/2 request's scheme and authority, and -1 for
	// no status where strata says 0.
	uri = strings.TrimPrefix(uri, "http://x")
	if status == "-1" {
		status = "0"
	}
	return state + " " + status + " " + uri
}
