package assemble

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/config"
)

// watModule compiles plugins/testdata/NAME.wat with wat2wasm (skipping the
// test when wabt is not installed) and returns the module's path.
func watModule(t testing.TB, name string) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) is not installed; skipping the WebAssembly text plugin")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("..", "..", "..", "..", "plugins", "testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	return out
}

// conformanceConfig runs plugins/testdata/conformance.wat: each path
// exercises one point of abi/SPEC.md, and http_after_response shows the
// statuses the guest got from the host as response headers.
const conformanceConfig = webFrontend + `
    http_request:
      - "conf_redirect if { path_beg /redirect }"
      - "conf_route 1 nosuch if { path_beg /route/backend-unknown }"
      - "conf_route 1 b2 if { path_beg /route/backend-known }"
      - "conf_route 2 s9 if { path_beg /route/server-unknown }"
      - "conf_route 2 s2 if { path_beg /route/server-other-backend }"
      - "conf_route 2 s1 if { path_beg /route/server-default-backend }"
      - "conf_route 2 b2/s2 if { path_beg /route/backend-slash-server }"
      - "conf_route 2 b2/nosuch if { path_beg /route/backend-slash-unknown }"
      - "conf_route 3 nosuch if { path_beg /route/service-unknown }"
      - "conf_route 3 conf_svc if { path_beg /route/service-known }"
      - "conf_hdr if { path_beg /hdr }"
    http_response:
      - "conf_resp_deny if { path_beg /resp-deny }"
      - "conf_resp_return if { path_beg /resp-return }"
    http_after_response:
      - "set-header x-rc %[var(txn.rc)] if { var(txn.rc) -m found }"
      - "set-header x-hdr %[var(txn.hdr1)],%[var(txn.hdr2)] if { var(txn.hdr1) -m found }"
      - "set-header x-nargs %[var(txn.nargs)] if { var(txn.nargs) -m found }"
      - "set-header x-arg1 %[var(txn.arg1)] if { var(txn.arg1) -m found }"
      - "set-header x-bt %[conf_badtype] if { path_beg /badtype }"
      - "set-header x-conv %[str(abc),conf_intconv] if { path_beg /conv }"
      - "set-header x-conv2 %[str(12abc),conf_intconv] if { path_beg /conv }"
    use_backend:
      - "conf_pick if { path_beg /pick/none }"
      - "b3 if { path_beg /pick/none }"
      - "conf_pick(b2,xy) if { path_beg /pick/two }"
    use_service:
      - "conf_svc if { path_beg /svc }"
    default_backend: app
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    use_service: ["conf_svc"]
plugins:
  conf:
    file: "{{conf}}"
    grants: [headers, body, vars, route, respond]
    call_timeout: 5s
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{app}}" }
  b2:
    mode: http
    servers:
      s2: { address: "{{b2}}" }
  b3:
    mode: http
    servers:
      s3: { address: "{{b3}}" }
`

