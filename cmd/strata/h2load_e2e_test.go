package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// h2loadYAML serves HTTP/2 on frontend web in front of the upstream up:
// cleartext with prior knowledge (h2c), or TLS with ALPN h2 when cert is
// set. The access log is off: hundreds of thousands of lines would only
// cost the run time.
func h2loadYAML(up, cert, key string) string {
	listener := `    h2: { h2c: true }`
	if cert != "" {
		listener = `    tls:
      certificates: [{ cert: "` + cert + `", key: "` + key + `" }]
      alpn: [h2, http/1.1]`
	}
	return `
global:
  access_log: { output: none }
frontends:
  web:
    bind: ["127.0.0.1:0"]
` + listener + `
    timeouts: { client: 30s }
    default_backend: app
backends:
  app:
    timeouts: { connect: 2s, server: 20s }
    servers:
      s1: { address: "` + up + `" }
`
}

// TestH2Load_Conformance runs h2load against a running strata (built
// without the race detector, by TestMain) proxying to a real upstream,
// over h2c and over TLS with ALPN h2. h2load is a compliant client: it
// never has more streams open than the SETTINGS_MAX_CONCURRENT_STREAMS
// strata advertises (100), and opens the next stream as soon as one ends.
// Every request must succeed: a stream refused below the limit shows as
// failed, a connection ended by GOAWAY as errored. .ci/run installs
// h2load (nghttp2-client); the test is skipped where it is missing. The
// 200,000-request runs are skipped under -short (CI runs without it).
//
// HAProxy 2.6, which advertises the same 100 streams, runs beside strata
// on the same upstream with the same two frontends, and the same h2load
// command lines must succeed as wholly through it; both results are
// logged side by side. Where HAProxy is missing (or under -short) strata
// is checked alone.
func TestH2Load_Conformance(t *testing.T) {
	bin, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load not installed (Debian package nghttp2-client)")
	}
	up := startUpstream(t, "s1")
	dir := t.TempDir()
	// h2load does not verify the certificate: a leaf of a test CA will do.
	site := testsupport.NewCA(t, dir, "ca").Issue(t, "site", testsupport.CN("127.0.0.1"), false, "127.0.0.1", "localhost")
	cert, key := site.Cert, site.Key
	hap := startH2LoadHAProxy(t, up.addr, cert, key)
	for _, fe := range []struct{ name, scheme, yaml, haproxy string }{
		{"h2c", "http", h2loadYAML(up.addr, "", ""), hap.h2c},
		{"tls", "https", h2loadYAML(up.addr, cert, key), hap.tls},
	} {
		t.Run(fe.name, func(t *testing.T) {
			p := startStrata(t, fe.yaml, false)
			for _, args := range [][]string{
				{"-c1", "-m100", "-n100000"},
				{"-c10", "-m100", "-n200000"},
			} {
				t.Run(strings.Join(args, " "), func(t *testing.T) {
					if testing.Short() && args[0] != "-c1" {
						t.Skip("load test: the -c1 run checks the same under -short")
					}
					checkH2Load(t, "strata", runH2Load(t, bin, append(args, fe.scheme+"://"+p.web+"/")...), args)
					if fe.haproxy == "" {
						return
					}
					checkH2Load(t, "haproxy", runH2Load(t, bin, append(args, fe.scheme+"://"+fe.haproxy+"/")...), args)
				})
			}
			select {
			case <-p.exited:
				t.Fatalf("strata exited with %d:\n%s", p.code, p.stderr.String())
			default:
			}
		})
	}
}

// h2loadHAProxy holds the addresses of HAProxy's frontends in
// TestH2Load_Conformance, both empty when HAProxy does not run.
type h2loadHAProxy struct{ h2c, tls string }

