package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/config"
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
	upstreamBin = filepath.Join(dir, "upstream")
	cmd := exec.Command("go", "build", "-o", upstreamBin, "github.com/strata-proxy/strata/cmd/upstream")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test upstream:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// upstream is a running upstream process.
type upstream struct {
	Addr string
	log  string
	cmd  *exec.Cmd
}

// startUpstream starts the upstream binary with args and waits until it
// listens. It is stopped when the test ends.
func startUpstream(t testing.TB, args ...string) *upstream {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "upstream.log")
	args = append([]string{"-listen", "127.0.0.1:0", "-log", logPath, "-max-lifetime", "10m"}, args...)
	cmd := exec.Command(upstreamBin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("upstream did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("upstream said %q", line)
	}
	go io.Copy(io.Discard, out)
	return &upstream{Addr: addr, log: logPath, cmd: cmd}
}

// upstreamEvent is one line of the upstream's log.
type upstreamEvent struct {
	Event  string `json:"event"`
	Conn   uint64 `json:"conn"`
	Method string `json:"method"`
	URI    string `json:"uri"`
	Head   []byte `json:"head"`
}

// events returns the upstream's log lines of kind ("" for all).
func (u *upstream) events(t testing.TB, kind string) []upstreamEvent {
	t.Helper()
	b, err := os.ReadFile(u.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []upstreamEvent
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e upstreamEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("upstream log line %q: %v", line, err)
		}
		if kind == "" || e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

// requests returns how many requests reached the upstream.
func (u *upstream) requests(t testing.TB) int { return len(u.events(t, "request")) }

// syncBuffer is an access-log sink tests can read while the proxy writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testProxy is a proxy started from YAML for one test.
type testProxy struct {
	*Proxy
	logbuf *syncBuffer
}

// startProxy loads yaml (with "{{name}}" placeholders replaced from vars),
// builds and starts a proxy, and stops it when the test ends.
func startProxy(t testing.TB, yaml string, vars map[string]string) *testProxy {
	t.Helper()
	for k, v := range vars {
		yaml = strings.ReplaceAll(yaml, "{{"+k+"}}", v)
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := Build(cfg, BuildOptions{})
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
		p.Proxy.alog.Flush()
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
