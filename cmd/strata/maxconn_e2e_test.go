package main

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/listen"
)

// TestRun_FloodAtDerivedMaxConn: strata runs under an open-file limit of
// 256 with global.maxconn left out, and 1000 connections arrive and stay
// open. strata derives maxconn from the limit, holds that many connections
// and leaves the rest in the backlog, never running out of descriptors
// (no failed accept); its admin API answers throughout.
func TestRun_FloodAtDerivedMaxConn(t *testing.T) {
	const nofile, flood = 256, 1000
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Max < nofile || rl.Cur < 2*flood {
		t.Skipf("needs an open-file hard limit of at least %d and %d descriptors for the flood (%+v, %v)", nofile, 2*flood, rl, err)
	}
	want := listen.DerivedMaxConn(nofile)
	up := startUpstream(t, "u1")
	underLimit := func(name string, args ...string) *exec.Cmd {
		// sh's ulimit -n sets the soft and the hard limit: Go cannot raise it back.
		return exec.Command("sh", append([]string{"-c", "ulimit -n " + strconv.Itoa(nofile) + ` && exec "$0" "$@"`, name}, args...)...)
	}
	p := startStrataWith(t, proxyConfig(up.addr, "1s", `  admin: { listen: "127.0.0.1:0", token: sesame }`), true, underLimit)
	if !strings.Contains(p.stderr.String(), "source=\"derived from the open-file limit\" open_file_limit="+strconv.Itoa(nofile)) {
		t.Fatalf("strata did not say it derived maxconn from the open-file limit:\n%s", p.stderr.String())
	}

	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flood / 10 {
				c, err := net.DialTimeout("tcp", p.web, 5*time.Second)
				if err != nil {
					continue // past the backlog: the client's problem, not strata's
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	series := regexp.MustCompile(`(?m)^(strata_maxconn|strata_current_connections|strata_maxconn_reached_total) (\S+)$`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]float64{}
		for _, m := range series.FindAllStringSubmatch(metricsText(t, p.admin), -1) {
			got[m[1]], _ = strconv.ParseFloat(m[2], 64)
		}
		if got["strata_maxconn"] != float64(want) {
			t.Fatalf("strata_maxconn = %v, want %d (derived from %d descriptors)", got["strata_maxconn"], want, nofile)
		}
		if got["strata_current_connections"] == float64(want) && got["strata_maxconn_reached_total"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("at the limit: %v, want %d current connections and the limit reached", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(conns) <= want {
		t.Fatalf("only %d connections of the flood connected; the test needs more than %d", len(conns), want)
	}
	for i := range 5 {
		var st map[string]any
		if code := apiCall(t, p.admin, "GET", "/v1/stats", &st); code != 200 {
			t.Fatalf("GET /v1/stats %d during the flood: %d", i, code)
		}
	}
	if s := p.stderr.String(); strings.Contains(s, "accept failed") {
		t.Fatalf("strata ran out of descriptors:\n%s", s)
	}
}

// metricsText reads GET /metrics of the admin API at addr.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer sesame")
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
