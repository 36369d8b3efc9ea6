package logfmt

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestImports_StandardLibraryOnly holds the layering: the log format and
// sink packages know nothing of sessions, streams or configuration (the
// proxy fills a Record), so they depend on the standard library only.
func TestImports_StandardLibraryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go toolchain")
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./core/logfmt", "./core/logsink")
	cmd.Dir = "../.."
	cmd.Env = os.Environ()
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, b)
	}
	for _, p := range strings.Fields(string(b)) {
		if p != "github.com/strata-proxy/strata/core/logfmt" && p != "github.com/strata-proxy/strata/core/logsink" {
			t.Errorf("core/logfmt or core/logsink depends on %s", p)
		}
	}
}
