package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestStick_DifferentialHAProxy runs the same stick-table rules in HAProxy
// and in strata, sends the same scripted traffic to each (keep-alive and
// new connections, requests denied by rules, server 4xx and 5xx, invalid,
// truncated and timed-out requests, a connection that sends nothing, one
// left open) and requires every line of HAProxy's "show table" to equal
// strata's, value for value. Periods are one minute, so every rate is read
// within its first period. The expiry countdown (exp=) is left out, being
// a matter of milliseconds.
func TestStick_DifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)

	// The rules, word for word the same in both.
	rules := []string{
		"track-sc1 req.hdr(x-api-key) table per_key",
		"deny deny_status 429 if { sc1_http_req_cnt gt 5 }",
		"sc-inc-gpc(0,0) if { path_beg /login }",
		"sc-inc-gpc(1,0) if { path_beg /login } { req.hdr(x-api-key) -m found }",
		"sc-set-gpt(0,0) 42 if { path_beg /tag }",
		"deny if { path_beg /forbidden }",
	}
	const perIP = "conn_cur,conn_cnt,conn_rate(60s),sess_cnt,sess_rate(60s),http_req_cnt,http_req_rate(60s)," +
		"http_err_cnt,http_err_rate(60s),http_fail_cnt,http_fail_rate(60s),gpc(2),gpc_rate(2,60s),gpt(1)"
	const perKey = "conn_cur,conn_cnt,http_req_cnt,http_req_rate(60s),http_err_cnt,http_fail_cnt"
	const perStream = "conn_cur,conn_cnt,http_req_cnt,http_err_cnt,http_fail_cnt"

	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	hport := freePort(t)
	var hcfg strings.Builder
	fmt.Fprintf(&hcfg, `global
  stats socket %s level admin
defaults
  mode http
  timeout client 10s
  timeout server 10s
  timeout connect 5s
  timeout http-request 1s
  timeout http-keep-alive 10s
backend per_ip
  stick-table type ip size 1000 expire 60s store %s
backend per_key
  stick-table type string len 32 size 1000 expire 60s store %s
backend per_stream
  stick-table type ip size 1000 expire 60s store %s
frontend web
  bind 127.0.0.1:%d
  tcp-request connection track-sc0 src table per_ip
  tcp-request content track-sc2 src table per_stream
`, sock, perIP, perKey, perStream, hport)
	for _, r := range rules {
		fmt.Fprintf(&hcfg, "  http-request %s\n", r)
	}
	fmt.Fprintf(&hcfg, "  default_backend app\nbackend app\n  stick on src table per_ip\n  server s1 %s\n", up.Addr)
	haddr := fmt.Sprintf("127.0.0.1:%d", hport)
	startHAProxy(t, hcfg.String(), haddr) // its first connection counts: strata gets one too, below

	quoted := make([]string, len(rules))
	for i, r := range rules {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	p := startProxy(t, fmt.Sprintf(`
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 1000, expire: 60s, store: %q }
  per_key: { type: string, len: 32, size: 1000, expire: 60s, store: %q }
  per_stream: { type: ip, size: 1000, expire: 60s, store: %q }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 1s, http_keep_alive: 10s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    tcp_request_content: ["track-sc2 src table per_stream"]
    http_request: [%s]
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { connect: 5s, server: 10s }
    stick: { on: src, table: per_ip }
    servers:
      s1: { address: "{{up}}" }
`, perIP, perKey, perStream, strings.Join(quoted, ", ")), map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)
	saddr := p.addr("web")
	if c, err := net.Dial("tcp", saddr); err == nil {
		c.Close() // as for HAProxy above
	}

	// The script, run against each proxy at once.
	done := make(chan []string, 2)
	var open []net.Conn
	for _, addr := range []string{haddr, saddr} {
		c := diffScript(t, addr, done)
		open = append(open, c)
	}
	for range 2 {
		if errs := <-done; len(errs) > 0 {
			t.Fatalf("traffic:\n%s", strings.Join(errs, "\n"))
		}
	}

	// While one connection is still open, then once it is closed.
	for _, phase := range []string{"open", "closed"} {
		if phase == "closed" {
			for _, c := range open {
				c.Close()
			}
		}
		for _, table := range []string{"per_ip", "per_key", "per_stream"} {
			var hap, str []string
			for i := 0; i < 300; i++ {
				hap = haproxyShowTable(t, sock, table)
				str = strataShowTable(t, api, table)
				if equalLines(hap, str) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !equalLines(hap, str) {
				t.Fatalf("%s, table %s:\nhaproxy:\n  %s\nstrata:\n  %s", phase, table, strings.Join(hap, "\n  "), strings.Join(str, "\n  "))
			}
			t.Logf("%s, %s:\n  %s", phase, table, strings.Join(str, "\n  "))
		}
	}
}

// diffScript sends the scripted traffic to addr and returns, still open,
// an idle keep-alive connection; errors go to done.
func diffScript(t *testing.T, addr string, done chan<- []string) net.Conn {
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	go func() {
		var errs []string
		fail := func(format string, a ...any) { errs = append(errs, addr+": "+fmt.Sprintf(format, a...)) }
		// The idle connection makes one request and stays open, waiting
		// for the next.
		if st, err := diffRequest(idle, bufio.NewReader(idle), "/still-open", ""); err != nil || st != 200 {
			fail("GET /still-open: %d %v", st, err)
		}
		// A keep-alive connection: successes, server 4xx and 5xx (501 and
		// 505 are not failures), counters and tags, then a denied
		// request; the client closes it.
		seq := []struct {
			path, key string
			status    int
		}{
			{"/a", "k1", 200}, {"/status/404", "k1", 404}, {"/status/500", "k1", 500},
			{"/status/503", "", 503}, {"/status/401", "", 401}, {"/status/407", "k2", 407},
			{"/status/501", "", 501}, {"/status/505", "", 505}, {"/status/502", "", 502},
			{"/login", "k2", 200}, {"/login", "", 200}, {"/tag", "", 200},
			{"/forbidden", "k2", 403},
		}
		runSeq := func(steps []struct {
			path, key string
			status    int
		}) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fail("%v", err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for _, s := range steps {
				st, err := diffRequest(c, br, s.path, s.key)
				if err != nil || st != s.status {
					fail("GET %s (key %q): status %d, want %d (%v)", s.path, s.key, st, s.status, err)
					return
				}
			}
		}
		runSeq(seq)
		// Seven requests with one key: the sixth is denied (429), the
		// seventh too, on a new connection.
		var k3 []struct {
			path, key string
			status    int
		}
		for i := range 6 {
			st := 200
			if i == 5 {
				st = 429
			}
			k3 = append(k3, struct {
				path, key string
				status    int
			}{"/k3", "k3", st})
		}
		runSeq(k3)
		runSeq(k3[5:])
		// Invalid, truncated and timed-out requests; a connection that
		// sends nothing.
		for _, raw := range []string{
			"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
			"GET /truncated HTTP/1.1\r\nHost: x\r\nX-Partial",
			"GET /slow HTTP/1.1\r\nHost: x\r\n",
			"",
		} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fail("%v", err)
				continue
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, raw)
			if raw != "" && strings.Contains(raw, "X-Partial") {
				time.Sleep(100 * time.Millisecond)
				c.(*net.TCPConn).CloseWrite()
			}
			io.Copy(io.Discard, c) // the proxy closes: at once, or after its http-request timeout
			c.Close()
		}
		done <- errs
	}()
	return idle
}

