package assemble

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/proxy"
	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// The end-to-end harness: the real upstream server (cmd/upstream) and the
// example plugins, built once by TestMain with the real toolchain, behind
// a proxy built by Build from YAML and listening on 127.0.0.1.

var (
	workDir     string
	upstreamBin string
	testCache   string // compiled plugin modules, shared by the tests
	buildErr    error
)

// examples are the plugins the tests load, by directory under
// examples/plugins.
var examples = []string{
	"uaclass", "bucket", "rewrite", "canary", "inspect", "ratelimit", "pathheader",
	"testonly/misbehave", "testonly/kitchen",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-assembly-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir, testCache = dir, filepath.Join(dir, "cache")
	upstreamBin = filepath.Join(dir, "upstream")
	buildErr = buildAll(dir)
	if buildErr == nil {
		warmCache()
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildAll builds the upstream and the example plugins, side by side.
func buildAll(dir string) error {
	var upErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, upErr = testsupport.BuildBinary(dir, "upstream", "github.com/strata-proxy/strata/cmd/upstream")
	}()
	err := testsupport.BuildPlugins(dir, examples)
	<-done
	return errors.Join(upErr, err)
}

// warmCache compiles every example into the shared compilation cache, in
// parallel, so that the tests (under -race, compiling is slow) find them
// compiled. Failures are left for the tests to report.
func warmCache() {
	h, err := plugins.NewHost(plugins.HostOptions{CacheDir: testCache, Samples: fetch.NewRegistry()})
	if err != nil {
		return
	}
	defer h.Close(context.Background())
	var grants []string
	for _, g := range abi.AllGrants {
		grants = append(grants, string(g))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	for _, ex := range examples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := filepath.Base(ex)
			p, err := h.Load(context.Background(), plugins.Config{Name: name, File: filepath.Join(workDir, name+".wasm"), Grants: grants, InitTimeout: time.Minute})
			if err == nil {
				p.Close(context.Background())
			}
		}()
	}
	wg.Wait()
}

// wasm returns the path of a built example plugin.
func wasm(t testing.TB, name string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(workDir, name+".wasm")
}

// The shared end-to-end helpers (internal/testsupport), under the names
// these tests use.
type (
	upstream   = testsupport.Upstream
	syncBuffer = testsupport.SyncBuffer
)

// startUpstream starts the upstream binary with args and waits until it
// listens. It is stopped when the test ends.
func startUpstream(t testing.TB, args ...string) *upstream {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return testsupport.StartUpstream(t, upstreamBin, args...)
}

// testProxy is a proxy with plugins, started from YAML for one test.
type testProxy struct {
	*proxy.Proxy
	gen    *Bundle
	alog   *syncBuffer
	logs   *syncBuffer // the proxy's and the plugins' own log
	api    string      // admin API address
	client *http.Client
}

const apiToken = "test-token"

// patient gives every plugin of a test generous limits, unless the test
// is about them: test machines are shared and -race is slow, so a
// scheduling stall must not pass for a loop or a busy pool.
func patient(hc *plugins.Config) {
	if hc.InitTimeout == 0 {
		hc.InitTimeout = time.Minute
	}
	if hc.InstanceWait == 0 {
		hc.InstanceWait = 30 * time.Second
	}
	if hc.Quarantine.Failures == 0 {
		hc.Quarantine.Failures = 1000 // quarantine has its own test
	}
}

