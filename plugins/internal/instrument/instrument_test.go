package instrument

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// compile validates bin the way the host does: wazero compiles it.
func compile(t testing.TB, bin []byte) error {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	_, err := rt.CompileModule(ctx, bin)
	return err
}

func TestInstrument_GoModule(t *testing.T) {
	p := os.Getenv("INSTRUMENT_WASM")
	if p == "" {
		t.Skip("INSTRUMENT_WASM unset")
	}
	bin, err := os.ReadFile(filepath.Clean(p))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	out, err := Instrument(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d → %d bytes in %v", len(bin), len(out), time.Since(t0))
	if err := compile(t, out); err != nil {
		t.Fatal(err)
	}
	_ = errors.New
}
