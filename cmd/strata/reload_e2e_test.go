package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// reloadYAML is the configuration of generation gen: responses carry
// x-gen: gen; http-request counts requests per client address.
func reloadYAML(web, admin, up string, gen int) string {
	return fmt.Sprintf(`
global:
  grace: 5s
  access_log: { output: none }
  admin: { listen: %q, token: sesame }
stick_tables:
  per_ip: { type: ip, size: 1000, expire: 10m, store: [http_req_cnt, conn_cur] }
frontends:
  web:
    bind: [%q]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 30s }
    http_request: ["track-sc0 src table per_ip"]
    http_response: ["set-header x-gen %d"]
    default_backend: app
backends:
  app:
    mode: http
    servers: { s1: { address: %q } }
`, admin, web, gen, up)
}

// strataRun starts `strata run args…` and returns once it logged that it
// started.
func strataRun(t *testing.T, args ...string) *strataProc {
	t.Helper()
	p := &strataProc{stdout: &syncBuf{}, stderr: &syncBuf{}, exited: make(chan struct{})}
	p.cmd = exec.Command(strataBin, append([]string{"run"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	testsupport.WaitFor(t, 20*time.Second, "strata started", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("strata exited with %d:\n%s", p.code, p.stderr.String())
		default:
		}
		return strings.Contains(p.stderr.String(), "strata started")
	})
	return p
}

// loadResult is one request of the load.
type loadResult struct {
	start  time.Time
	gen    int
	plugin string // x-plugin: the version of the plugin that answered
}

// loadGen sends requests continuously: keep-alive clients and clients
// opening a connection per request.
type loadGen struct {
	addr    string
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []loadResult
	errs    []string
	ok      atomic.Int64
	refused atomic.Int64
	endOnce sync.Once
}

func startLoad(addr string, keepAlive, perConn int) *loadGen {
	l := &loadGen{addr: addr, stop: make(chan struct{})}
	for i := range keepAlive + perConn {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableKeepAlives: i >= keepAlive}
		cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer tr.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(cl)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *loadGen) one(cl *http.Client) {
	start := time.Now()
	resp, err := cl.Get("http://" + l.addr + "/")
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			l.refused.Add(1)
		}
		l.mu.Lock()
		l.errs = append(l.errs, err.Error())
		l.mu.Unlock()
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	gen, _ := strconv.Atoi(resp.Header.Get("x-gen"))
	l.mu.Lock()
	defer l.mu.Unlock()
	if resp.StatusCode != 200 {
		l.errs = append(l.errs, "status "+resp.Status)
		return
	}
	l.ok.Add(1)
	l.results = append(l.results, loadResult{start: start, gen: gen, plugin: resp.Header.Get("x-plugin")})
}

func (l *loadGen) end() {
	l.endOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
}

// checkSwitch fails when a request started after at+slack got a
// generation older than gen.
func (l *loadGen) checkSwitch(t *testing.T, at time.Time, gen int, slack time.Duration) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.results {
		if r.start.After(at.Add(slack)) && r.gen < gen {
			t.Errorf("a request sent %v after reload %d completed got x-gen %d", r.start.Sub(at), gen, r.gen)
			return
		}
	}
}

// checkPlugin fails when a request started after at+slack was answered by
// a plugin version other than want.
func (l *loadGen) checkPlugin(t *testing.T, at time.Time, want string, slack time.Duration) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.results {
		if r.start.After(at.Add(slack)) && r.plugin != want {
			t.Errorf("a request sent %v after a plugin reload completed got x-plugin %q, want %q", r.start.Sub(at), r.plugin, want)
			return
		}
	}
}

// withPlugin adds the reloadable plugin to a reloadYAML configuration:
// responses also carry x-plugin, the version of the loaded module.
func withPlugin(yaml, wasm, cache string) string {
	yaml = strings.Replace(yaml, "stick_tables:", fmt.Sprintf("  plugin_cache: %q\nplugins:\n  reloadable: { file: %q }\nstick_tables:", cache, wasm), 1)
	return strings.Replace(yaml, `http_response: ["set-header x-gen`, `http_response: ["set-header x-plugin %[plugin_version]", "set-header x-gen`, 1)
}

// apiCall calls the admin API.
func apiCall(t *testing.T, admin, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+admin+path, nil)
	req.Header.Set("Authorization", "Bearer sesame")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// reqCnt reads http_req_cnt of 127.0.0.1 through GET /v1/tables.
func reqCnt(t *testing.T, admin string) int64 {
	t.Helper()
	var d struct {
		Entries []struct {
			Key  string           `json:"key"`
			Data map[string]int64 `json:"data"`
		} `json:"entries"`
	}
	if code := apiCall(t, admin, "GET", "/v1/tables/per_ip", &d); code != 200 {
		t.Fatalf("GET /v1/tables/per_ip: %d", code)
	}
	for _, e := range d.Entries {
		if e.Key == "127.0.0.1" {
			return e.Data["http_req_cnt"]
		}
	}
	return 0
}

