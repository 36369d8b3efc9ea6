package testsupport

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// RepoRoot returns the directory of strata's go.mod, as the go command
// finds it from the working directory (a test runs in its package's).
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildPlugins builds the example plugins named (directories under
// examples/plugins, such as "uaclass" or "testonly/kitchen") for wasip1
// into dir, as dir/BASE.wasm, a few at a time. The error names every
// plugin that did not build, with the compiler's output.
func BuildPlugins(dir string, examples []string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(examples))
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	for i, ex := range examples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = BuildPlugin(root, ex, filepath.Join(dir, filepath.Base(ex)+".wasm"))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
