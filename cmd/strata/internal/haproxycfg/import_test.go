package haproxycfg

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml and *.report from the current output")

// TestImport_Corpus converts every testdata/*.cfg, compares the YAML and
// the report with the golden files beside it, and requires the YAML to
// pass strata's check (the validation `strata check` runs).
func TestImport_Corpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cfg")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 testdata/*.cfg, got %d (%v)", len(files), err)
	}
	env := map[string]string{} // EDGE_MAXCONN and EDGE_ADDR unset: the defaults apply
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".cfg")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(src, Options{Name: file, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
			if err != nil {
				t.Fatal(err)
			}
			if res.CheckErr != nil {
				t.Errorf("the output fails strata's check: %v\n%s", res.CheckErr, res.YAML)
			}
			if err := Check(res.YAML); err != nil {
				t.Errorf("Check: %v", err)
			}
			var rep bytes.Buffer
			if err := res.Report.Write(&rep, filepath.Base(file)); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(file, ".cfg")+".yaml", res.YAML)
			golden(t, strings.TrimSuffix(file, ".cfg")+".report", rep.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestImport_Corpus -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestImport_READMEExample keeps the README's migration example true: its
// report and YAML are those of testdata/readme.cfg.
func TestImport_READMEExample(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"testdata/readme.cfg", "testdata/readme.report", "testdata/readme.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, b) {
			t.Errorf("README.md's migration example does not show %s as it is:\n%s", f, b)
		}
	}
}
