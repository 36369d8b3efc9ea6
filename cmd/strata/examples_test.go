package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigsAreValid keeps examples/configs true to the code: every
// example passes `strata check`.
func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configurations found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"check", "-c", f}, &out, &errb); code != 0 {
				t.Fatalf("strata check %s: exit %d\n%s", f, code, errb.String())
			}
			if !strings.Contains(out.String(), "configuration is valid") {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}

// TestCheck_ReportsEveryRuleError: a configuration with several bad rules
// is refused with one line per rule, each naming its path.
func TestCheck_ReportsEveryRuleError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	writeFile(t, path, `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["reject if { req.hdr(host) -m found }"]
    http_request: ["deny if { path_beg /x }", "bogus-action", "set-header x %[req.hdrr(a)]"]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "127.0.0.1:1" } }
`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", path}, &out, &errb); code == 0 {
		t.Fatal("a bad configuration passed check")
	}
	for _, want := range []string{
		`frontends.web.tcp_request_connection[0]: tcp-request connection "reject if { req.hdr(host) -m found }": fetch "req.hdr" needs layer TXN, which does not exist at tcp-request connection (available: CONN|SESS)`,
		`frontends.web.http_request[1]: http-request "bogus-action": unknown action "bogus-action"`,
		`frontends.web.http_request[2]: `,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
