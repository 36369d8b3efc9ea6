package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checkFile runs strata check on a configuration and returns its exit
// code and stderr.
func checkFile(t *testing.T, yaml string) (int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.yaml")
	writeFile(t, path, yaml)
	var out, errb bytes.Buffer
	code := run([]string{"check", "-c", path}, &out, &errb)
	return code, errb.String()
}

// haproxyCheck runs haproxy -c on a configuration and returns its exit
// code and output; it skips the test when haproxy is not installed.
func haproxyCheck(t *testing.T, cfg string) (int, string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed: the differential test needs it (apt-get install haproxy)")
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, cfg)
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	code := 0
	if err != nil {
		code = err.(*exec.ExitError).ExitCode()
	}
	return code, string(out)
}

// TestCheck_ServerAddresses: a server name that does not resolve, or a
// mistyped IPv4 address, is refused by strata check as haproxy -c refuses
// it, unless init_addr (HAProxy's init-addr) lets the server start
// without an address, on the server or for its whole backend.
func TestCheck_ServerAddresses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		address  string
		initAddr string // strata's init_addr; HAProxy's init-addr
		backend  bool   // set on the backend (HAProxy: default-server)
		ok       bool
		msg      string // in strata's error
	}{
		{name: "unresolvable name", address: "no-such-host.invalid:80",
			msg: `backends.app.servers.s1.address: cannot resolve "no-such-host.invalid"`},
		{name: "not an IPv4 address", address: "10.0.0.300:80",
			msg: `backends.app.servers.s1.address: "10.0.0.300" is not an IP address, and does not resolve as a name`},
		{name: "unresolvable name, init_addr libc,none", address: "no-such-host.invalid:80", initAddr: "libc,none", ok: true},
		{name: "not an address, init_addr none", address: "10.0.0.300:80", initAddr: "none", ok: true},
		{name: "unresolvable name, backend's init_addr", address: "no-such-host.invalid:80", initAddr: "libc,none", backend: true, ok: true},
		{name: "IP address", address: "127.0.0.1:80", ok: true},
		{name: "resolvable name", address: "localhost:80", ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvInit, beInit, hapServer, hapDefault := "", "", "", ""
			if tc.initAddr != "" && tc.backend {
				beInit = fmt.Sprintf("    init_addr: %q\n", tc.initAddr)
				hapDefault = "  default-server init-addr " + tc.initAddr + "\n"
			} else if tc.initAddr != "" {
				srvInit = fmt.Sprintf(", init_addr: %q", tc.initAddr)
				hapServer = " init-addr " + tc.initAddr
			}
			code, errOut := checkFile(t, fmt.Sprintf(`
frontends:
  web: { bind: ["127.0.0.1:0"], default_backend: app }
backends:
  app:
%s    servers:
      s1: { address: %q%s }
`, beInit, tc.address, srvInit))
			if (code == 0) != tc.ok {
				t.Fatalf("strata check: exit %d, want ok=%v\n%s", code, tc.ok, errOut)
			}
			if !tc.ok && (!strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, `set init_addr: "libc,none"`)) {
				t.Fatalf("strata check must name the path and the fix %q; said:\n%s", tc.msg, errOut)
			}

			hcode, hout := haproxyCheck(t, fmt.Sprintf(`
defaults
  mode http
  timeout connect 1s
  timeout client 1s
  timeout server 1s
frontend web
  bind %s
  default_backend app
backend app
%s  server s1 %s%s
`, freePort(t), hapDefault, tc.address, hapServer))
			if (hcode == 0) != tc.ok {
				t.Fatalf("haproxy -c: exit %d, want ok=%v (strata and HAProxy disagree)\n%s", hcode, tc.ok, hout)
			}
		})
	}
}

