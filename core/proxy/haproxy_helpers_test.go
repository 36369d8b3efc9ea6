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

// haproxyProc is an HAProxy process a differential test runs beside
// strata; what it prints (with "log stdout", its log) is in out.
type haproxyProc struct {
	out *syncBuffer
}

// startHAProxy runs HAProxy with the configuration cfg until the test
// ends, and waits until it accepts connections on addr (that connection
// counts in HAProxy's stick tables; the caller makes strata see one too).
// The test is skipped when HAProxy is not installed or in -short mode.
func startHAProxy(t *testing.T, cfg, addr string) *haproxyProc {
	t.Helper()
	if testing.Short() {
		t.Skip("differential test: skipped in -short mode")
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed: the differential test needs it (apt-get install haproxy)")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	h := &haproxyProc{out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = h.out, h.out
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("haproxy said:\n%s", h.out.String())
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
			return h
		}
		if i == 500 {
			t.Fatalf("haproxy did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// haproxyAddr returns a free loopback address for an HAProxy bind.
func haproxyAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

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
