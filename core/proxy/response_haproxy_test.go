package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// http-response deny, deny_status and return answer as in HAProxy: the
// same rules, word for word, in both, and the same requests; status,
// content type and body must agree (the body of an error page without a
// string is each proxy's own, so only its status is compared).
func TestResponseRules_DifferentialHAProxy(t *testing.T) {
	up := startUpstream(t)
	// Conditions on the server's status: the request's path is not a
	// response-time sample in HAProxy.
	rules := []string{
		"deny deny_status 429 if { status 404 }",
		"deny if { status 410 }",
		"deny deny_status 451 content-type text/plain string refused if { status 409 }",
		"return status 203 content-type text/plain string replaced if { status 418 }",
	}
	hport := freePort(t)
	var hcfg strings.Builder
	fmt.Fprintf(&hcfg, `defaults
  mode http
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend web
  bind 127.0.0.1:%d
`, hport)
	for _, r := range rules {
		fmt.Fprintf(&hcfg, "  http-response %s\n", r)
	}
	fmt.Fprintf(&hcfg, "  default_backend app\nbackend app\n  server s1 %s\n", up.Addr)
	haddr := fmt.Sprintf("127.0.0.1:%d", hport)
	startHAProxy(t, hcfg.String(), haddr)

	quoted := make([]string, len(rules))
	for i, r := range rules {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	p := startProxy(t, fmt.Sprintf(`
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s }
    http_response: [%s]
    default_backend: app
backends:
  app:
    mode: http
    timeouts: { connect: 5s, server: 10s }
    servers:
      s1: { address: "{{up}}" }
`, strings.Join(quoted, ", ")), map[string]string{"up": up.Addr})

	c := &http.Client{Timeout: 30 * time.Second}
	type answer struct {
		status      int
		ctype, body string
	}
	ask := func(addr, path string) answer {
		t.Helper()
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header.Get("content-type"), string(b)}
	}
	for _, tt := range []struct {
		name, path string
		whole      bool // compare content type and body too
	}{
		{name: "deny with deny_status", path: "/status/404"},
		{name: "deny: HAProxy's default status", path: "/status/410"},
		{name: "deny with a body", path: "/status/409", whole: true},
		{name: "return", path: "/status/418", whole: true},
		{name: "no rule", path: "/status/200"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, s := ask(haddr, tt.path), ask(p.addr("web"), tt.path)
			if !tt.whole {
				h.ctype, h.body, s.ctype, s.body = "", "", "", ""
			}
			if h != s {
				t.Errorf("haproxy %+v, strata %+v", h, s)
			}
		})
	}
}
