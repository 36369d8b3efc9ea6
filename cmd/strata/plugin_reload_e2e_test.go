package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Plugin reloads through a running strata: the test-only plugin
// examples/plugins/testonly/reloadable, built in several variants, takes
// the place of the running module, and POST /v1/plugins/NAME/reload swaps
// it in, or refuses it and leaves the previous generation serving.

// buildReloadable builds the variants of the reloadable plugin into dir,
// in parallel, and returns their paths by variant.
func buildReloadable(t *testing.T, dir string, variants ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	errs := make([]error, len(variants))
	var wg sync.WaitGroup
	for i, v := range variants {
		path := filepath.Join(dir, "reloadable-"+v+".wasm")
		out[v] = path
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags", "-X main.variant="+v, "-o", path, "./examples/plugins/testonly/reloadable")
			cmd.Dir = "../.."
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build variant %s: %v\n%s", v, err, b)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// installPlugin puts the module src (a path) or raw bytes at dst the way
// a deployment does: a new file renamed over the old one.
func installPlugin(t *testing.T, dst string, content []byte) {
	t.Helper()
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pluginYAML: responses carry x-plugin, the variant of the running
// module.
func pluginYAML(web, admin, up, wasm, cache string, watch bool) string {
	return fmt.Sprintf(`
global:
  grace: 5s
  access_log: { output: none }
  admin: { listen: %q, token: sesame }
  plugin_cache: %q
plugins:
  reloadable:
    file: %q
    watch: %v
frontends:
  web:
    bind: [%q]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 30s }
    http_response: ["set-header x-plugin %%[plugin_version]"]
    default_backend: app
backends:
  app:
    mode: http
    servers: { s1: { address: %q } }
`, admin, cache, wasm, watch, web, up)
}

// pluginProxy is a running strata with the reloadable plugin.
type pluginProxy struct {
	*strataProc
	web, admin, wasm string
	variants         map[string]string // built variants by name
	client           *http.Client
}

func startPluginProxy(t *testing.T, watch bool, variants ...string) *pluginProxy {
	t.Helper()
	dir := t.TempDir()
	pp := &pluginProxy{web: freePort(t), admin: freePort(t), wasm: filepath.Join(dir, "reloadable.wasm"),
		variants: buildReloadable(t, dir, append([]string{"v1"}, variants...)...),
		client:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}}
	t.Cleanup(pp.client.CloseIdleConnections)
	installPlugin(t, pp.wasm, readFile(t, pp.variants["v1"]))
	up := startUpstream(t, "s1")
	cfgPath := filepath.Join(dir, "strata.yaml")
	writeFile(t, cfgPath, pluginYAML(pp.web, pp.admin, up.addr, pp.wasm, filepath.Join(dir, "cache"), watch))
	pp.strataProc = strataRun(t, "-c", cfgPath)
	if v := pp.version(t); v != "v1" {
		t.Fatalf("x-plugin %q at start, want v1", v)
	}
	return pp
}

// version returns the x-plugin header of a request through the proxy.
func (pp *pluginProxy) version(t *testing.T) string {
	t.Helper()
	resp, err := pp.client.Get("http://" + pp.web + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %s", resp.Status)
	}
	return resp.Header.Get("x-plugin")
}

// reload calls POST /v1/plugins/reloadable/reload and returns the status
// and the body.
func (pp *pluginProxy) reload(t *testing.T) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+pp.admin+"/v1/plugins/reloadable/reload", nil)
	req.Header.Set("Authorization", "Bearer sesame")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pluginInfo is the part of GET /v1/plugins/NAME the tests read.
type pluginInfo struct {
	Name           string    `json:"name"`
	SHA256         string    `json:"sha256"`
	Generation     uint64    `json:"generation"`
	LoadedAt       time.Time `json:"loaded_at"`
	ReloadFailures int64     `json:"reload_failures"`
	LastError      string    `json:"last_error"`
}

func (pp *pluginProxy) info(t *testing.T) pluginInfo {
	t.Helper()
	var list []pluginInfo
	if code := apiCall(t, pp.admin, "GET", "/v1/plugins", &list); code != 200 || len(list) != 1 {
		t.Fatalf("GET /v1/plugins: HTTP %d %+v", code, list)
	}
	var one pluginInfo
	if code := apiCall(t, pp.admin, "GET", "/v1/plugins/reloadable", &one); code != 200 {
		t.Fatalf("GET /v1/plugins/reloadable: HTTP %d", code)
	}
	if one.Name != "reloadable" || one.Generation != list[0].Generation || one.SHA256 != list[0].SHA256 {
		t.Fatalf("GET /v1/plugins says %+v, GET /v1/plugins/reloadable %+v", list[0], one)
	}
	return one
}

// switchesWithin fails unless a request sent at most limit after done
// gets x-plugin want, and every later one too.
func (pp *pluginProxy) switchesWithin(t *testing.T, done time.Time, limit time.Duration, want string) {
	t.Helper()
	var v string
	for i := 0; i < 1000; i++ {
		sent := time.Now()
		if v = pp.version(t); v == want {
			break
		}
		if sent.Sub(done) > limit {
			t.Fatalf("a request sent %v after the reload completed got x-plugin %q, want %q", sent.Sub(done), v, want)
		}
	}
	if v != want {
		t.Fatalf("x-plugin %q, want %q", v, want)
	}
	for range 20 {
		if v := pp.version(t); v != want {
			t.Fatalf("x-plugin went back to %q after %q", v, want)
		}
	}
}

// TestPluginReload_FailuresKeepServing: a module that cannot replace the
// running one — corrupt, trapping in its initialisation, or no longer
// providing the fetch a rule uses — is refused with a 422 that says why,
// logged, and the previous generation keeps serving the old module; then
// a good module is swapped in and answers within 100 ms of the reload
// completing.
func TestPluginReload_FailuresKeepServing(t *testing.T) {
	pp := startPluginProxy(t, false, "v2", "trapinit", "nofetch")
	first := pp.info(t)
	if first.Generation != 1 || first.LoadedAt.IsZero() || len(first.SHA256) != 64 || first.ReloadFailures != 0 {
		t.Fatalf("at start: %+v", first)
	}
	// Reloading an unchanged module swaps a generation in but is the same
	// plugin generation.
	if code, body := pp.reload(t); code != 200 {
		t.Fatalf("reload of the same module: HTTP %d %s", code, body)
	}
	if i := pp.info(t); i.Generation != 1 || !i.LoadedAt.Equal(first.LoadedAt) {
		t.Fatalf("after reloading the same module: %+v, before %+v", i, first)
	}
	failures := int64(0)
	tests := []struct {
		name    string
		content func() []byte
		// reason is what the answer and the log must say.
		reason string
	}{
		{"corrupt module", func() []byte { return []byte("\x00asm this is not a module\xff\xfe") }, "plugins.reloadable: compile"},
		{"initialisation traps", func() []byte { return readFile(t, pp.variants["trapinit"]) }, "strata_init: plugin trap"},
		{"fetch in use dropped", func() []byte { return readFile(t, pp.variants["nofetch"]) }, "plugin_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			installPlugin(t, pp.wasm, tt.content())
			code, body := pp.reload(t)
			var fail reloadFailure
			json.Unmarshal([]byte(body), &fail)
			if code != http.StatusUnprocessableEntity || !strings.Contains(fail.Error, tt.reason) {
				t.Fatalf("reload: HTTP %d %s; want 422 naming %q", code, body, tt.reason)
			}
			t.Logf("refused: %s", fail.Error)
			failures++
			if i := pp.info(t); i.ReloadFailures != failures || !strings.Contains(i.LastError, tt.reason) || i.Generation != 1 || i.SHA256 != first.SHA256 {
				t.Fatalf("GET /v1/plugins/reloadable after the failure: %+v; want %d failures, the last naming %q, generation 1", i, failures, tt.reason)
			}
			if v := pp.version(t); v != "v1" {
				t.Fatalf("after the failed reload x-plugin is %q, want the old module's v1", v)
			}
			testsupport.WaitFor(t, 5*time.Second, "the failure in the log", func() bool {
				for _, l := range strings.Split(pp.stderr.String(), "\n") {
					if strings.Contains(l, `msg="reload failed"`) && strings.Contains(l, `what="plugin reloadable"`) && strings.Contains(l, tt.reason) {
						return true
					}
				}
				return false
			})
		})
	}

	installPlugin(t, pp.wasm, readFile(t, pp.variants["v2"]))
	code, body := pp.reload(t)
	done := time.Now()
	if code != 200 {
		t.Fatalf("reload of a good module: HTTP %d %s", code, body)
	}
	pp.switchesWithin(t, done, 100*time.Millisecond, "v2")
	if i := pp.info(t); i.Generation != 2 || !i.LoadedAt.After(first.LoadedAt) || i.SHA256 == first.SHA256 || i.ReloadFailures != failures {
		t.Fatalf("after swapping v2 in: %+v, at start %+v", i, first)
	}
}

