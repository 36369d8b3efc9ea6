package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestRun_LogrotateReopen does what logrotate does to a running strata:
// the access-log file is renamed, SIGUSR1 is sent, and strata must write
// the later lines to a new file at the configured path. Requests go on
// while it happens; at the end every request has exactly one line, in
// one of the two files.
func TestRun_LogrotateReopen(t *testing.T) {
	up := startUpstream(t, "s1")
	web := freePort(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	cfg := filepath.Join(dir, "strata.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
global:
  access_log: { output: %q }
frontends:
  web:
    bind: [%q]
    log_format: httplog
    default_backend: app
backends:
  app:
    servers: { s1: { address: %q } }
`, logPath, web, up.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := strataRun(t, "-c", cfg)

	c, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	sent := 0
	send := func(n int) {
		for range n {
			fmt.Fprintf(c, "GET /r/%d HTTP/1.1\r\nHost: x\r\n\r\n", sent)
			if status := readResponse(t, br); status != 200 {
				t.Fatalf("request %d: status %d", sent, status)
			}
			sent++
		}
	}

	send(100)
	testsupport.WaitFor(t, 10*time.Second, "lines in the first file", func() bool { return countLines(t, logPath) == 100 })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	send(50) // still to the renamed file: strata has not been told
	p.signal(t, syscall.SIGUSR1)
	send(50) // to either file, depending on when the signal is served
	testsupport.WaitFor(t, 10*time.Second, "the reopened file", func() bool {
		_, err := os.Stat(logPath)
		return err == nil
	})
	send(100) // to the new file
	c.Close()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("strata exited with %d:\n%s", code, p.stderr.String())
	}

	old, cur := countLines(t, logPath+".1"), countLines(t, logPath)
	if old+cur != sent {
		t.Fatalf("%d lines in the rotated file + %d in the new one, want %d requests", old, cur, sent)
	}
	if old < 150 || cur < 100 {
		t.Fatalf("rotated file %d lines (want ≥ 150), new file %d (want ≥ 100)", old, cur)
	}
	if !strings.Contains(p.stderr.String(), "SIGUSR1: access log reopened") {
		t.Errorf("strata did not say it reopened the log:\n%s", p.stderr.String())
	}
	t.Logf("%d requests: %d lines before the reopen, %d after", sent, old, cur)
}

// readResponse reads one response with a Content-Length body and returns
// its status.
func readResponse(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var status int
	fmt.Sscanf(line, "HTTP/1.1 %d", &status)
	length := 0
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(h), "content-length:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &length)
		}
	}
	if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
		t.Fatal(err)
	}
	return status
}

// countLines counts the httplog lines of file (0 when it does not exist).
func countLines(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, ` "GET /r/`) {
			n++
		}
	}
	return n
}
