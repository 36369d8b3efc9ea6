package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/proxy"
)

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ctl runs `strata ctl args…` in process and returns its exit status and
// output.
func ctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"ctl"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestCtl runs `strata ctl` against a running strata: tables, JSON, state
// changes that take effect, the three ways to find the admin API, errors.
func TestCtl(t *testing.T) {
	s1, s2 := startUpstream(t, "s1"), startUpstream(t, "s2")
	adminAddr := freePort(t)
	yaml := `
global:
  access_log: { output: none }
  admin: { listen: "` + adminAddr + `", token: sesame }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    health_check: { type: tcp, interval: 100ms, timeout: 2s }
    servers:
      s1: { address: "` + s1.addr + `" }
      s2: { address: "` + s2.addr + `", maxconn: 50 }
`
	p := startStrata(t, yaml, true)
	flags := []string{"--admin", p.admin, "--token", "sesame"}

	get := func() string {
		c, err := net.Dial("tcp", p.web)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		return resp.Header.Get("x-server")
	}
	for range 4 {
		get()
	}

	t.Run("servers table", func(t *testing.T) {
		code, out, errs := ctl(append(flags, "servers")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "BACKEND  SERVER  ADDRESS") {
			t.Fatalf("table:\n%s", out)
		}
		for i, name := range []string{"s1", "s2"} {
			f := strings.Fields(lines[i+1])
			if f[0] != "app" || f[1] != name || f[3] != "UP" || f[4] != "ready" || f[5] != "up" {
				t.Fatalf("row %q", lines[i+1])
			}
		}
		// Columns line up: every row starts its ADDRESS column where the
		// header does.
		col := strings.Index(lines[0], "ADDRESS")
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l[col:], "127.0.0.1:") {
				t.Fatalf("misaligned:\n%s", out)
			}
		}
	})

	t.Run("stats table", func(t *testing.T) {
		code, out, errs := ctl(append([]string{"stats"}, flags...)...)
		if code != 0 || !strings.Contains(out, "FRONTEND") || !strings.Contains(out, "BACKEND") {
			t.Fatalf("exit %d %s\n%s", code, errs, out)
		}
		if !regexpLine(out, `^web +http +open +\d+`) || !regexpLine(out, `^app +http +roundrobin +2/2 `) {
			t.Fatalf("stats:\n%s", out)
		}
	})

	t.Run("set drain, flags after the words", func(t *testing.T) {
		code, out, errs := ctl(append([]string{"server", "set", "app/s1", "--state", "drain"}, flags...)...)
		if code != 0 || strings.TrimSpace(out) != "app/s1: state drain, weight 1, status DRAIN" {
			t.Fatalf("exit %d %q %s", code, out, errs)
		}
		for range 4 {
			if s := get(); s != "s2" {
				t.Fatalf("s1 drained but served a request")
			}
		}
	})

	t.Run("environment and JSON", func(t *testing.T) {
		t.Setenv("STRATA_ADMIN", "http://"+p.admin)
		t.Setenv("STRATA_TOKEN", "sesame")
		code, out, errs := ctl("servers", "app", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var be proxy.BackendStats
		if err := json.Unmarshal([]byte(out), &be); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if be.Servers[0].State != "drain" || be.Servers[1].MaxConn != 50 {
			t.Fatalf("%+v", be.Servers)
		}
	})

	t.Run("configuration file", func(t *testing.T) {
		code, out, errs := ctl("-c", p.config, "server", "show", "app/s1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, want := range []string{"server  ", "app/s1", "state  ", "drain", "check  ", "L4OK"} {
			if !strings.Contains(out, want) {
				t.Fatalf("missing %q:\n%s", want, out)
			}
		}
		code, out, _ = ctl("-c", p.config, "server", "set", "app/s1", "--state", "ready", "--weight", "2", "--json")
		var s proxy.ServerStats
		if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.State != "ready" || s.Weight != 2 {
			t.Fatalf("exit %d %s", code, out)
		}
		seen := map[string]int{}
		for range 6 {
			seen[get()]++
		}
		if seen["s1"] != 4 || seen["s2"] != 2 {
			t.Fatalf("weights 2:1 gave %v", seen)
		}
	})

	errorCases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"wrong token", []string{"--admin", p.admin, "--token", "nope", "stats"}, 1, "HTTP 401"},
		{"unknown server", append([]string{"server", "show", "app/s9"}, flags...), 1, "no server named s9"},
		{"bad state", append([]string{"server", "set", "app/s1", "--state", "off"}, flags...), 1, "invalid state"},
		{"not BACKEND/SERVER", append([]string{"server", "show", "s1"}, flags...), 1, "BACKEND/SERVER"},
		{"set without a change", append([]string{"server", "set", "app/s1"}, flags...), 2, "needs --state"},
		{"state on another command", append([]string{"servers", "--state", "drain"}, flags...), 2, "go with `server set`"},
		{"unknown command", append([]string{"frobnicate"}, flags...), 2, "unknown command"},
		{"no address", []string{"stats"}, 2, "no admin address"},
		{"nothing listens", []string{"--admin", freePort(t), "stats"}, 1, "connect"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("STRATA_ADMIN", "")
			code, _, errs := ctl(tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
		})
	}
	if code, out, _ := ctl("help"); code != 0 || !strings.Contains(out, "server set BACKEND/SERVER") {
		t.Fatalf("help: %d %s", code, out)
	}
}

// regexpLine reports whether a line of text matches re.
func regexpLine(text, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(text)
}
