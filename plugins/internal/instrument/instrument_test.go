package instrument

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// features adds tail calls to wazero's defaults, for return_call.
var features = api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall

// wat compiles testdata/name.wat with wat2wasm.
func wat(t testing.TB, name string) []byte {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", "--enable-tail-call", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// instantiate runs bin with the imports remap.wat needs and a check
// function that calls onCheck.
func instantiate(t *testing.T, bin []byte, onCheck func()) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(features))
	t.Cleanup(func() { rt.Close(ctx) })
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(a, b uint32) uint32 { return a + b }).Export("add").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.InstantiateWithConfig(ctx, wat(t, "envmem"), wazero.NewModuleConfig().WithName("envmem")); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.NewHostModuleBuilder(Module).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) { onCheck() }), nil, nil).
		Export(Field).Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("guest"))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func call(t *testing.T, mod api.Module, name string, args ...uint64) (uint64, error) {
	t.Helper()
	f := mod.ExportedFunction(name)
	if f == nil {
		t.Fatalf("no export %s", name)
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil || len(res) == 0 {
		return 0, err
	}
	return res[0], nil
}

// The instrumented module computes what the original computes, through
// every kind of function reference, and calls the check function once per
// Interval function entries and loop iterations.
func TestInstrument_SameResults(t *testing.T) {
	bin := wat(t, "remap")
	out, err := Instrument(bin)
	if err != nil {
		t.Fatal(err)
	}
	orig := instantiate(t, bin, func() { t.Fatal("the original module called the check") })
	checks := 0
	inst := instantiate(t, out, func() { checks++ })
	for _, c := range []struct {
		name string
		arg  []uint64
	}{
		{"fib", []uint64{20}}, {"sum", []uint64{200000}}, {"indirect", []uint64{7}}, {"via_global", []uint64{9}},
		{"tail", []uint64{12}}, {"bulk", nil}, {"endless", []uint64{10}}, {"started", nil},
	} {
		want, err := call(t, orig, c.name, c.arg...)
		if err != nil {
			t.Fatalf("original %s: %v", c.name, err)
		}
		got, err := call(t, inst, c.name, c.arg...)
		if err != nil || got != want {
			t.Errorf("%s%v = %d, %v; the original gives %d", c.name, c.arg, got, err, want)
		}
	}
	// sum(200000) alone iterates 200000 times: at least 3 checks.
	if checks < 3 {
		t.Errorf("%d checks", checks)
	}
}

// A check that aborts (as the host's does past the deadline) stops an
// endless loop and a loop-free endless recursion.
func TestInstrument_StopsLoopsAndRecursion(t *testing.T) {
	out, err := Instrument(wat(t, "remap"))
	if err != nil {
		t.Fatal(err)
	}
	checks := 0
	mod := instantiate(t, out, func() {
		checks++
		if checks%3 == 0 {
			panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
		}
	})
	for _, c := range []struct {
		name string
		arg  []uint64
	}{{"spin", nil}, {"endless", []uint64{62}}} {
		_, err := call(t, mod, c.name, c.arg...)
		var exit *sys.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != sys.ExitCodeDeadlineExceeded {
			t.Errorf("%s: %v, want the deadline exit error", c.name, err)
		}
	}
}

// What the instrumenter does not understand it refuses, naming the
// problem, rather than leave code unchecked.
func TestInstrument_Refuses(t *testing.T) {
	bin := wat(t, "remap")
	for _, c := range []struct {
		name string
		bin  []byte
	}{
		{"not wasm", []byte("hello world")},
		{"truncated", bin[:len(bin)/2]},
		{"reserved import", []byte{0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
			1, 4, 1, 0x60, 0, 0, // type () -> ()
			2, 0x22, 1, 17, 's', 't', 'r', 'a', 't', 'a', '_', 'i', 'n', 's', 't', 'r', 'u', 'm', 'e', 'n', 't',
			14, 'c', 'h', 'e', 'c', 'k', '_', 'd', 'e', 'a', 'd', 'l', 'i', 'n', 'e', 0, 0}},
		{"unknown opcode", []byte{0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
			1, 4, 1, 0x60, 0, 0, // type () -> ()
			3, 2, 1, 0, // one function
			10, 6, 1, 4, 0, 0x06, 0x40, 0x0b}}, // try (exception handling)
	} {
		out, err := Instrument(c.bin)
		if !errors.Is(err, ErrUnsupported) || out != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// FuzzInstrument feeds the instrumenter arbitrary modules: it must never
// panic, must refuse with ErrUnsupported, and whatever it returns for a
// module wazero accepts, wazero accepts too.
func FuzzInstrument(f *testing.F) {
	f.Add(wat(f, "remap"))
	f.Add(wat(f, "envmem"))
	f.Add([]byte{0, 0x61, 0x73, 0x6d, 1, 0, 0, 0})
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(features))
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, err := Instrument(bin)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v does not wrap ErrUnsupported", err)
			}
			return
		}
		if !plausible(bin) {
			return // wazero reserves memory by declared counts: not our subject
		}
		if err := compileSafely(ctx, rt, bin); err != nil {
			return // invalid input (or one wazero panics on): the host refuses it at compile
		}
		if err := compileSafely(ctx, rt, out); err != nil {
			t.Fatalf("the original compiles, the instrumented module does not: %v", err)
		}
	})
}

