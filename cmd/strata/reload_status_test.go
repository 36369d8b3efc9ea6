package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// strataReload runs the strata binary's `strata reload --pidfile pidfile`
// and returns its exit code, stdout and stderr.
func strataReload(t *testing.T, pidfile string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	cmd := exec.Command(strataBin, "reload", "--pidfile", pidfile, "--timeout", "30s")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestReload_PidfileReportsOutcome: `strata reload --pidfile` waits for
// the outcome of its SIGHUP. A configuration with an error exits 1 and
// prints the error with its path, the running configuration serving on;
// a good one exits 0, names the new generation, and serves.
func TestReload_PidfileReportsOutcome(t *testing.T) {
	up := startUpstream(t, "s1")
	web, admin := freePort(t), freePort(t)
	dir := t.TempDir()
	cfgPath, pidfile := filepath.Join(dir, "strata.yaml"), filepath.Join(dir, "strata.pid")
	writeFile(t, cfgPath, reloadYAML(web, admin, up.addr, 1))
	p := strataRun(t, "-c", cfgPath, "--pidfile", pidfile)
	gen := func() string {
		t.Helper()
		resp, err := http.Get("http://" + web + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("x-gen")
	}
	if g := gen(); g != "1" {
		t.Fatalf("x-gen %q before any reload", g)
	}

	writeFile(t, cfgPath, strings.Replace(reloadYAML(web, admin, up.addr, 2), "track-sc0 src table per_ip", "track-sc0 src table nosuch", 1))
	code, out, errOut := strataReload(t, pidfile)
	if code == 0 {
		t.Fatalf("a failed reload exited 0: %s%s", out, errOut)
	}
	if !strings.Contains(errOut, "the reload failed") || !strings.Contains(errOut, "frontends.web.http_request[0]") || !strings.Contains(errOut, "nosuch") {
		t.Fatalf("a failed reload must print the configuration error with its path; stderr:\n%s", errOut)
	}
	if g := gen(); g != "1" {
		t.Fatalf("x-gen %q after a failed reload, want the running 1", g)
	}

	writeFile(t, cfgPath, reloadYAML(web, admin, up.addr, 3))
	code, out, errOut = strataReload(t, pidfile)
	if code != 0 || !strings.Contains(out, "reloaded: pid") || !strings.Contains(out, "generation 2") {
		t.Fatalf("a good reload: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if g := gen(); g != "3" {
		t.Fatalf("x-gen %q after a good reload, want 3", g)
	}

	// A process that keeps no status (not started with this pid file) is
	// not signalled: its outcome could not be reported.
	other := filepath.Join(dir, "other.pid")
	writeFile(t, other, string(readFile(t, pidfile)))
	cmd := exec.Command(strataBin, "reload", "--pidfile", other, "--timeout", "300ms")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "keeps no reload status") {
		t.Fatalf("reload through a pid file with no status: %v %s", err, out)
	}
	p.signal(t, os.Interrupt)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(statusFile(pidfile)); !os.IsNotExist(err) {
		t.Fatalf("the status file outlives its process: %v", err)
	}
}
