package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/plugins/internal/instrument"
)

// Guests spinning on every P at once, in loops and in loop-free
// recursion, all stop at their call_timeout with ErrTimeout: the check
// runs on each calling goroutine, so nothing has to be scheduled beside
// them. A GC forced meanwhile completes (the guests reach Go at each
// check), and the plugin serves again afterwards.
func TestDeadline_SpinnersOnEveryP(t *testing.T) {
	e := newEnv(t)
	procs := runtime.GOMAXPROCS(0)
	n := 2 * procs // a loop and a recursion per P
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), CallTimeout: 200 * time.Millisecond,
		InstancesMin: n, InstancesMax: n, OnError: FailClosed, Quarantine: Quarantine{Failures: 1000}})
	var wg sync.WaitGroup
	start := make(chan struct{})
	proc := &sample.SharedVars{} // the guests set runaway_started here as they start
	for i := range n {
		fn := "spin"
		if i%2 == 1 {
			fn = "recurse"
		}
		wg.Go(func() {
			<-start
			ctx := httpCtx()
			ctx.Proc = proc
			if _, ok := e.eval(t, fn, ctx); ok {
				t.Errorf("%s gave a sample", fn)
			}
		})
	}
	gcDone := make(chan struct{})
	close(start)
	go func() {
		defer close(gcDone)
		// The GC starts once a guest has entered its runaway code, so
		// while the spinners run: each must reach a deadline check to be
		// stopped, so this ends.
		for {
			if _, ok := proc.Get("runaway_started"); ok {
				break
			}
			runtime.Gosched()
		}
		runtime.GC()
	}()
	wg.Wait()
	<-gcDone
	if s := p.Stats(); s.Timeouts != uint64(n) || s.Traps != 0 {
		t.Fatalf("%d guests: timeouts %d traps %d\n%s", n, s.Timeouts, s.Traps, e.logs.String())
	}
	e.failMu.Lock()
	failed := append([]error(nil), e.failed...)
	e.failMu.Unlock()
	if len(failed) != n {
		t.Fatalf("%d failures reported, want %d: %v", len(failed), n, failed)
	}
	for _, err := range failed {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("failure %v, want ErrTimeout", err)
		}
	}
	if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
		t.Fatal("no service after the timeouts")
	}
}

// A deadline that passes while the call makes host calls is caught too,
// and a call that ends in time is not taken for a timeout afterwards: the
// counter the guest decrements carries over between calls, but the
// deadline does not.
func TestDeadline_OnlyTheRunningCall(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), CallTimeout: time.Minute, InstancesMax: 1})
	for range 2000 {
		if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
			t.Fatalf("ok failed: %+v\n%s", p.Stats(), e.logs.String())
		}
	}
	if s := p.Stats(); s.Timeouts != 0 || s.Created != 1 {
		t.Fatalf("timeouts %d, instances created %d", s.Timeouts, s.Created)
	}
}

// The instrumented module is kept in the cache directory beside the
// compiled code (TestHost_CompilationCache shows that a restart rewrites
// neither), and it is the module that checks in: it imports the check.
func TestDeadline_InstrumentedModuleCached(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(o *HostOptions) { o.CacheDir = dir })
	e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass")})
	files, err := filepath.Glob(filepath.Join(dir, "strata-instrumented-v*.wasm"))
	if err != nil || len(files) != 1 {
		t.Fatalf("instrumented modules in the cache: %v %v", files, err)
	}
	bin, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		found = found || (mod == instrument.Module && name == instrument.Field)
	}
	if !found {
		t.Error("the cached module does not import the deadline check")
	}
}

// Many callers share two instances: every call is served (waiting callers
// get an instance handed over, none is lost between the slots and the
// waiters), and at the end every instance is idle again.
func TestPool_ConcurrentCallsAtMax(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMin: 1, InstancesMax: 2})
	x, err := e.reg.ParseExpr("ok", fetch.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ctx := httpCtx()
			for range 200 {
				ctx.ResetScratch()
				if v, ok := x.Eval(ctx); !ok || v.Int != 42 {
					t.Errorf("call failed: %+v", p.Stats())
					return
				}
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if s.Busy != 0 || s.Instances > 2 || s.Idle != s.Instances {
		t.Errorf("busy %d, instances %d, idle %d", s.Busy, s.Instances, s.Idle)
	}
}

// A malformed module on which wazero's validator panics (found by fuzzing
// the instrumenter; it is kept in the instrumenter's fuzz corpus too) is
// refused with an error, not a crash.
func TestLoad_MalformedModuleRefused(t *testing.T) {
	e := newEnv(t)
	bin := []byte("\x00asm\x01\x00\x00\x00\x01\x13\x04`\x01\x7f\x01\x7f`\x02\x7f\x7f\x01\x7f`\x00\x01\x7f`\x00\x00\x03\x0e\r\x00\x00\x00\x00000000000\n\x84\x02\r\a\x00A0A0x\v\a\x00A0A0x\v\b\x00A0\x10\x01\x10\x01\v\x1d\x00A0A0x\x04\x7fA0A0xA0xA0A0A0x\x10\x04A0\v\v6\x010\x7fA0A0\x020\x030A0A0000\x020C00000A00000\v000000000000000X\v\vA0\v1\x00000000A0000000000000000000000000000000000000000\v\x0f\x00A0000000000A0\v\x06\x00X000\v\x1c\x00A0000A\xfc000000000\xfc0A0000000\v\a\x00A0000\v\x1a\x00000000000000000000000000\v\x06\x00000X\v\x04\x00A0\v")
	_, err := e.host.Load(context.Background(), Config{Name: "malformed", Wasm: bin})
	if err == nil || !strings.Contains(err.Error(), "malformed module") {
		t.Fatalf("err = %v", err)
	}
}

// A module writing the global index the deadline counter takes once it is
// injected (an index the module does not define) is refused at load, by
// the validation of the module as given and by the rewrite itself: run,
// it would reset the counter in its loop and never reach the check.
func TestLoad_RefusesWritingTheCounter(t *testing.T) {
	bin := []byte{0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, // type () -> ()
		3, 2, 1, 0, // one function
		7, 8, 1, 4, 's', 'p', 'i', 'n', 0, 0, // export "spin"
		// loop  i32.const 0  global.set 0  br 0  end end: global 0 is
		// the counter's index in the rewritten module.
		10, 13, 1, 11, 0, 0x03, 0x40, 0x41, 0, 0x24, 0, 0x0c, 0, 0x0b, 0x0b}
	if err := validate(context.Background(), bin); err == nil {
		t.Error("the module as given passed validation")
	}
	if _, err := instrument.Instrument(bin); !errors.Is(err, instrument.ErrUnsupported) {
		t.Errorf("instrument: %v, want ErrUnsupported", err)
	}
	e := newEnv(t)
	p, err := e.host.Load(context.Background(), Config{Name: "counter", Wasm: bin, CallTimeout: time.Second})
	if err == nil {
		p.Close(context.Background())
		t.Fatal("the module was loaded")
	}
	if !strings.Contains(err.Error(), "global") {
		t.Errorf("load: %v, want the invalid global named", err)
	}
}
