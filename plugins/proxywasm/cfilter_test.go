package proxywasm

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// buildC builds testdata/cfilter/filter.c, a filter against the raw ABI,
// the way C filters are built for Proxy-Wasm hosts.
func buildC(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 is not installed (Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32); skipping the C filter")
	}
	out := filepath.Join(t.TempDir(), "cfilter.wasm")
	cmd := exec.Command("clang-14", "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-fuse-ld=lld",
		"-Wl,--export-dynamic", "-o", out, "testdata/cfilter/filter.c")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang-14: %v\n%s", err, b)
	}
	return out
}

// A C filter (marker proxy_abi_version_0_2_1, its own malloc) runs.
func TestFilter_C(t *testing.T) {
	file := buildC(t)
	var log testsupport.SyncBuffer
	p, err := testHost(t, &log).Load(context.Background(), plugins.Config{Name: "cfilter", File: file})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().ABIName; got != "proxy-wasm 0.2.1" {
		t.Errorf("ABI %q, want proxy-wasm 0.2.1", got)
	}
	f, err := New(context.Background(), Config{Plugin: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/one", "/two"} {
		req := request(path)
		s, sf := open(t, f, req)
		if st := sf.RequestHeaders(true); st != filter.Continue {
			t.Fatalf("request headers: %v", st)
		}
		s.resp = fields(":status", "200")
		if st := sf.ResponseHeaders(true); st != filter.Continue {
			t.Fatalf("response headers: %v", st)
		}
		sf.Log()
		sf.Done()
		if req.get("x-c-filter") != "1" || s.resp.get("x-c-path") != path {
			t.Errorf("x-c-filter %q, x-c-path %q; want 1 and %s", req.get("x-c-filter"), s.resp.get("x-c-path"), path)
		}
	}
	if !strings.Contains(log.String(), "c filter saw a request") {
		t.Errorf("no proxy_log line:\n%s", log.String())
	}
}
