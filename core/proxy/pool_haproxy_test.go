package proxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startHAProxy runs haproxy until the test ends on cfg, a format whose one
// %s is the bind address (a free port), and returns that address. It
// skips the test when haproxy is not installed.
func startHAProxy(t *testing.T, cfg string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed: the differential test needs it (apt-get install haproxy)")
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	cfg = fmt.Sprintf(cfg, addr)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	var hlog syncBuffer
	cmd.Stdout, cmd.Stderr = &hlog, &hlog
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("haproxy said:\n%s", hlog.String())
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 500 {
			t.Fatalf("haproxy did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPool_DifferentialHAProxy runs HAProxy and strata side by side
// behind the same server, which closes idle keep-alive connections after
// 50ms while both proxies keep them for 10s: 100 POSTs through each, each
// sent after the server closed the connection the previous one used. Both
// answer 200 to every one, and the server handles every POST once.
func TestPool_DifferentialHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test: skipped in -short mode")
	}
	ups, vars := startUpstreams(t, []string{"s1"}, "-idle-timeout", "50ms")
	u := ups["s1"]
	haddr := startHAProxy(t, `global
defaults
  mode http
  timeout client 10s
  timeout server 5s
  timeout connect 5s
  timeout http-keep-alive 10s
frontend web
  bind %s
  default_backend app
backend app
  server s1 `+u.Addr+`
`)
	p := startProxy(t, backendConfig(`
    timeouts: { server: 5s, http_keep_alive: 10s }
    servers:
      s1: { address: "{{s1}}" }
`), vars)

	const n = 100
	run := func(name, addr, prefix string) {
		t.Helper()
		cl := dial(t, addr, "")
		closed := len(u.Events(t, "close"))
		ok := 0
		for i := range n {
			if i > 0 {
				eventually(t, 10*time.Second, name+": the server closing the idle connection", func() bool {
					return len(u.Events(t, "close")) >= closed+i
				})
			}
			if r := cl.postOn(fmt.Sprintf("/%s%d", prefix, i), "hello"); r.err == nil && r.status == 200 {
				ok++
			} else {
				t.Errorf("%s: POST %d: %+v", name, i+1, r)
				cl = dial(t, addr, "") // a 502 closes the connection
			}
		}
		seen := uriCounts(t, u)
		for i := range n {
			if c := seen[fmt.Sprintf("/%s%d", prefix, i)]; c != 1 {
				t.Errorf("%s: the server handled POST /%s%d %d times, want 1", name, prefix, i, c)
			}
		}
		t.Logf("%s: %d of %d POSTs answered 200", name, ok, n)
	}
	run("haproxy", haddr, "h")
	run("strata", p.addr("web"), "s")
}