// TestConformance_ABIAsWritten checks, through a running proxy and a real
// client, each point where abi/SPEC.md states what the host does.
func TestConformance_ABIAsWritten(t *testing.T) {
	conf := watModule(t, "conformance")
	app := startUpstream(t, "-name", "app")
	b2 := startUpstream(t, "-name", "b2")
	b3 := startUpstream(t, "-name", "b3")
	p := startProxy(t, conformanceConfig, map[string]string{"conf": conf, "app": app.Addr, "b2": b2.Addr, "b3": b3.Addr}, nil)
	noFollow := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, path string) response {
		t.Helper()
		resp, err := noFollow.Get("http://" + p.addr("web") + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}

	t.Run("http-response DENY answers with the plugin's status and body", func(t *testing.T) {
		r := get(t, "/resp-deny")
		if r.status != 451 || r.body != "denied by plugin\n" || r.header.Get("content-type") != "text/plain" {
			t.Errorf("got %d %q (%s)", r.status, r.body, r.header.Get("content-type"))
		}
	})
	t.Run("http-response RETURN replaces the server's response", func(t *testing.T) {
		r := get(t, "/resp-return")
		if r.status != 203 || r.body != "returned by plugin\n" || r.header.Get("x-server") != "" {
			t.Errorf("got %d %q, x-server %q", r.status, r.body, r.header.Get("x-server"))
		}
	})
	t.Run("REDIRECT keeps the reply's body", func(t *testing.T) {
		r := get(t, "/redirect")
		if r.status != 302 || r.header.Get("location") != "/moved" || r.body != "see /moved\n" {
			t.Errorf("got %d location %q body %q", r.status, r.header.Get("location"), r.body)
		}
	})
	for _, tt := range []struct {
		name, path, rc, server string
	}{
		{name: "route_set to an unknown backend", path: "/route/backend-unknown", rc: "-1", server: "app"},
		{name: "route_set to a backend", path: "/route/backend-known", rc: "0", server: "b2"},
		{name: "route_set to an unknown server", path: "/route/server-unknown", rc: "-1", server: "app"},
		{name: "route_set to a server of another backend", path: "/route/server-other-backend", rc: "-1", server: "app"},
		{name: "route_set to a server of the default backend", path: "/route/server-default-backend", rc: "0", server: "app"},
		{name: "route_set to BACKEND/SERVER", path: "/route/backend-slash-server", rc: "0", server: "b2"},
		{name: "route_set to BACKEND/unknown", path: "/route/backend-slash-unknown", rc: "-1", server: "app"},
		{name: "route_set to an unknown service", path: "/route/service-unknown", rc: "-1", server: "app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.path)
			if r.status != 200 || r.header.Get("x-rc") != tt.rc || r.header.Get("x-server") != tt.server {
				t.Errorf("got %d, x-rc %q (want %s), server %q (want %s)", r.status, r.header.Get("x-rc"), tt.rc, r.header.Get("x-server"), tt.server)
			}
		})
	}
	t.Run("route_set to a service; its default status is 200", func(t *testing.T) {
		// The service answering is route_set's success (a service's
		// reply does not go through http_after_response here).
		r := get(t, "/route/service-known")
		if r.status != 200 || r.body != "svc\n" {
			t.Errorf("got %d %q", r.status, r.body)
		}
		if r := get(t, "/svc"); r.status != 200 || r.body != "svc\n" {
			t.Errorf("use_service: got %d %q", r.status, r.body)
		}
	})
	t.Run("a result of the wrong type is refused at the call", func(t *testing.T) {
		if r := get(t, "/badtype"); r.status != 200 || r.header.Get("x-bt") != "-5" {
			t.Errorf("got %d, result_bytes returned %q, want ERR_ARG (-5)", r.status, r.header.Get("x-bt"))
		}
	})
	t.Run("header values the wire refuses are refused at the call", func(t *testing.T) {
		if r := get(t, "/hdr"); r.status != 200 || r.header.Get("x-hdr") != "-5,-5" {
			t.Errorf("got %d, req_header_set returned %q, want ERR_ARG (-5) for both", r.status, r.header.Get("x-hdr"))
		}
	})
	t.Run("converter input is cast as the rules cast", func(t *testing.T) {
		r := get(t, "/conv")
		if r.header.Get("x-conv") != "0" || r.header.Get("x-conv2") != "12" {
			t.Errorf(`"abc" gave %q (want 0), "12abc" gave %q (want 12)`, r.header.Get("x-conv"), r.header.Get("x-conv2"))
		}
	})
	t.Run("a target that chooses nothing lets the list go on", func(t *testing.T) {
		r := get(t, "/pick/none")
		if r.header.Get("x-server") != "b3" || r.header.Get("x-nargs") != "0" {
			t.Errorf("went to %q, nargs %q", r.header.Get("x-server"), r.header.Get("x-nargs"))
		}
	})
	t.Run("target arguments are NAME(a,b)", func(t *testing.T) {
		r := get(t, "/pick/two")
		if r.header.Get("x-server") != "b2" || r.header.Get("x-nargs") != "2" || r.header.Get("x-arg1") != "xy" {
			t.Errorf("went to %q, nargs %q, arg1 %q", r.header.Get("x-server"), r.header.Get("x-nargs"), r.header.Get("x-arg1"))
		}
	})
	t.Run("TCP service: offsets per event, replies sent after each event", func(t *testing.T) {
		c, err := net.Dial("tcp", p.addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		for _, msg := range []string{"abc", "defg"} {
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			want := "[" + msg + "]"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
				t.Fatalf("sent %q, got %q (%v), want %q: the reply of each event, its bytes from offset 0", msg, got, err, want)
			}
		}
	})
}

// Registration names are global: two plugins that register the same names
// make the configuration fail, naming the second one and the name.
func TestConformance_RegistrationNamesAreGlobal(t *testing.T) {
	conf := watModule(t, "conformance")
	cfg := loadConfig(t, webFrontend+`
    default_backend: app
plugins:
  one: { file: "{{conf}}", grants: [headers, body, vars, route, respond] }
  two: { file: "{{conf}}", grants: [headers, body, vars, route, respond] }
backends:
  app:
    mode: http
    servers:
      s1: { address: "127.0.0.1:1" }
`, map[string]string{"conf": conf})
	gen, err := Build(context.Background(), cfg, Options{CacheDir: testCache, PluginConfig: patient})
	if err == nil {
		gen.Close(context.Background())
		t.Fatal("two plugins registering the same names were both accepted")
	}
	var errs *config.Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "plugins.two") || !strings.Contains(err.Error(), "conf_resp_deny") || !strings.Contains(err.Error(), "already") {
		t.Errorf("err = %v", err)
	}
}
