package proxywasm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// A WAF built on Coraza with the OWASP Core Rule Set, configured at load
// (settings that fit: memory_limit 512MiB, the configure under a 2-minute
// init timeout, call_timeout 2s):
// a script in the query and an SQL injection in a urlencoded body are
// answered 403; a benign GET and POST pass.
func TestFilter_WAF(t *testing.T) {
	// no_fs_access: Coraza probes the file system otherwise, which a
	// filter without the fs grant does not have.
	file, err := testsupport.BuildWasm("../../examples/proxywasm", "waf", "no_fs_access")
	if err != nil {
		t.Fatal(err)
	}
	// The module is 30 MB: its compiled code is kept across runs, beside
	// the built module, so that only a change compiles it again.
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	t0 := time.Now()
	var log testsupport.SyncBuffer
	p, err := testHostIn(t, &log, filepath.Join(base, "strata", "testwasm", "compiled")).Load(t.Context(), plugins.Config{Name: "waf", File: file, InitTimeout: 2 * time.Minute,
		MemoryLimit: 512 << 20, CallTimeout: 2 * time.Second, InstancesMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(t0)
	f, err := New(t.Context(), Config{Plugin: p})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("load (compile or cache, instantiate) %v; configure (the CRS) %v; memory per instance %d MiB",
		loaded, time.Since(t0)-loaded, f.vms[0].in.Memory().Size()>>20)
	post := func() *memFields {
		return request("/login", "content-type", "application/x-www-form-urlencoded")
	}
	tests := []struct {
		name    string
		req     *memFields
		body    string
		blocked bool
	}{
		{name: "xss in the query", req: request("/?q=<script>alert(1)</script>"), blocked: true},
		{name: "sql injection in the body", req: post(), body: "user=admin&pass=' OR '1'='1' --", blocked: true},
		{name: "benign get", req: request("/index.html?page=2", "user-agent", "curl/8.0", "accept", "*/*")},
		{name: "benign post", req: post(), body: "user=alice&pass=wonderland"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.body != "" {
				tt.req.kv[0][1] = []byte("POST")
			}
			s, sf := open(t, f, tt.req)
			defer sf.Done()
			t0 := time.Now()
			st := sf.RequestHeaders(tt.body == "")
			if tt.body != "" && st == filter.Continue {
				st = sf.RequestBody(&memBody{b: []byte(tt.body)}, true)
			}
			t.Logf("inspection %v", time.Since(t0))
			r := s.replied()
			if tt.blocked != (r != nil && r.Status == 403) {
				t.Errorf("status %v, reply %+v; blocked %v", st, r, tt.blocked)
			}
		})
	}
}
