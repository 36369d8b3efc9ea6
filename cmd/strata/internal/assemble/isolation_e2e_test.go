package assemble

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/plugins"
)

// sourceClient is an HTTP/1.1 keep-alive client whose connections come
// from local address ip (Linux routes all of 127/8 to lo), so that the
// proxy sees it as a distinct source.
func sourceClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}}
}

// status sends GET url with c and returns the status, or 0 on a
// transport error.
func status(c *http.Client, url string) int {
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// goodLoad is what the good source got: requests answered and how many
// of them the plugin served (200: under fail_closed a rule whose plugin
// was not called or failed answers 500).
type goodLoad struct{ total, served int64 }

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk drives url with wrk (from 127.0.0.1) for d and counts what it
// got; socket errors count as requests not served.
func runWrk(t *testing.T, url string, d time.Duration) goodLoad {
	t.Helper()
	out, err := exec.Command("wrk", "-t1", "-c4", "-d"+strconv.Itoa(int(d/time.Second))+"s", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk output: %s", out)
	}
	var g goodLoad
	g.total, _ = strconv.ParseInt(string(m[1]), 10, 64)
	g.served = g.total
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		g.served -= n
	}
	if m := wrkSockErr.FindSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(string(s), 10, 64)
			g.total += n
		}
	}
	t.Logf("wrk: %s", out)
	return g
}

// runGoLoop is runWrk's stand-in where wrk is not installed: 4
// keep-alive connections from 127.0.0.3 until stop is closed and at
// least min requests were answered (at most 50000).
func runGoLoop(url string, stop <-chan struct{}, min int64) goodLoad {
	c := sourceClient("127.0.0.3")
	var total, served atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for total.Load() < 50000 {
				select {
				case <-stop:
					if total.Load() >= min {
						return
					}
				default:
				}
				if status(c, url) == 200 {
					served.Add(1)
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	return goodLoad{total.Load(), served.Load()}
}

// One source sending a failing request every 100 ms while another sends
// good requests: the plugin keeps serving at least 99.9% of the good
// requests (the default quarantine holds the bad source alone), and is
// never quarantined as a whole. The bad requests trap, or mix a trap, a
// loop past call_timeout and memory past memory_limit.
func TestIsolation_OneSourceCannotSwitchPluginOff(t *testing.T) {
	for _, tt := range []struct {
		name  string
		paths []string
	}{
		{name: "trap", paths: []string{"/trap"}},
		{name: "trap, spin and grow", paths: []string{"/trap", "/spin", "/grow"}},
	} {
		t.Run(tt.name, func(t *testing.T) { isolationRun(t, tt.paths) })
	}
}

func isolationRun(t *testing.T, badPaths []string) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request:
      - "set-header x-ok %[ok] if { path_beg /ok }"
      - "set-header x-v %[trap] if { path_beg /trap }"
      - "set-header x-v %[spin] if { path_beg /spin }"
      - "set-header x-v %[grow] if { path_beg /grow }"
    default_backend: app
plugins:
  mb: { file: "{{wasm:misbehave}}", call_timeout: 1s, memory_limit: 32MiB, instances: { min: 2, max: 4 }, on_error: fail_closed }
backends:`+appBackend, map[string]string{"up": up.Addr}, func(hc *plugins.Config) {
		patient(hc)
		hc.Quarantine = plugins.Quarantine{} // the defaults: what this test is about
	})
	base := "http://" + p.addr("web")
	if r := p.get(t, "web", "/ok"); r.status != 200 {
		t.Fatalf("a good request before the attack: %d", r.status)
	}

	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the bad source: 127.0.0.2, a failing request every 100 ms
		defer wg.Done()
		c := sourceClient("127.0.0.2")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := range 100 { // at most 10 s
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sent.Add(1)
			if status(c, base+badPaths[i%len(badPaths)]) == 500 {
				failed.Add(1)
			}
		}
	}()
	var g goodLoad
	if _, err := exec.LookPath("wrk"); err == nil {
		g = runWrk(t, base+"/ok", 4*time.Second)
		close(stop)
	} else {
		t.Log("wrk not installed: a Go client loop sends the good requests")
		go func() { time.Sleep(4 * time.Second); close(stop) }()
		g = runGoLoop(base+"/ok", stop, 2000)
	}
	wg.Wait()

	s := p.stats(t, "mb")
	lost := s.Traps + s.Timeouts + s.MemoryFaults
	t.Logf("good: %d served of %d; bad: %d sent, %d answered 500; plugin: instances lost %d (traps %d, timeouts %d, memory %d), skipped %d, quarantine %+v",
		g.served, g.total, sent.Load(), failed.Load(), lost, s.Traps, s.Timeouts, s.MemoryFaults, s.Skipped, s.Quarantine)
	if sent.Load() < 10 || failed.Load() != sent.Load() {
		t.Fatalf("the bad source sent %d failing requests, %d failed: the attack did not run", sent.Load(), failed.Load())
	}
	if g.total < 1000 {
		t.Fatalf("only %d good requests: too few to measure a 99.9%% ratio", g.total)
	}
	if ratio := float64(g.served) / float64(g.total); ratio < 0.999 {
		t.Errorf("the plugin served %.4f%% of the good requests (%d of %d), want >= 99.9%%", 100*ratio, g.served, g.total)
	}
	if s.Quarantine.Total != 0 || s.Quarantine.SourcesTotal == 0 || s.Skipped == 0 {
		t.Errorf("want the source held and the plugin never quarantined: %+v", s.Quarantine)
	}
	if lost >= uint64(sent.Load()) {
		t.Errorf("every failing request reached the plugin (%d instances lost): the source was not held", lost)
	}
}

// A plugin that fails for every request, from several sources, is
// quarantined for everyone, as before sources were told apart.
func TestIsolation_PluginFailingForEveryoneQuarantined(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request:
      - "set-header x-v %[trap]"
    default_backend: app
plugins:
  mb: { file: "{{wasm:misbehave}}", call_timeout: 5s, instances: { min: 1, max: 2 } }
backends:`+appBackend, map[string]string{"up": up.Addr}, func(hc *plugins.Config) {
		patient(hc)
		hc.Quarantine = plugins.Quarantine{Failures: 3, Window: time.Minute, Backoff: time.Minute}
	})
	base := "http://" + p.addr("web")
	for i := range 3 {
		c := sourceClient(fmt.Sprintf("127.0.0.%d", 10+i))
		for range 2 {
			if st := status(c, base+"/x"); st != 500 {
				t.Fatalf("source %d: %d, want 500", i, st)
			}
		}
	}
	s := p.stats(t, "mb")
	if !s.Quarantine.Active || s.Quarantine.Narrow {
		t.Fatalf("a plugin failing for every source is not quarantined for everyone: %+v", s.Quarantine)
	}
	calls := s.Calls
	if st := status(sourceClient("127.0.0.20"), base+"/x"); st != 500 {
		t.Errorf("a new source during the quarantine: %d, want 500 (fail_closed)", st)
	}
	if s := p.stats(t, "mb"); s.Calls != calls {
		t.Errorf("the quarantined plugin was called: %d → %d", calls, s.Calls)
	}
}
