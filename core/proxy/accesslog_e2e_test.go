package proxy

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
)

// startProxyOwnLog is startProxy, but the proxy opens the access-log
// output of the configuration itself (a socket, a file) instead of writing
// to the test's buffer.
func startProxyOwnLog(t testing.TB, yaml string, vars map[string]string) *testProxy {
	t.Helper()
	for k, v := range vars {
		yaml = strings.ReplaceAll(yaml, "{{"+k+"}}", v)
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := generation.Build(cfg, generation.BuildOptions{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	p, err := New(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &testProxy{Proxy: p}
}

// TestAccessLog_BlockedSyslogDoesNotStall logs to a unix datagram socket
// that nobody reads (a syslog daemon that hung): every request must still
// be answered, and the lines that could not be written are counted in
// strata_log_dropped_total, which with strata_log_lines_total accounts
// for every request.
func TestAccessLog_BlockedSyslogDoesNotStall(t *testing.T) {
	up := startUpstream(t)
	sock := filepath.Join(t.TempDir(), "log.sock")
	rc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close() // open, never read
	p := startProxyOwnLog(t, `
global:
  access_log: { output: "unix://{{sock}}", format: json, syslog: { facility: local1 } }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr, "sock": sock})
	api := startAdminAPI(t, p)

	// 600 lines of about 4 KiB: more than the socket's buffer and the
	// 1 MiB queue together.
	const n = 600
	path := "/" + strings.Repeat("a", 4000)
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range n {
		fmt.Fprintf(c, "GET %s?%d HTTP/1.1\r\nHost: x\r\n\r\n", path, i)
		if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	p.Proxy.Alog.Flush()
	dropped, written := metric(t, api, "strata_log_dropped_total"), metric(t, api, "strata_log_lines_total")
	if dropped == 0 {
		t.Fatalf("no line dropped (%v written): the socket took them all", written)
	}
	if dropped+written != n {
		t.Fatalf("dropped %v + written %v != %d requests", dropped, written, n)
	}
	t.Logf("%d requests answered; %v lines written, %v dropped", n, written, dropped)
}

// TestAccessLog_SyslogUDP sends the access log of a frontend with
// log_format httplog to a syslog server (a UDP socket of the test), as
// HAProxy's `log 127.0.0.1:514 local0` does, in both syslog formats: one
// datagram per request, with the priority of the facility and level, the
// tag, and the httplog line as its message.
func TestAccessLog_SyslogUDP(t *testing.T) {
	up := startUpstream(t)
	for _, tc := range []struct {
		name, syslog, header string
	}{
		{"rfc5424", "{ format: rfc5424, facility: local0, tag: edge }", `^<134>1 \S+ \S+ edge \d+ - - `},
		{"rfc3164", "{ format: rfc3164, facility: local2, level: notice, tag: edge }", `^<149>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d edge\[\d+\]: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			p := startProxyOwnLog(t, `
global:
  access_log: { output: "udp://{{log}}", syslog: `+tc.syslog+` }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    log_format: httplog
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr, "log": rc.LocalAddr().String()})
			if st := statusOf(rawExchange(t, p.addr("web"), "GET /syslog HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); st != 200 {
				t.Fatalf("status %d", st)
			}
			p.Proxy.Alog.Flush()
			buf := make([]byte, 65536)
			rc.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := rc.Read(buf)
			if err != nil {
				t.Fatalf("no syslog message: %v", err)
			}
			msg := string(buf[:n])
			want := tc.header + `127\.0\.0\.1:\d+ \[[^]]+\] web app/s1 \d+/\d+/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/\d+/\d+/0 0/0 "GET /syslog HTTP/1\.1"$`
			if !regexp.MustCompile(want).MatchString(msg) {
				t.Fatalf("syslog message %q\nwant %s", msg, want)
			}
		})
	}
}

// TestAccessLog_UniqueID gives each request an id from unique_id_format
// (HAProxy's usual one, in hexadecimal), sends it to the server in
// unique_id_header and logs it with %ID: the server and the log see the
// same id, and two requests of one connection get different ones.
func TestAccessLog_UniqueID(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, `
global:
  access_log: { output: stdout }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    log_format: "%ID %ST %HU"
    unique_id_format: "%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid"
    unique_id_header: X-Unique-ID
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr})
	c, err := net.Dial("tcp", p.addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var ids []string
	for i := range 2 {
		fmt.Fprintf(c, "GET /id/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		ids = append(ids, echoHeader(t, body, "x-unique-id"))
	}
	idRE := regexp.MustCompile(`^7F000001:[0-9A-F]{4}_7F000001:[0-9A-F]{4}_[0-9A-F]+_[0-9A-F]+:[0-9A-F]+$`)
	for i, id := range ids {
		if !idRE.MatchString(id) {
			t.Fatalf("request %d: the server got id %q", i, id)
		}
	}
	if ids[0] == ids[1] {
		t.Fatalf("both requests got id %s", ids[0])
	}
	lines := waitLines(t, 2, func() []string {
		p.Proxy.Alog.Flush()
		return strings.Split(strings.TrimSpace(p.logbuf.String()), "\n")
	})
	for i, id := range ids {
		if want := fmt.Sprintf("%s 200 /id/%d", id, i); lines[i] != want {
			t.Errorf("log line %d = %q, want %q", i, lines[i], want)
		}
	}
}
