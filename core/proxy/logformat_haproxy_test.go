package proxy

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// logFormatHAProxy is a custom log format of fields whose values do not
// depend on timing or ports, the same string in HAProxy and strata.
const logFormatHAProxy = "LOG %ST %B %HM %HU %HV %b %s %ts"

// TestLogFormat_DifferentialHAProxy sends the same requests through
// HAProxy 2.6 and strata with the same custom log format (%B, the bytes
// sent to the client, among its fields): every line must be equal.
func TestLogFormat_DifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)
	haddr := haproxyAddr(t)
	hap := startHAProxy(t, fmt.Sprintf(`global
  log stdout format raw local0
defaults
  mode http
  log global
  option dontlognull
  log-format "%s"
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend web
  bind %s
  http-request deny if { path_beg /deny }
  default_backend app
backend app
  server s1 %s
`, logFormatHAProxy, haddr, up.Addr), haddr)
	p := startProxy(t, `
global:
  access_log: { output: stdout }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    log_format: "`+logFormatHAProxy+`"
    http_request: ["deny if { path_beg /deny }"]
    default_backend: app
backends:
  app:
    timeouts: { connect: 5s, server: 5s }
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr})

	reqs := []string{
		"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /big/1000 HTTP/1.0\r\nHost: x\r\n\r\n",
		"HEAD /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /deny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"POST /status/404 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
	}
	for _, raw := range reqs {
		termOnce(t, haddr, raw)
		termOnce(t, p.addr("web"), raw)
	}
	var hLog, sLog []string
	for range 500 {
		p.Proxy.Alog.Flush()
		hLog, sLog = logFormatLines(hap.out.String()), logFormatLines(p.logbuf.String())
		if len(hLog) >= len(reqs) && len(sLog) >= len(reqs) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Join(hLog, "\n") != strings.Join(sLog, "\n") || len(sLog) != len(reqs) {
		t.Fatalf("logs differ (want %d lines):\nhaproxy:\n  %s\nstrata:\n  %s", len(reqs), strings.Join(hLog, "\n  "), strings.Join(sLog, "\n  "))
	}
	t.Logf("log:\n  %s", strings.Join(sLog, "\n  "))
}

// logFormatLines returns the lines of out that begin with "LOG ", sorted.
func logFormatLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "LOG ") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}
