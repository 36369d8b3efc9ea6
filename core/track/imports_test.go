package track

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports: tracking sits between the stick tables and the engine. It
// builds on the sample, rule and session packages and knows nothing of the
// engine (core/proxy), backends or transport.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/strata-proxy/strata/abi":          true,
		"github.com/strata-proxy/strata/core/admin":   true,
		"github.com/strata-proxy/strata/core/config":  true,
		"github.com/strata-proxy/strata/core/fetch":   true,
		"github.com/strata-proxy/strata/core/rules":   true,
		"github.com/strata-proxy/strata/core/sample":  true,
		"github.com/strata-proxy/strata/core/session": true,
		"github.com/strata-proxy/strata/core/stick":   true,
	}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") && !allowed[imp] {
			t.Errorf("track imports %s", imp)
		}
	}
}
