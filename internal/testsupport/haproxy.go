package testsupport

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// HAProxy is an HAProxy process a differential test runs beside strata;
// what it prints (with "log stdout", its log) is in Out.
type HAProxy struct {
	Out *SyncBuffer
}

// HAProxyUnavailable says why a differential test cannot run HAProxy
// here, or returns "" when it can: differential tests are skipped in
// -short mode and where HAProxy is not installed. A test that also checks
// strata alone asks this first, so that only the HAProxy side is left out.
func HAProxyUnavailable() string {
	if testing.Short() {
		return "differential test: skipped in -short mode"
	}
	if _, err := exec.LookPath("haproxy"); err != nil {
		return "haproxy is not installed: the differential test needs it (apt-get install haproxy)"
	}
	return ""
}

// StartHAProxy runs HAProxy with the configuration cfg until the test
// ends, and waits until it accepts connections on addr (that connection
// counts in HAProxy's stick tables; the caller makes strata see one too).
// The test is skipped when HAProxyUnavailable says why.
func StartHAProxy(tb testing.TB, cfg, addr string) *HAProxy {
	tb.Helper()
	if why := HAProxyUnavailable(); why != "" {
		tb.Skip(why)
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	h := &HAProxy{Out: &SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = h.Out, h.Out
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("haproxy said:\n%s", h.Out.String())
		}
	})
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return h
		}
		if i == 500 {
			tb.Fatalf("haproxy did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