// TestReload_UnderLoad: continuous keep-alive and new-connection load
// while strata reloads its configuration 20 times (API, SIGHUP through
// `strata reload`), reloads a plugin 20 times (alternating two module
// versions) and is replaced by a new process once: no request fails, no
// connection is refused, responses follow each new configuration and each
// new module within 100 ms of its reload, and the stick table's counters
// carry on, through reloads and the upgrade.
func TestReload_UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	up := startUpstream(t, "s1")
	web, admin := freePort(t), freePort(t)
	dir := t.TempDir()
	cfgPath, pidfile := filepath.Join(dir, "strata.yaml"), filepath.Join(dir, "strata.pid")
	// The plugin: two versions, swapped in turn by plugin reloads between
	// the configuration reloads.
	variants := buildReloadable(t, dir, "v1", "v2")
	wasm, cache := filepath.Join(dir, "reloadable.wasm"), filepath.Join(dir, "cache")
	installPlugin(t, wasm, readFile(t, variants["v1"]))
	write := func(gen int) {
		if err := os.WriteFile(cfgPath, []byte(withPlugin(reloadYAML(web, admin, up.addr, gen), wasm, cache)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	old := strataRun(t, "-c", cfgPath, "--pidfile", pidfile)

	load := startLoad(web, 6, 3)
	defer load.end()
	time.Sleep(300 * time.Millisecond)

	var last int64
	const slack = 100 * time.Millisecond
	// expect is the proxy's generation number after the next reload: every
	// reload, of the configuration or of a plugin, makes a generation.
	expect := 2
	for gen := 2; gen <= 21; gen++ {
		write(gen)
		before := reqCnt(t, admin)
		if before < last {
			t.Fatalf("http_req_cnt went back from %d to %d", last, before)
		}
		if gen%5 == 0 {
			// SIGHUP through strata reload; the outcome shows in GET /v1/reload.
			var out, errb strings.Builder
			if code := run([]string{"reload", "--pidfile", pidfile}, &out, &errb); code != 0 {
				t.Fatalf("strata reload: %d %s", code, errb.String())
			}
			var st struct {
				Generation int `json:"generation"`
			}
			testsupport.WaitFor(t, 10*time.Second, "the SIGHUP reload", func() bool {
				apiCall(t, admin, "GET", "/v1/reload", &st)
				return st.Generation == expect
			})
		} else {
			var res struct {
				Generation int `json:"generation"`
			}
			if code := apiCall(t, admin, "POST", "/v1/reload", &res); code != 200 || res.Generation != expect {
				t.Fatalf("reload %d: HTTP %d, generation %d, want %d", gen, code, res.Generation, expect)
			}
		}
		expect++
		done := time.Now()
		time.Sleep(250 * time.Millisecond)
		load.checkSwitch(t, done, gen, slack)
		after := reqCnt(t, admin)
		if after < before {
			t.Fatalf("reload %d: http_req_cnt went from %d to %d: the table was reset", gen, before, after)
		}
		last = after

		// A plugin reload: the other version of the module.
		want := "v2"
		if gen%2 == 1 {
			want = "v1"
		}
		installPlugin(t, wasm, readFile(t, variants[want]))
		if code := apiCall(t, admin, "POST", "/v1/plugins/reloadable/reload", nil); code != 200 {
			t.Fatalf("plugin reload after generation %d: HTTP %d", gen, code)
		}
		expect++
		pluginDone := time.Now()
		time.Sleep(250 * time.Millisecond)
		load.checkPlugin(t, pluginDone, want, slack)
		if n := reqCnt(t, admin); n < after {
			t.Fatalf("plugin reload: http_req_cnt went from %d to %d", after, n)
		}
	}
	if last < 100 {
		t.Fatalf("only %d requests counted", last)
	}

	// A failed reload changes nothing and says why.
	os.WriteFile(cfgPath, []byte(strings.Replace(reloadYAML(web, admin, up.addr, 99), "track-sc0 src table per_ip", "track-sc0 src table nosuch", 1)), 0o600)
	var fail struct {
		Error  string `json:"error"`
		Errors []any  `json:"errors"`
	}
	if code := apiCall(t, admin, "POST", "/v1/reload", &fail); code != 422 || !strings.Contains(fail.Error, "http_request[0]") || len(fail.Errors) != 1 {
		t.Fatalf("bad configuration: HTTP %d %+v", code, fail)
	}
	time.Sleep(200 * time.Millisecond)
	load.checkSwitch(t, time.Now(), 21, 0)

	// Binary upgrade: a new process takes the sockets and the tables.
	write(100)
	before := reqCnt(t, admin)
	next := strataRun(t, "-c", cfgPath, "--pidfile", pidfile, "--upgrade-from", pidfile)
	started := time.Now()
	if code := old.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("the old process exited with %d:\n%s", code, old.stderr.String())
	}
	time.Sleep(300 * time.Millisecond)
	load.checkSwitch(t, started, 100, slack)
	if pid, err := readPidfile(pidfile); err != nil || pid != next.cmd.Process.Pid {
		t.Fatalf("pid file: %d %v, want %d", pid, err, next.cmd.Process.Pid)
	}
	if after := reqCnt(t, admin); after < before {
		t.Fatalf("upgrade: http_req_cnt went from %d to %d", before, after)
	}

	// And the new process reloads like the old one.
	write(101)
	if code := apiCall(t, admin, "POST", "/v1/reload", nil); code != 200 {
		t.Fatalf("reload after the upgrade: %d", code)
	}
	done := time.Now()
	time.Sleep(300 * time.Millisecond)
	load.end()
	load.checkSwitch(t, done, 101, slack)

	load.mu.Lock()
	defer load.mu.Unlock()
	if len(load.errs) > 0 || load.refused.Load() > 0 {
		t.Fatalf("%d failed requests (%d refused), first: %v", len(load.errs), load.refused.Load(), load.errs[0])
	}
	elapsed := load.results[len(load.results)-1].start.Sub(load.results[0].start)
	t.Logf("%d requests in %v (%.0f/s), no failure", load.ok.Load(), elapsed, float64(load.ok.Load())/elapsed.Seconds())
	if rate := float64(load.ok.Load()) / elapsed.Seconds(); rate < 200 {
		t.Logf("note: the load was %.0f requests/s on this machine", rate)
	}
}
