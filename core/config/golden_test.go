package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors/*.golden from the current output")

// TestLoad_Golden loads each testdata/errors/*.yaml and compares the full
// error text with the .golden file beside it.
func TestLoad_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/errors/*.yaml (%v)", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			c, err := Load(Sources{Files: []string{file}})
			if err == nil || c != nil {
				t.Fatalf("Load(%s) succeeded; an error file must fail", file)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestLoad_Golden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors of %s:\n%s\nwant (%s):\n%s", file, got, golden, want)
			}
		})
	}
}
