package proxy

import (
	"fmt"
	"net"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
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
// The process is started by the shared testsupport.StartHAProxy, which
// cmd/strata's tests use too.
func startHAProxy(t *testing.T, cfg, addr string) *haproxyProc {
	t.Helper()
	return &haproxyProc{out: testsupport.StartHAProxy(t, cfg, addr).Out}
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
