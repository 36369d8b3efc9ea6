package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/cmd/strata/internal/haproxycfg"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// diffRequest is one request of a differential script: raw bytes, sent on
// a connection of its own.
type diffReq struct {
	name   string
	raw    string
	status int  // HAProxy's status, asserted so that the script exercises what it names; 0: not asserted
	tls    bool // sent to the TLS listener (127.0.0.1:8443 in the corpus)
}

func get(path string, headers ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: diff.test\r\n" + strings.Join(headers, "") + "Connection: close\r\n\r\n"
}

func withBody(method, path, body string, headers ...string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: diff.test\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, path, strings.Join(headers, ""), len(body), body)
}

// TestImport_DifferentialHAProxy starts HAProxy on a configuration of the
// import corpus and strata on its import, with the same upstreams (the
// corpus's addresses rewritten to test ports), sends each request of the
// script to both, one connection per request, and requires the same status,
// the same server chosen, the same request at the server (method, URI,
// header fields, body) and the same response header fields at the client —
// for responses a server gave; for those the proxy made itself, the status
// and, for `return` rules, the body (and the Location of redirects). Then
// every stick table must read the same in HAProxy's "show table" and
// strata's. The corpus: an HTTP gateway with ACL routing, a rate limit and
// two checked backends (ratelimit.cfg), a listen section with stickiness
// (listen.cfg), TCP mode with connection-rate rejects (tcp-ratelimit.cfg),
// and a clear listener redirecting to a TLS one (tls.cfg).
func TestImport_DifferentialHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test: skipped in -short mode")
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed: the differential test needs it (apt-get install haproxy)")
	}
	burst := make([]diffReq, 22)
	for i := range burst {
		burst[i] = diffReq{name: fmt.Sprintf("burst %d", i), raw: get("/burst")}
	}
	key := "X-Api-Key: k1\r\n"
	tests := []struct {
		file    string
		servers []string // upstream names, in the corpus's port order 9001, 9002, …
		tables  []string
		script  []diffReq
	}{
		{
			file:    "ratelimit.cfg",
			servers: []string{"api1", "api2", "st1"},
			tables:  []string{"per_ip"},
			script: append([]diffReq{
				{name: "default backend", raw: get("/"), status: 200},
				{name: "api without key", raw: get("/api/x"), status: 401},
				{name: "api with key", raw: get("/api/x", key), status: 200},
				{name: "static by prefix", raw: get("/static/app.js"), status: 200},
				{name: "static by suffix", raw: get("/img/logo.png"), status: 200},
				{name: "admin from an internal address", raw: get("/admin/stats"), status: 200},
				{name: "return rule", raw: get("/ping"), status: 200},
				{name: "redirect", raw: "GET /some/where?q=1 HTTP/1.1\r\nHost: old.example.com\r\nConnection: close\r\n\r\n", status: 301},
				{name: "two Host fields", raw: get("/", "Host: old.example.com\r\n"), status: 400},
				{name: "header removed at the server", raw: get("/", "X-Debug: 1\r\n"), status: 200},
				{name: "POST with a body", raw: withBody("POST", "/api/upload", "hello=world&x=1", key), status: 200},
				{name: "DELETE", raw: withBody("DELETE", "/api/item/7", "", key), status: 200},
				{name: "server 404", raw: get("/status/404"), status: 404},
				{name: "server 500", raw: get("/status/500"), status: 500},
				{name: "duplicate content-length", raw: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400},
				{name: "space in the header name", raw: "GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", status: 400},
			}, burst...),
		},
		{
			file:    "listen.cfg",
			servers: []string{"s1", "s2", "s3"},
			tables:  []string{"web"},
			script: []diffReq{
				{name: "return rule", raw: get("/healthz"), status: 200},
				{name: "first request, sticks", raw: get("/"), status: 200},
				{name: "sticky", raw: get("/a"), status: 200},
				{name: "sticky again", raw: get("/b", "X-Forwarded-Proto: https\r\n"), status: 200},
				{name: "denied user agent", raw: get("/", "User-Agent: Mozilla sqlmap/1.0\r\n"), status: 403},
				{name: "set-path", raw: get("/v1/users?id=3"), status: 200},
				{name: "POST", raw: withBody("POST", "/form", "a=1"), status: 200},
				{name: "server 503", raw: get("/status/503"), status: 503},
				{name: "bad request line", raw: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
			},
		},
	}
	// Fourteen connections: the thirteenth and fourteenth exceed 12 a
	// minute and are refused before a byte is read.
	var conns []diffReq
	for i := range 14 {
		st := 200
		if i >= 12 {
			st = closedWithoutAnswer
		}
		conns = append(conns, diffReq{name: fmt.Sprintf("connection %d", i), raw: get(fmt.Sprintf("/c%d", i)), status: st})
	}
	tlsScript := []diffReq{
		{name: "clear request redirected", raw: get("/login?next=/home"), status: 301},
		{name: "over TLS", raw: get("/login?next=/home"), status: 200, tls: true},
		{name: "over TLS, a forwarded protocol from the client replaced", raw: get("/", "X-Forwarded-Proto: http\r\n", "X-SNI: forged\r\n"), status: 200, tls: true},
		{name: "over TLS, POST", raw: withBody("POST", "/form", "a=1&b=2"), status: 200, tls: true},
		{name: "over TLS, server error", raw: get("/status/502"), status: 502, tls: true},
		{name: "over TLS, malformed", raw: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", status: 400, tls: true},
	}
	tests = append(tests, struct {
		file    string
		servers []string
		tables  []string
		script  []diffReq
	}{file: "tls.cfg", servers: []string{"s1"}, script: tlsScript})
	tests = append(tests, struct {
		file    string
		servers []string
		tables  []string
		script  []diffReq
	}{file: "tcp-ratelimit.cfg", servers: []string{"s1", "s2"}, tables: []string{"web"}, script: conns})
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".cfg"), func(t *testing.T) {
			runDifferential(t, bin, tt.file, tt.servers, tt.tables, tt.script)
		})
	}
}

