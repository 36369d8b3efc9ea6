package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// upstreamBin is the real upstream server process the end-to-end tests put
// behind the proxy, built once by TestMain.
var upstreamBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-proxy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	upstreamBin, err = testsupport.BuildBinary(dir, "upstream", "github.com/strata-proxy/strata/cmd/upstream")
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test upstream:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The shared end-to-end helpers (internal/testsupport), under the names
// these tests use.
type (
	upstream      = testsupport.Upstream
	upstreamEvent = testsupport.UpstreamEvent
	syncBuffer    = testsupport.SyncBuffer
)

// startUpstream starts the upstream binary with args and waits until it
// listens. It is stopped when the test ends.
func startUpstream(t testing.TB, args ...string) *upstream {
	t.Helper()
	return testsupport.StartUpstream(t, upstreamBin, args...)
}

// testProxy is a proxy started from YAML for one test.
type testProxy struct {
	*Proxy
	logbuf *syncBuffer
}

// startProxy loads yaml (with "{{name}}" placeholders replaced from vars),
// builds (with build, when given: what plugins would add) and starts a
// proxy, and stops it when the test ends.
func startProxy(t testing.TB, yaml string, vars map[string]string, build ...generation.BuildOptions) *testProxy {
	t.Helper()
	var bo generation.BuildOptions
	if len(build) > 0 {
		bo = build[0]
	}
	return startProxyWith(t, yaml, vars, bo)
}

// startProxyWith is startProxy with build options (plugins, filters).
func startProxyWith(t testing.TB, yaml string, vars map[string]string, bo generation.BuildOptions) *testProxy {
	t.Helper()
	for k, v := range vars {
		yaml = strings.ReplaceAll(yaml, "{{"+k+"}}", v)
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := generation.Build(cfg, bo)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	alog := &syncBuffer{}
	opt := Options{AccessLog: alog}
	if cfg.Global.AccessLog.Output == "none" {
		opt.AccessLog = nil
	}
	p, err := New(g, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &testProxy{Proxy: p, logbuf: alog}
}

// addr returns the first bound address of frontend fe.
func (p *testProxy) addr(fe string) string { return p.Addrs(fe)[0] }

// logLines waits until the access log has at least n lines and returns
// them decoded.
func (p *testProxy) logLines(t testing.TB, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.Proxy.Alog.Flush()
		s := strings.TrimSpace(p.logbuf.String())
		var lines []string
		if s != "" {
			lines = strings.Split(s, "\n")
		}
		if len(lines) >= n || time.Now().After(deadline) {
			var out []map[string]any
			for _, l := range lines {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("access log line %q: %v", l, err)
				}
				out = append(out, m)
			}
			if len(out) < n {
				t.Fatalf("access log has %d lines, want %d:\n%s", len(out), n, s)
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawExchange sends raw bytes on a new connection and returns everything
// the proxy answers until it closes (or 5 s pass).
func rawExchange(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// statusOf returns the status code of the first response in s.
func statusOf(s string) int {
	var code int
	fmt.Sscanf(s, "HTTP/1.1 %d", &code)
	return code
}
