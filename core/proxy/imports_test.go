package proxy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestImports_CoreNeverImportsPlugins holds the dependency direction: no
// package of core, nor its tests, depends on the plugin host or the SDK.
// Plugins attach through the interfaces core defines (RouteTarget,
// StreamService, Service, rules.Action, fetch registries).
func TestImports_CoreNeverImportsPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go toolchain")
	}
	for _, test := range []bool{false, true} {
		args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
		if test {
			args = append(args, "-test")
		}
		cmd := exec.Command("go", append(args, "./core/...")...)
		cmd.Dir = "../.."
		cmd.Env = os.Environ()
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, b)
		}
		for _, p := range strings.Fields(string(b)) {
			p, _, _ = strings.Cut(p, " ") // "pkg [pkg.test]"
			for _, banned := range []string{"github.com/strata-proxy/strata/plugins", "github.com/strata-proxy/strata/sdk", "github.com/strata-proxy/strata/cmd/strata/internal/assemble", "github.com/tetratelabs/wazero"} {
				if p == banned || strings.HasPrefix(p, banned+"/") {
					t.Errorf("core depends on %s (tests included: %v); core must not import the plugin host", p, test)
				}
			}
		}
	}
}
