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

// startHAProxy runs haproxy (bin) with configuration cfg, which binds
// 127.0.0.1:port, until the test ends, and returns that address once it
// accepts connections. The one connection made to find out is closed at
// once: a differential test makes one to strata too.
func startHAProxy(t *testing.T, bin, cfg string, port int) string {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfgPath)
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
	addr := fmt.Sprintf("127.0.0.1:%d", port)
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

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