// startH2LoadHAProxy runs HAProxy with the frontends of h2loadYAML in
// front of the upstream up: h2c with prior knowledge, and TLS with ALPN
// h2 on the certificate cert and its key (HAProxy reads both from one
// file). Its timeouts are strata's there; HAProxy's default
// tune.h2.max-concurrent-streams is 100, as strata's.
func startH2LoadHAProxy(t *testing.T, up, cert, key string) h2loadHAProxy {
	t.Helper()
	if why := testsupport.HAProxyUnavailable(); why != "" {
		t.Logf("strata is checked alone: %s", why)
		return h2loadHAProxy{}
	}
	pem := filepath.Join(t.TempDir(), "haproxy.pem")
	var both []byte
	for _, f := range []string{cert, key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, b...)
	}
	if err := os.WriteFile(pem, both, 0o600); err != nil {
		t.Fatal(err)
	}
	h := h2loadHAProxy{h2c: freePort(t), tls: freePort(t)}
	testsupport.StartHAProxy(t, fmt.Sprintf(`global
defaults
  mode http
  timeout client 30s
  timeout server 20s
  timeout connect 2s
frontend h2c
  bind %s proto h2
  default_backend app
frontend tls
  bind %s ssl crt %s alpn h2,http/1.1
  default_backend app
backend app
  server s1 %s
`, h.h2c, h.tls, pem, up), h.h2c)
	return h
}

// runH2Load runs h2load with args, bounded in time, and returns its output.
func runH2Load(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("h2load %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkH2Load asserts that every request of an h2load run with args
// (-nN among them) through proxy succeeded with a 2xx over HTTP/2, and
// logs its summary under the proxy's name.
func checkH2Load(t *testing.T, proxy, out string, args []string) {
	t.Helper()
	var want int64
	for _, a := range args {
		if n, ok := strings.CutPrefix(a, "-n"); ok {
			want, _ = strconv.ParseInt(n, 10, 64)
		}
	}
	reqs, codes, proto := h2loadSummary(t, out)
	t.Logf("%-7s requests: %s", proxy, reqs.line)
	t.Logf("%-7s status codes: %s", proxy, codes.line)
	if proto != "h2" && proto != "h2c" {
		t.Errorf("%s: application protocol %q, want h2 or h2c:\n%s", proxy, proto, out)
	}
	for _, c := range []struct {
		name string
		got  int64
		want int64
	}{
		{"total", reqs.n["total"], want},
		{"done", reqs.n["done"], want},
		{"succeeded", reqs.n["succeeded"], want},
		{"failed", reqs.n["failed"], 0},
		{"errored", reqs.n["errored"], 0},
		{"timeout", reqs.n["timeout"], 0},
		{"2xx", codes.n["2xx"], want},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s: %d, want %d", proxy, c.name, c.got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("h2load output (%s):\n%s", proxy, out)
	}
}

// h2loadCounts is one "N name, N name, …" line of h2load's summary.
type h2loadCounts struct {
	line string
	n    map[string]int64
}

// h2loadSummary reads h2load's "requests:" and "status codes:" lines and
// the application protocol it negotiated.
func h2loadSummary(t *testing.T, out string) (reqs, codes h2loadCounts, proto string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "requests: "); ok {
			reqs = parseH2LoadCounts(t, rest)
		} else if rest, ok := strings.CutPrefix(line, "status codes: "); ok {
			codes = parseH2LoadCounts(t, rest)
		} else if rest, ok := strings.CutPrefix(line, "Application protocol:"); ok {
			proto = strings.TrimSpace(rest)
		}
	}
	if reqs.n == nil || codes.n == nil {
		t.Fatalf("no summary in h2load's output:\n%s", out)
	}
	return reqs, codes, proto
}

func parseH2LoadCounts(t *testing.T, s string) h2loadCounts {
	t.Helper()
	c := h2loadCounts{line: s, n: map[string]int64{}}
	for _, part := range strings.Split(s, ",") {
		var n int64
		var name string
		if _, err := fmt.Sscanf(strings.TrimSpace(part), "%d %s", &n, &name); err != nil {
			t.Fatalf("h2load count %q: %v", part, err)
		}
		c.n[name] = n
	}
	return c
}