func runDifferential(t *testing.T, bin, file string, servers, tables []string, script []diffReq) {
	src, err := os.ReadFile(filepath.Join("internal/haproxycfg/testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The same upstreams for both proxies.
	text := string(src)
	for i, name := range servers {
		up := startUpstream(t, name, "-mode", "echo")
		text = strings.ReplaceAll(text, fmt.Sprintf("127.0.0.1:%d", 9001+i), up.addr)
	}
	sock := regexp.MustCompile(`stats socket (\S+)`)
	testdata, err := filepath.Abs("internal/haproxycfg/testdata")
	if err != nil {
		t.Fatal(err)
	}
	text = strings.ReplaceAll(text, " testdata/", " "+testdata+"/")
	hsock := filepath.Join(dir, "haproxy.sock")
	hplain, htls := freePort(t), freePort(t)
	hcfg := strings.NewReplacer("127.0.0.1:8080", hplain, "127.0.0.1:8443", htls).Replace(text)
	hcfg = sock.ReplaceAllString(hcfg, "stats socket "+hsock)
	ssock := filepath.Join(dir, "strata.sock")
	scfg := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:0", "127.0.0.1:8443", "127.0.0.1:0").Replace(text)
	scfg = sock.ReplaceAllString(scfg, "stats socket "+ssock)

	hpath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hpath, []byte(hcfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", hpath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy refuses %s (the differential corpus must be valid HAProxy): %s", file, out)
	}
	res, err := haproxycfg.Import([]byte(scfg), haproxycfg.Options{Name: file})
	if err != nil || res.CheckErr != nil {
		t.Fatalf("import: %v %v", err, res.CheckErr)
	}
	if n := res.Report.NotConverted(); n > 0 {
		var b bytes.Buffer
		res.Report.Write(&b, file)
		t.Fatalf("the differential corpus must convert fully:\n%s", b.String())
	}

	cmd := exec.Command(bin, "-db", "-f", hpath)
	var hlog syncBuf
	cmd.Stdout, cmd.Stderr = &hlog, &hlog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("haproxy said:\n%s\nstrata's configuration:\n%s", hlog.String(), res.YAML)
		}
	})
	testsupport.WaitFor(t, 10*time.Second, "haproxy listening", func() bool {
		_, err := os.Stat(hsock)
		return err == nil
	})
	sp := startStrata(t, string(res.YAML), false)
	stls := ""
	if strings.Contains(text, "127.0.0.1:8443") {
		tlsRE := regexp.MustCompile(`msg=listening frontend=web-tls address=(\S+)`)
		testsupport.WaitFor(t, 10*time.Second, "strata's TLS listener", func() bool {
			m := tlsRE.FindStringSubmatch(sp.stderr.String())
			if m != nil {
				stls = m[1]
			}
			return m != nil
		})
	}

	// Both proxies start with every server up: wait until each answers.
	warm := []string{hplain, sp.web}
	if stls != "" {
		warm = []string{htls, stls} // the clear listener redirects
	}
	for _, addr := range warm {
		for i := 0; ; i++ {
			r, err := sendRaw(addr, get("/status/200"), stls != "")
			if err == nil && r.status == 200 {
				break
			}
			if i == 500 {
				t.Fatalf("no 200 from %s: %+v %v", addr, r, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The warm-up requests counted in the tables: once no entry is in use
	// (the warm-up connections released), clear them in both.
	inUse := regexp.MustCompile(`use=[1-9]`)
	for _, table := range tables {
		strataShow := func() string {
			var out, errb bytes.Buffer
			run([]string{"ctl", "--admin", "unix:" + ssock, "table", "show", table}, &out, &errb)
			return out.String()
		}
		testsupport.WaitFor(t, 10*time.Second, "warm-up entries released", func() bool {
			return !inUse.MatchString(haproxyCLI(t, hsock, "show table "+table)) && !inUse.MatchString(strataShow())
		})
		haproxyCLI(t, hsock, "clear table "+table)
		var out, errb bytes.Buffer
		if code := run([]string{"ctl", "--admin", "unix:" + ssock, "table", "clear", table}, &out, &errb); code != 0 {
			t.Fatalf("strata ctl table clear: %s", errb.String())
		}
		if n := len(normalizeTable(strataShow())); n != 1 {
			t.Fatalf("table %s not empty after clear: %s", table, strataShow())
		}
	}

	denied := 0
	for _, r := range script {
		haddr, saddr := hplain, sp.web
		if r.tls {
			haddr, saddr = htls, stls
		}
		h, herr := sendRaw(haddr, r.raw, r.tls)
		s, serr := sendRaw(saddr, r.raw, r.tls)
		if herr != nil || serr != nil {
			t.Fatalf("%s: haproxy: %v, strata: %v", r.name, herr, serr)
		}
		if r.status != 0 && h.status != r.status {
			t.Errorf("%s: haproxy answered %d, the script expects %d", r.name, h.status, r.status)
		}
		if h.status == 429 {
			denied++
		}
		if d := h.diff(s); d != "" {
			t.Errorf("%s: %s\nhaproxy: %+v\nstrata:  %+v", r.name, d, h, s)
		}
	}

	if file == "ratelimit.cfg" && denied == 0 {
		t.Errorf("the burst was never rate-limited: the script does not reach the limit")
	}
	for _, table := range tables {
		var hap, str []string
		for range 300 {
			hap = normalizeTable(haproxyCLI(t, hsock, "show table "+table))
			var out, errb bytes.Buffer
			run([]string{"ctl", "--admin", "unix:" + ssock, "table", "show", table}, &out, &errb)
			str = normalizeTable(out.String())
			if strings.Join(hap, "\n") == strings.Join(str, "\n") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if strings.Join(hap, "\n") != strings.Join(str, "\n") {
			t.Errorf("table %s:\nhaproxy:\n  %s\nstrata:\n  %s", table, strings.Join(hap, "\n  "), strings.Join(str, "\n  "))
		} else {
			t.Logf("table %s, the same in both:\n  %s", table, strings.Join(str, "\n  "))
		}
	}
}

// diffResp is what is compared of one answer.
type diffResp struct {
	status  int
	headers []string // response fields, "name: value", lower-cased names, sorted
	body    string
	echo    *echoed // what the server received, when a server answered
}

type echoed struct {
	Server     string      `json:"server"`
	Method     string      `json:"method"`
	URI        string      `json:"uri"`
	Headers    [][2]string `json:"headers"`
	BodyLength int64       `json:"body_length"`
	BodySHA256 string      `json:"body_sha256"`
}

// volatile response fields: they differ by nature (dates, lengths of
// bodies that carry the echo, connection management).
var volatile = map[string]bool{"date": true, "content-length": true, "connection": true, "keep-alive": true}

func (h *diffResp) diff(s *diffResp) string {
	if h.status != s.status {
		return fmt.Sprintf("status %d vs %d", h.status, s.status)
	}
	if (h.echo == nil) != (s.echo == nil) {
		return "one answer is the server's, the other the proxy's"
	}
	if h.echo == nil {
		// The proxy's own answer: bodies of `return` rules match, error
		// pages are each proxy's own.
		if h.status == 200 && h.body != s.body {
			return fmt.Sprintf("body %q vs %q", h.body, s.body)
		}
		if loc := func(r *diffResp) string { return fieldOf(r.headers, "location") }; loc(h) != loc(s) {
			return fmt.Sprintf("location %q vs %q", loc(h), loc(s))
		}
		return ""
	}
	if strings.Join(h.headers, "\n") != strings.Join(s.headers, "\n") {
		return fmt.Sprintf("response fields\n  %q\nvs\n  %q", h.headers, s.headers)
	}
	he, se := h.echo, s.echo
	if he.Server != se.Server || he.Method != se.Method || he.URI != se.URI || he.BodyLength != se.BodyLength || he.BodySHA256 != se.BodySHA256 {
		return fmt.Sprintf("server saw %s %s %s (%d bytes) vs %s %s %s (%d bytes)", he.Server, he.Method, he.URI, he.BodyLength, se.Server, se.Method, se.URI, se.BodyLength)
	}
	if a, b := serverFields(he), serverFields(se); a != b {
		return fmt.Sprintf("fields at the server\n  %s\nvs\n  %s", a, b)
	}
	return ""
}

func fieldOf(fields []string, name string) string {
	for _, f := range fields {
		if v, ok := strings.CutPrefix(f, name+": "); ok {
			return v
		}
	}
	return ""
}

// serverFields lists what the server received, names lower-cased, in
// order, without connection management.
func serverFields(e *echoed) string {
	var out []string
	for _, f := range e.Headers {
		n := strings.ToLower(f[0])
		if volatile[n] {
			continue
		}
		out = append(out, n+": "+f[1])
	}
	return strings.Join(out, " | ")
}

// closedWithoutAnswer is the status of a connection the proxy closed
// without a byte of answer (a tcp-request connection reject).
const closedWithoutAnswer = -1

// sendRaw sends raw on a new connection and reads the answer until the
// proxy closes.
func sendRaw(addr, raw string, overTLS bool) (*diffResp, error) {
	var c net.Conn
	var err error
	if overTLS {
		d := &tls.Dialer{Config: &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}} // the corpus's self-signed certificate
		c, err = d.Dial("tcp", addr)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if errors.Is(err, syscall.ECONNRESET) {
		// A reject at accept may reset the connection before the dial
		// returns (HAProxy does, with no linger).
		return &diffResp{status: closedWithoutAnswer}, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &diffResp{status: closedWithoutAnswer}, nil
	} else if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return &diffResp{status: closedWithoutAnswer}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("status line: %v", err)
	}
	r := &diffResp{}
	fmt.Sscanf(line, "HTTP/1.1 %d", &r.status)
	isServer := false
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "x-server" {
			isServer = true
		}
		if !volatile[k] {
			r.headers = append(r.headers, k+": "+strings.TrimSpace(v))
		}
	}
	sort.Strings(r.headers)
	body, _ := io.ReadAll(br)
	r.body = string(body)
	if isServer && fieldOf(r.headers, "content-type") == "application/json" {
		r.echo = &echoed{}
		if err := json.Unmarshal(body, r.echo); err != nil {
			return nil, fmt.Errorf("echo body: %v", err)
		}
	} else if isServer {
		r.echo = &echoed{Server: fieldOf(r.headers, "x-server")}
	}
	return r, nil
}

func haproxyCLI(t *testing.T, sock, command string) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, command+"\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	tableAddr = regexp.MustCompile(`^0x[0-9a-f]+: `)
	tableExp  = regexp.MustCompile(` exp=\d+`)
	tableSrv  = regexp.MustCompile(` server_key=\S+`)
	spaces    = regexp.MustCompile(`\s+`)
)

// normalizeTable drops what differs by nature in "show table": the entry
// address HAProxy prints, the milliseconds left before expiry and the
// server key (strata keeps server_id only).
func normalizeTable(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(spaces.ReplaceAllString(l, " "))
		if l == "" {
			continue
		}
		l = tableAddr.ReplaceAllString(l, "")
		l = tableExp.ReplaceAllString(l, "")
		l = tableSrv.ReplaceAllString(l, "")
		out = append(out, l)
	}
	sort.Strings(out[min(1, len(out)):])
	return out
}
