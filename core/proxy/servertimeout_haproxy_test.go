package proxy

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServerTimeout_DifferentialHAProxy runs HAProxy 2.6 and strata side
// by side with a server that does not send its response head within the
// server timeout, over HTTP/1.1 and over HTTP/2 (prior knowledge) to the
// server. Both must answer the client 504 and log the same termination
// state and status (sH 504). Whether the client connection is kept after
// the 504 is not compared: HAProxy 2.6 keeps it, strata closes it.
func TestServerTimeout_DifferentialHAProxy(t *testing.T) {
	for _, tc := range []struct {
		name string
		h2   bool
		path string
	}{
		{name: "http1", path: "/delay/10s"},
		{name: "h2", h2: true, path: "/slow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr, hproto, sproto string
			if tc.h2 {
				addr, hproto, sproto = startH2Origin(t, nil).addr, " proto h2", ", h2: true"
			} else {
				addr = startUpstream(t).Addr
			}
			haddr := haproxyAddr(t)
			hap := startHAProxy(t, fmt.Sprintf(`global
  log stdout format raw local0
defaults
  mode http
  log global
  option dontlognull
  log-format "LOG %%ts %%ST %%HU"
  timeout client 10s
  timeout server 1s
  timeout connect 5s
frontend web
  bind %s
  default_backend app
backend app
  server s1 %s%s
`, haddr, addr, hproto), haddr)
			p := startProxy(t, `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    timeouts: { client: 10s }
    default_backend: app
backends:
  app:
    timeouts: { connect: 5s, server: 1s }
    servers:
      s1: { address: "{{up}}"`+sproto+` }
`, map[string]string{"up": addr})

			raw := "GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n"
			hAnswer, sAnswer := timeoutStatus(t, haddr, raw), timeoutStatus(t, p.addr("web"), raw)
			if hAnswer != sAnswer {
				t.Fatalf("answers differ:\nhaproxy: %s\nstrata:  %s", hAnswer, sAnswer)
			}
			if !strings.HasSuffix(sAnswer, ": 504") {
				t.Fatalf("answer %q, want 504", sAnswer)
			}
			var hLog, sLog []string
			for range 500 {
				hLog, sLog = haproxyTermLog(hap), strataTermLog(t, p)
				if len(hLog) >= 1 && len(sLog) >= 1 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			want := []string{termLogLine("sH", "504", tc.path)}
			if strings.Join(hLog, "\n") != strings.Join(sLog, "\n") || strings.Join(sLog, "\n") != strings.Join(want, "\n") {
				t.Fatalf("logs, want %q:\nhaproxy: %q\nstrata:  %q", want, hLog, sLog)
			}
			t.Logf("answer: %s; log: %s", sAnswer, sLog[0])
		})
	}
}

// timeoutStatus sends raw on a new connection to addr and returns the
// request line and the answer's status, without whether the connection
// is kept (see TestServerTimeout_DifferentialHAProxy).
func timeoutStatus(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := termExchange(c, bufio.NewReader(c), raw)
	status, _, _ := strings.Cut(s, " close=")
	return status
}