// loadConfig loads yaml with "{{name}}" placeholders replaced from vars;
// "{{wasm:NAME}}" names a built example plugin.
func loadConfig(t testing.TB, yaml string, vars map[string]string) *config.Config {
	t.Helper()
	for k, v := range vars {
		yaml = strings.ReplaceAll(yaml, "{{"+k+"}}", v)
	}
	for _, ex := range examples {
		name := filepath.Base(ex)
		yaml = strings.ReplaceAll(yaml, "{{wasm:"+name+"}}", wasm(t, name))
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startProxy builds and starts a proxy from yaml, with the runtime API on
// 127.0.0.1, and stops it when the test ends. tune adjusts each plugin's
// host configuration (nil: patient).
func startProxy(t testing.TB, yaml string, vars map[string]string, tune func(*plugins.Config)) *testProxy {
	t.Helper()
	return startProxyCached(t, yaml, vars, tune, testCache)
}

// startProxyCached is startProxy with compiled modules kept in cacheDir.
func startProxyCached(t testing.TB, yaml string, vars map[string]string, tune func(*plugins.Config), cacheDir string) *testProxy {
	t.Helper()
	cfg := loadConfig(t, yaml, vars)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tune == nil {
		tune = patient
	}
	gen, err := Build(context.Background(), cfg, Options{Logger: log, CacheDir: cacheDir, PluginConfig: tune})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	alog := &syncBuffer{}
	popt := proxy.Options{Logger: log, AccessLog: alog}
	if cfg.Global.AccessLog.Output == "none" {
		popt.AccessLog = nil // benchmarks: the engine's figures, not the log's
	}
	p, err := proxy.New(gen.Generation, popt)
	if err != nil {
		gen.Close(context.Background())
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		gen.Close(context.Background())
		t.Fatal(err)
	}
	a := admin.New(apiToken, log)
	p.RegisterAPI(a)
	RegisterAPI(a, func() *Bundle { return gen })
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	tp := &testProxy{Proxy: p, gen: gen, alog: alog, logs: logs, api: a.Addr().String(),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
		p.Close()
		gen.Close(ctx)
		tp.client.CloseIdleConnections()
	})
	return tp
}

// addr returns the first bound address of frontend fe.
func (p *testProxy) addr(fe string) string { return p.Addrs(fe)[0] }

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

// get sends GET path to frontend fe with headers (name, value pairs).
func (p *testProxy) get(t testing.TB, fe, path string, headers ...string) response {
	t.Helper()
	r, err := p.try(fe, path, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (p *testProxy) try(fe, path string, headers ...string) (response, error) {
	return send(p.client, "GET", "http://"+p.addr(fe)+path, "", headers...)
}

// send makes a request with c: headers are name, value pairs (host sets
// the request's Host); body "" sends none.
func send(c *http.Client, method, url, body string, headers ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// decodeEcho decodes the echo upstream's answer to a request.
func decodeEcho(t testing.TB, r response) testsupport.Echoed {
	t.Helper()
	if r.status != 200 {
		t.Logf("echo answer with status %d", r.status)
	}
	return testsupport.DecodeEcho(t, []byte(r.body))
}

// stats reads GET /v1/plugins/{name} through the runtime API.
func (p *testProxy) stats(t testing.TB, name string) plugins.Stats {
	t.Helper()
	var s plugins.Stats
	p.apiGet(t, "/v1/plugins/"+name, &s)
	return s
}

func (p *testProxy) apiGet(t testing.TB, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// logFor waits for an access-log line whose key has value and returns
// the last one.
func (p *testProxy) logFor(t testing.TB, key string, value any) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found map[string]any
		for _, l := range strings.Split(strings.TrimSpace(p.alog.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m[key] == value {
				found = m
			}
		}
		if found != nil {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with %s=%q:\n%s", key, value, p.alog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawExchange sends raw bytes on a new connection and returns everything
// the proxy answers until it closes (or 10 s pass).
func rawExchange(t testing.TB, addr, raw string, closeWrite bool) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// hammer runs GET path in a loop on its own connection until stop is
// closed and reports every answer that is not a 200, at most 10 000
// requests.
func (p *testProxy) hammer(t testing.TB, fe, path string, stop <-chan struct{}) (done <-chan []string, count func() int) {
	out := make(chan []string, 1)
	var mu sync.Mutex
	n := 0
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	go func() {
		defer client.CloseIdleConnections()
		var bad []string
		for i := 0; i < 10000; i++ {
			select {
			case <-stop:
				out <- bad
				return
			default:
			}
			resp, err := client.Get("http://" + p.addr(fe) + path)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				bad = append(bad, resp.Status)
			}
			mu.Lock()
			n++
			mu.Unlock()
		}
		out <- bad
	}()
	return out, func() int { mu.Lock(); defer mu.Unlock(); return n }
}