// TestPluginReload_Watch: with watch: true, a new module file is swapped
// in without being asked; a corrupt one is refused and counted, the
// previous module serving on; putting the serving module back, or
// touching it, reloads nothing.
func TestPluginReload_Watch(t *testing.T) {
	pp := startPluginProxy(t, true, "v2")
	first := pp.info(t)

	installPlugin(t, pp.wasm, readFile(t, pp.variants["v2"]))
	testsupport.WaitFor(t, 20*time.Second, "x-plugin v2 after the file changed", func() bool { return pp.version(t) == "v2" })
	if i := pp.info(t); i.Generation != 2 || i.SHA256 == first.SHA256 {
		t.Fatalf("after the change: %+v", i)
	}
	if !strings.Contains(pp.stderr.String(), `msg="plugin file changed: reloading" plugin=reloadable`) {
		t.Errorf("the reload is not in the log:\n%s", pp.stderr.String())
	}

	installPlugin(t, pp.wasm, []byte("not a module"))
	testsupport.WaitFor(t, 20*time.Second, "the corrupt module refused", func() bool { return pp.info(t).ReloadFailures == 1 })
	if v := pp.version(t); v != "v2" {
		t.Fatalf("after the corrupt module x-plugin is %q, want v2", v)
	}
	if i := pp.info(t); !strings.Contains(i.LastError, "compile") || i.Generation != 2 {
		t.Fatalf("after the corrupt module: %+v", i)
	}

	// The serving module put back, then touched: nothing to reload. Three
	// polls pass in each wait.
	reloads := strings.Count(pp.stderr.String(), `msg="reload done"`)
	installPlugin(t, pp.wasm, readFile(t, pp.variants["v2"]))
	time.Sleep(3 * watchInterval)
	later := time.Now().Add(time.Second)
	os.Chtimes(pp.wasm, later, later)
	time.Sleep(3 * watchInterval)
	if n := strings.Count(pp.stderr.String(), `msg="reload done"`); n != reloads {
		t.Fatalf("a touched file reloaded the plugin (%d reloads, then %d)", reloads, n)
	}
	if i := pp.info(t); i.Generation != 2 || i.ReloadFailures != 1 {
		t.Fatalf("at the end: %+v", i)
	}
}