// plausible reports whether every section's leading count could be
// honest (no more entries than bytes), since wazero's decoder reserves
// memory by declared counts and a fuzzed 2^31 would exhaust the fuzzer's
// memory in wazero, not in the instrumenter.
func plausible(bin []byte) bool {
	secs, err := splitSections(bin)
	if err != nil {
		return false
	}
	for _, s := range secs {
		if s.id == secCustom || s.id == secStart {
			continue
		}
		rd := &reader{b: s.body}
		n, err := rd.u32()
		if err != nil || int(n) > len(s.body) && (s.id != secDataCnt || int(n) > len(bin)) {
			return false
		}
	}
	return true
}

// compileSafely compiles bin, turning a panic of wazero's validator (it
// has some on malformed input) into an error, as the host does.
func compileSafely(ctx context.Context, rt wazero.Runtime, bin []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	cm, err := rt.CompileModule(ctx, bin)
	if err == nil {
		cm.Close(ctx)
	}
	return err
}

// module assembles a binary module from sections, each given as its id
// followed by its body.
func module(sections ...[]byte) []byte {
	bin := []byte{0, 0x61, 0x73, 0x6d, 1, 0, 0, 0}
	for _, s := range sections {
		bin = append(bin, s[0], byte(len(s)-1))
		bin = append(bin, s[1:]...)
	}
	return bin
}

// A module naming the global index the counter takes in the output (its
// own global count) is refused: in a loop, global.set of that index would
// reset the counter on every iteration and the check would never run.
func TestInstrument_RefusesTheCounterIndex(t *testing.T) {
	typ := []byte{1, 1, 0x60, 0, 0}                // () -> ()
	fn := []byte{3, 1, 0}                          // one function of type 0
	global := []byte{6, 1, 0x7f, 1, 0x41, 0, 0x0b} // (mut i32) = 0
	mem := []byte{5, 1, 0, 1}                      // one page
	spin := func(g byte) []byte {                  // loop i32.const 0 global.set g br 0 end
		return []byte{10, 1, 11, 0, 0x03, 0x40, 0x41, 0, 0x24, g, 0x0c, 0, 0x0b, 0x0b}
	}
	for _, c := range []struct {
		name string
		bin  []byte
	}{
		{"global.set in a loop", module(typ, fn, spin(0))},
		{"global.set past the module's globals", module(typ, fn, global, spin(1))},
		{"global.get", module(typ, fn, global, []byte{10, 1, 5, 0, 0x23, 1, 0x1a, 0x0b})},
		{"global init", module([]byte{6, 1, 0x7f, 0, 0x23, 1, 0x0b})},
		{"export", module([]byte{7, 1, 1, 'g', 3, 0})},
		{"element offset", module(typ, fn, []byte{4, 1, 0x70, 0, 1}, []byte{9, 1, 0, 0x23, 0, 0x0b, 1, 0}, []byte{10, 1, 2, 0, 0x0b})},
		{"data offset", module(mem, []byte{11, 1, 0, 0x23, 0, 0x0b, 1, 'x'})},
	} {
		out, err := Instrument(c.bin)
		if !errors.Is(err, ErrUnsupported) || out != nil || !strings.Contains(err.Error(), "globals") {
			t.Errorf("%s: %v, want a refusal naming the global", c.name, err)
		}
	}
	// The same module with an index it defines is rewritten.
	if _, err := Instrument(module(typ, fn, global, spin(0))); err != nil {
		t.Errorf("global.set of the module's own global: %v", err)
	}
}