func diffRequest(c net.Conn, br *bufio.Reader, path, key string) (int, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	h := ""
	if key != "" {
		h = "X-Api-Key: " + key + "\r\n"
	}
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: diff.test\r\n"+h+"\r\n"); err != nil {
		return 0, err
	}
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var code, length int
	fmt.Sscanf(status, "HTTP/1.1 %d", &code)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return code, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "content-length") {
			fmt.Sscan(strings.TrimSpace(v), &length)
		}
	}
	_, err = io.CopyN(io.Discard, br, int64(length))
	return code, err
}

var (
	showAddr = regexp.MustCompile(`^0x[0-9a-f]+: `)
	showExp  = regexp.MustCompile(` exp=\d+`)
	showSrv  = regexp.MustCompile(` server_key=\S+`)
)

// normalizeShow drops what differs by nature: the entry address HAProxy
// prints and the milliseconds left before expiry.
func normalizeShow(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		l = showAddr.ReplaceAllString(l, "")
		l = showExp.ReplaceAllString(l, "")
		l = showSrv.ReplaceAllString(l, "") // strata stores server_id only
		out = append(out, l)
	}
	sort.Strings(out[min(1, len(out)):]) // entries after the heading, by key
	return out
}

func haproxyShowTable(t *testing.T, sock, table string) []string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "show table "+table+"\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return normalizeShow(strings.Split(string(b), "\n"))
}

func strataShowTable(t *testing.T, api *stickAPI, table string) []string {
	t.Helper()
	d := api.dump(t, table, "")
	lines := []string{d.Header}
	for _, e := range d.Entries {
		lines = append(lines, e.Show)
	}
	return normalizeShow(lines)
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