// TestCheck_InitAddrValues: init_addr takes libc and none; HAProxy's
// "last" needs a server-state file strata does not keep, and is refused
// with the fix.
func TestCheck_InitAddrValues(t *testing.T) {
	code, errOut := checkFile(t, `
frontends:
  web: { bind: ["127.0.0.1:0"], default_backend: app }
backends:
  app:
    servers:
      s1: { address: "127.0.0.1:80", init_addr: "last,libc" }
`)
	if code == 0 || !strings.Contains(errOut, `backends.app.servers.s1.init_addr: invalid init_addr method "last"; write libc, none or "libc,none"`) {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

// TestCheck_EveryErrorInOnePass: structural errors (unknown keys, values
// out of range, malformed addresses) no longer hide the errors found
// after them (rules, server names), and an error is not repeated as its
// consequences. Only when a whole section that rules refer to is unusable
// are the rules left unchecked, and the output says so.
func TestCheck_EveryErrorInOnePass(t *testing.T) {
	code, errOut := checkFile(t, `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    bogus_key: 1
    timeouts: { client: 0x }
    http_request: ["bogus-action"]
    default_backend: app
backends:
  app:
    retries: -5
    http_request: ["deny if { nosuch_fetch }"]
    servers:
      s1: { address: "no-such-host.invalid:80" }
      s2: { address: "127.0.0.1:99999" }
`)
	if code == 0 {
		t.Fatal("a bad configuration passed check")
	}
	for _, want := range []string{
		"frontends.web.bogus_key: unknown key",
		`frontends.web.timeouts.client: invalid duration "0x"`,
		"backends.app.retries: -5 is out of range",
		`backends.app.servers.s2.address: port 99999 is out of range`,
		`frontends.web.http_request[0]: http-request "bogus-action": unknown action "bogus-action"`,
		`backends.app.http_request[0]: http-request "deny if { nosuch_fetch }"`,
		`backends.app.servers.s1.address: cannot resolve "no-such-host.invalid"`,
	} {
		if strings.Count(errOut, want) != 1 {
			t.Errorf("want %q once in:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "\n"); n != 7 {
		t.Errorf("%d lines, want the 7 errors, each once:\n%s", n, errOut)
	}

	code, errOut = checkFile(t, `
frontends:
  web: { bind: ["127.0.0.1:0"], default_backend: app, http_request: ["bogus-action"] }
backends: 5
`)
	if code == 0 || !strings.Contains(errOut, "backends: expected a mapping") || !strings.Contains(errOut, "(rules and server addresses not checked: fix backends first)") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

// TestRun_UnresolvableServer: strata run refuses to start with a server
// name that does not resolve, naming it; with init_addr "libc,none" it
// starts, with that server in maintenance.
func TestRun_UnresolvableServer(t *testing.T) {
	yaml := proxyConfig("no-such-host.invalid:80", "1s", "")
	path := filepath.Join(t.TempDir(), "strata.yaml")
	writeFile(t, path, yaml)
	out, err := exec.Command(strataBin, "run", "-c", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `backends.app.servers.s1.address: cannot resolve "no-such-host.invalid"`) {
		t.Fatalf("strata run with an unresolvable server: %v\n%s", err, out)
	}

	yaml = proxyConfig("no-such-host.invalid:80", "1s", `  admin: { listen: "`+freePort(t)+`", token: sesame }`)
	p := startStrata(t, strings.Replace(yaml, `s1: { address: "no-such-host.invalid:80" }`, `s1: { address: "no-such-host.invalid:80", init_addr: "libc,none" }`, 1), true)
	if !strings.Contains(p.stderr.String(), "server starts in maintenance") {
		t.Fatalf("log:\n%s", p.stderr.String())
	}
	code, table, errs := ctl("--admin", p.admin, "--token", "sesame", "servers")
	if code != 0 || !regexpLine(table, `^app +s1 +no-such-host\.invalid:80 +MAINT +maint`) {
		t.Fatalf("servers: exit %d %s\n%s", code, errs, table)
	}
	resp := <-inFlight(p.web, "/")
	if resp == nil || resp.StatusCode != 503 {
		t.Fatalf("a request to a backend whose only server is in maintenance: %+v", resp)
	}
}
