package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/plugins/internal/instrument"
)

// instrumented returns bin rewritten by package instrument, so that its
// calls stop at their deadline. The result is kept with the compiled code:
// a loaded plugin of the same module lends its copy (a reload), and
// CacheDir, when there is one, keeps it across restarts, so that an
// unchanged module is neither rewritten nor compiled again. sum is bin's
// SHA-256.
func (h *Host) instrumented(ctx context.Context, bin []byte, sum [sha256.Size]byte) ([]byte, error) {
	h.mu.Lock()
	var out []byte
	for p := range h.plugins {
		if p.sum == sum && p.wasm != nil {
			out = p.wasm
			break
		}
	}
	h.mu.Unlock()
	if out != nil {
		return out, nil
	}
	file := ""
	if h.opts.CacheDir != "" {
		file = filepath.Join(h.opts.CacheDir, "strata-instrumented-v"+strconv.Itoa(instrument.Version)+"-"+hex.EncodeToString(sum[:])+".wasm")
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			out = b
		}
	}
	if out == nil {
		if err := validate(ctx, bin); err != nil {
			return nil, err
		}
		var err error
		if out, err = instrument.Instrument(bin); err != nil {
			return nil, fmt.Errorf("the module cannot be instrumented for call_timeout, so it is refused: %w", err)
		}
		if file != "" {
			// Written whole then renamed, so that a crash leaves no
			// truncated file; a failure costs only a rewrite next time.
			tmp := file + ".tmp" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, out, 0o644) == nil {
				_ = os.Rename(tmp, file)
			}
		}
	}
	return out, nil
}

// validate checks bin as wazero would before it is rewritten: the rewrite
// gives meaning to indices that are invalid in the input (the injected
// global's and function's), so validating only the output would let such
// a reference through. The interpreter validates as the compiler does and
// compiles faster; what it builds is thrown away.
func validate(ctx context.Context, bin []byte) (err error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	cm, err := compile(ctx, rt, bin)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	return cm.Close(ctx)
}

// buildCheckModule instantiates the module the instrumented code imports
// its deadline check from.
func buildCheckModule(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(instrument.Module).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(checkDeadline), nil, nil).
		Export(instrument.Field).
		Instantiate(ctx)
	return err
}

// compile compiles bin. wazero 1.12's validator panics on some malformed
// modules (a function whose type index is out of range, found by fuzzing):
// that is an error of the module, not a reason to take the proxy down.
func compile(ctx context.Context, rt wazero.Runtime, bin []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			cm, err = nil, fmt.Errorf("malformed module (wazero: %v)", r)
		}
	}()
	return rt.CompileModule(ctx, bin)
}
