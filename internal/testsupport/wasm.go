package testsupport

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// BuildWasm builds the main package pkg of the Go module in modDir (a
// nested test module, such as plugins/proxywasm/testdata/filters) with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, and returns the
// path of the module. Builds are cached by content under the user's cache
// directory (strata/testwasm): the key covers every file of modDir and the
// toolchain's version, so `make test` builds each filter once and a change
// to any source builds it again. tags are build tags (-tags).
func BuildWasm(modDir, pkg string, tags ...string) (string, error) {
	key, err := wasmKey(modDir, pkg+" "+strings.Join(tags, ","))
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "strata", "testwasm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg)+"-"+key+".wasm")
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	// Built next to the cache entry, then renamed: a concurrent or
	// interrupted build never leaves a truncated module under the key.
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	args := []string{"build", "-buildmode=c-shared", "-o", tmp}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "./"+pkg)...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return out, os.Rename(tmp, out)
}

// wasmKey hashes the files of modDir and the Go version.
func wasmKey(modDir, pkg string) (string, error) {
	h := sha256.New()
	ver, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	h.Write(ver)
	h.Write([]byte(pkg))
	var files []string
	err = filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".wasm") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(modDir, f)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// AuthServer is an HTTP server on 127.0.0.1 that filters ask whether a
// request is allowed: GET /check?user=alice answers 200 "alice-ok",
// anything else 403. It counts the requests it gets.
type AuthServer struct {
	Addr string
	mu   sync.Mutex
	hits int
}

// StartAuthServer starts an AuthServer, stopped when the test ends.
func StartAuthServer(tb testing.TB) *AuthServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := &AuthServer{Addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hits++
		a.mu.Unlock()
		if r.URL.Path == "/check" && r.URL.Query().Get("user") == "alice" {
			io.WriteString(w, "alice-ok")
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return a
}

// Count returns how many requests the server got.
func (a *AuthServer) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits
}
