package sdk_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

// TestBuild_WASIP1 builds the SDK and every example plugin for the plugin
// target, as plugin authors do.
func TestBuild_WASIP1(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go toolchain")
	}
	out := t.TempDir()
	cmd := exec.Command("go", "build", "./sdk/...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=wasip1 go build ./sdk/...: %v\n%s", err, b)
	}
	mains, err := filepath.Glob("../examples/plugins/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../examples/plugins/testonly/*/main.go")
	for _, m := range append(mains, more...) {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(out, name+".wasm"), "./"+strings.TrimPrefix(dir, "../"))
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
		})
	}
}

// TestImports_OnlyABIAndStandardLibrary holds the dependency rule for the
// SDK on both targets.
func TestImports_OnlyABIAndStandardLibrary(t *testing.T) {
	for _, goos := range []string{"", "wasip1"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./sdk/...")
		cmd.Dir = ".."
		cmd.Env = os.Environ()
		if goos != "" {
			cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
		}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, b)
		}
		for _, p := range strings.Fields(string(b)) {
			if p != "github.com/strata-proxy/strata/abi" && !strings.HasPrefix(p, "github.com/strata-proxy/strata/sdk") {
				t.Errorf("GOOS=%s: the SDK depends on %s; it may import only abi and the standard library", goos, p)
			}
		}
	}
}

func TestError_Is(t *testing.T) {
	err := error(&sdk.Error{Op: "header", Status: abi.ErrLayer})
	if !errors.Is(err, sdk.ErrLayer) || errors.Is(err, sdk.ErrNotFound) {
		t.Error("errors.Is does not match statuses")
	}
	if err.Error() != "strata: header: layer absent" {
		t.Errorf("message %q", err)
	}
}

func TestValue_String(t *testing.T) {
	tests := []struct {
		name string
		v    sdk.Value
		want string
	}{
		{"bool", sdk.Bool(true), "1"},
		{"int", sdk.Int(-3), "-3"},
		{"str", sdk.Str("x"), "x"},
		{"none", sdk.None, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Errorf("got %q want %q", got, tt.want)
			}
		})
	}
}
