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

// TestImport_LogTargets runs `strata import` on HAProxy log addresses
// strata can send to (IPv6 without brackets, udp6@, unix@, stdout) and on
// one it cannot (tcp@): the written YAML holds strata's form of the
// address and passes `strata check`; the one left out is reported with
// its line.
func TestImport_LogTargets(t *testing.T) {
	tests := []struct {
		name, addr, want, report string
	}{
		{name: "ipv6 without brackets", addr: "::1:514", want: "udp://[::1]:514"},
		{name: "udp6@ default port", addr: "udp6@::1:", want: "udp://[::1]:514"},
		{name: "unix@", addr: "unix@/dev/log", want: "unix:///dev/log"},
		{name: "stdout", addr: "stdout", want: "stdout", report: "haproxy.cfg:2: changed: log stdout local0: strata writes lines to stdout without a syslog header"},
		{name: "tcp@", addr: "tcp@127.0.0.1:514", report: "haproxy.cfg:2: not converted: log tcp@127.0.0.1:514 local0: strata sends syslog over datagrams only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "haproxy.cfg")
			src := "global\n  log " + tt.addr + " local0\ndefaults\n  mode http\n  timeout client 5s\n  timeout connect 1s\n  timeout server 5s\n" +
				"frontend web\n  bind 127.0.0.1:8080\n  default_backend app\nbackend app\n  server s1 127.0.0.1:9001\n"
			if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "strata.yaml")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"import", "-o", out, cfg}, &stdout, &stderr); code != 0 {
				t.Fatalf("import exited %d: %s", code, stderr.String())
			}
			if tt.report != "" && !strings.Contains(stderr.String(), tt.report) {
				t.Errorf("report on stderr lacks %q:\n%s", tt.report, stderr.String())
			}
			y, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && !strings.Contains(string(y), "output: '"+tt.want+"'") && !strings.Contains(string(y), "output: "+tt.want+"}") {
				t.Errorf("YAML lacks output %s:\n%s", tt.want, y)
			}
			if tt.want == "" && strings.Contains(string(y), "access_log") {
				t.Errorf("YAML sets an access log for an address strata cannot send to:\n%s", y)
			}
			stdout.Reset()
			stderr.Reset()
			if code := run([]string{"check", "-c", out}, &stdout, &stderr); code != 0 {
				t.Fatalf("strata check of the import exited %d: %s\n%s", code, stderr.String(), y)
			}
		})
	}
}
