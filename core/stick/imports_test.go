package stick

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports: stick tables know nothing of sessions, streams or anything
// else of strata; the package depends on the standard library only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("stick imports %s; it may import the standard library only", imp)
		}
	}
}
