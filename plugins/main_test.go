package plugins

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// wasmDir holds the example plugins, built once by TestMain with the real
// toolchain: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
var (
	wasmDir  string
	cacheDir string // compiled modules shared by the tests
	buildErr error
)

var examples = []string{
	"uaclass", "bucket", "rewrite", "canary", "inspect", "ratelimit",
	"testonly/misbehave", "testonly/kitchen", "pathheader",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wasmDir, cacheDir = dir, filepath.Join(dir, "cache")
	buildErr = testsupport.BuildPlugins(dir, examples)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func wasmFile(t testing.TB, name string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(wasmDir, name+".wasm")
}

// watFile compiles a text-format module from testdata with wat2wasm.
func watFile(t testing.TB, name string) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) is not installed; skipping the WebAssembly text plugin")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	return out
}

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeCounters backs gpc updates for slot 0 only.
type fakeCounters struct {
	mu  sync.Mutex
	gpc map[int]int64
	gpt map[int]int64
}

func (f *fakeCounters) AddGPC(ctx *fetch.Ctx, slot, index int, delta int64) (int64, bool) {
	if slot != 0 {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gpc[index] += delta
	return f.gpc[index], true
}

func (f *fakeCounters) SetGPT(ctx *fetch.Ctx, slot, index int, v int64) bool {
	if slot != 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gpt[index] = v
	return true
}

type env struct {
	host     *Host
	reg      *fetch.Registry
	logs     *logBuf
	failed   []error
	failMu   sync.Mutex
	counters *fakeCounters
	scRate   int64 // what sc0_http_req_rate returns
}

func newEnv(t testing.TB, mod ...func(*HostOptions)) *env {
	t.Helper()
	e := &env{logs: &logBuf{}, counters: &fakeCounters{gpc: map[int]int64{}, gpt: map[int]int64{}}, scRate: 7}
	e.reg = fetch.NewRegistry().Clone()
	// Stick-counter fetches as the stick subsystem would resolve them:
	// sc0_* exists when the session tracks something.
	e.reg.RegisterResolver(func(name string) (*fetch.Fetch, bool) {
		if !strings.HasPrefix(name, "sc0_") && !strings.HasPrefix(name, "sc1_") && !strings.HasPrefix(name, "sc2_") {
			return nil, false
		}
		tracked := strings.HasPrefix(name, "sc0_")
		return &fetch.Fetch{Name: name, Needs: scLayers, Out: sample.TypeInt, Fn: func(ctx *fetch.Ctx, _ []fetch.Arg) (sample.Value, bool) {
			if !tracked || ctx.Sess == nil || ctx.Sess.Ext.Trackers == nil {
				return sample.Value{}, false
			}
			return sample.Int(e.scRate), true
		}}, true
	})
	opts := HostOptions{
		CacheDir: cacheDir,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Samples:  e.reg,
		Counters: e.counters,
		OnFailClosed: func(ctx *fetch.Ctx, p *Plugin, err error) {
			e.failMu.Lock()
			e.failed = append(e.failed, err)
			e.failMu.Unlock()
		},
	}
	for _, m := range mod {
		m(&opts)
	}
	h, err := NewHost(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return e
}

// load loads and attaches a plugin. Tests run on shared, sometimes
// overloaded machines: unless a test is about call_timeout, it gets a
// deadline long enough that a scheduling stall is not taken for a loop.
func (e *env) load(t testing.TB, cfg Config) *Plugin {
	t.Helper()
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	// Likewise a replacement instance may take seconds to start under -race
	// on a loaded machine: wait for it rather than report busy.
	if cfg.InstanceWait == 0 {
		cfg.InstanceWait = 30 * time.Second
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = 60 * time.Second
	}
	p, err := e.host.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Attach(p, e.reg, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) failures() int {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	return len(e.failed)
}

// eval compiles and evaluates a sample expression through the core registry.
func (e *env) eval(t testing.TB, expr string, ctx *fetch.Ctx) (sample.Value, bool) {
	t.Helper()
	x, err := e.reg.ParseExpr(expr, fetch.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx.ResetScratch()
	return x.Eval(ctx)
}

// httpCtx builds the four layers of an HTTP request by hand.
func httpCtx(headers ...string) *fetch.Ctx { return httpCtxFrom("192.0.2.10:40000", headers...) }

// httpCtxFrom is httpCtx from client address src.
func httpCtxFrom(src string, headers ...string) *fetch.Ctx {
	conn := &session.Conn{ID: 1, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort("198.51.100.1:80")}
	sess := &session.Session{ID: 1, Conn: conn, Frontend: "web"}
	strm := &session.Stream{ID: 1, Sess: sess}
	txn := &session.Txn{}
	txn.Req.Method = []byte("GET")
	txn.Req.URI = []byte("/api/users?id=7")
	txn.Req.Path = txn.Req.URI[:10]
	txn.Req.Query = txn.Req.URI[11:]
	for i := 0; i+1 < len(headers); i += 2 {
		txn.Req.Fields = append(txn.Req.Fields, h1.Field{Name: []byte(headers[i]), Value: []byte(headers[i+1])})
	}
	strm.Txn = txn
	ctx := &fetch.Ctx{Proc: &sample.SharedVars{}}
	ctx.Bind(conn, sess, strm, txn)
	return ctx
}

// tcpCtx builds the layers of a tcp-request connection rule: CONN|SESS.
func tcpCtx() *fetch.Ctx {
	conn := &session.Conn{ID: 2, Src: netip.MustParseAddrPort("192.0.2.11:40001")}
	sess := &session.Session{ID: 2, Conn: conn}
	ctx := &fetch.Ctx{Proc: &sample.SharedVars{}}
	ctx.Bind(conn, sess, nil, nil)
	return ctx
}
