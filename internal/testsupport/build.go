package testsupport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// RepoRoot returns the directory of strata's go.mod, found upwards from
// the working directory (a test runs in its package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
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
			out := filepath.Join(dir, filepath.Base(ex)+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./examples/plugins/"+ex)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build %s: %v\n%s", ex, err, b)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
