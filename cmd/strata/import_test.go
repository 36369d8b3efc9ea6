package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport_Command runs `strata import` as a user would: the YAML it
// writes passes `strata check`, --check prints the report alone, --strict
// fails on a line not converted, and a syntax error names its line.
func TestImport_Command(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	src := `defaults
  mode http
  timeout client 5s
  timeout connect 1s
  timeout server 5s
frontend web
  bind 127.0.0.1:8080
  compression algo gzip
  http-request deny if { path_beg /admin }
  default_backend app
backend app
  server s1 127.0.0.1:9001
`
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "strata.yaml")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "-o", out, cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("import exited %d: %s", code, stderr.String())
	}
	if want := "haproxy.cfg:8: not converted: compression algo gzip"; !strings.Contains(stderr.String(), want) {
		t.Errorf("report on stderr lacks %q:\n%s", want, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check", "-c", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("strata check of the import exited %d: %s", code, stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"import", "--check", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("import --check exited %d: %s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "frontends:") || !strings.Contains(stdout.String(), "1 line(s) not converted") {
		t.Errorf("--check must print the report alone:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"import", cfg, "--strict"}, &stdout, &stderr); code != 1 {
		t.Errorf("import --strict exited %d with a line not converted, want 1", code)
	}

	bad := filepath.Join(dir, "bad.cfg")
	os.WriteFile(bad, []byte("global\n  maxconn 'x\n"), 0o644)
	stderr.Reset()
	if code := run([]string{"import", bad}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "bad.cfg:2: unterminated single quote") {
		t.Errorf("syntax error: exit %d, %q", code, stderr.String())
	}
}
