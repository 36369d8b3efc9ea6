package abi

import (
	"flag"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.api (a version decision: additions only within v1)")

// TestListing_Golden fails when the ABI changes without the golden listing
// being updated on purpose.
func TestListing_Golden(t *testing.T) {
	golden := filepath.Join("testdata", "v1.api")
	got := Listing()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./abi -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("ABI v1 listing changed. Within v1 only additions are allowed; anything else is v2.\n"+
			"If the change is intended, run: go test ./abi -update\n\ngot:\n%s", got)
	}
}

// TestListing_OnlyAdditions checks the golden file against the listing line
// by line: every golden line must still be there.
func TestListing_OnlyAdditions(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "v1.api"))
	if err != nil {
		t.Skip(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(Listing(), "\n") {
		have[l] = true
	}
	for _, l := range strings.Split(string(want), "\n") {
		if strings.HasPrefix(l, "import ") || strings.HasPrefix(l, "export ") {
			if !have[l] {
				t.Errorf("removed or changed in v1: %s", l)
			}
		}
	}
}

func TestHostFuncs_Unique(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range HostFuncs {
		if seen[f.Name] {
			t.Errorf("duplicate host function %s", f.Name)
		}
		seen[f.Name] = true
		if f.Grant != GrantCore && !ValidGrant(f.Grant) {
			t.Errorf("%s: unknown grant %q", f.Name, f.Grant)
		}
		if len(f.Results) != 1 {
			t.Errorf("%s: host functions return exactly one value", f.Name)
		}
	}
}

// TestImports_StandardLibraryOnly holds the dependency rule: abi imports only
// the standard library.
func TestImports_StandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.Split(imp, "/")[0], ".") {
			t.Errorf("abi imports %s; only the standard library is allowed", imp)
		}
	}
}

func TestLayers_String(t *testing.T) {
	tests := []struct {
		name string
		l    Layers
		want string
	}{
		{"none", 0, "none"},
		{"conn", LayerConn, "CONN"},
		{"all", LayerConn | LayerSess | LayerStrm | LayerTxn, "CONN|SESS|STRM|TXN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.String(); got != tt.want {
				t.Errorf("got %q want %q", got, tt.want)
			}
		})
	}
}

func TestPoint_Layers(t *testing.T) {
	if PointTCPConnection.Layers().Has(LayerStrm) || !PointTCPContent.Layers().Has(LayerStrm) || PointTCPContent.Layers().Has(LayerTxn) {
		t.Error("tcp points")
	}
	if !PointHTTPRequest.Layers().Has(LayerTxn) {
		t.Error("http-request lacks TXN")
	}
	if s := (PointHTTPRequest | PointTCPContent).String(); s != "tcp-request content,http-request" {
		t.Errorf("String = %q", s)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"ua_class", "a", "x.y2"} {
		if !ValidName(n) {
			t.Errorf("%q should be valid", n)
		}
	}
	for _, n := range []string{"", "Ua", "1a", "a-b", strings.Repeat("a", MaxNameLen+1)} {
		if ValidName(n) {
			t.Errorf("%q should be invalid", n)
		}
	}
}

// specSignature writes f as SPEC.md does: parameter names, "i64" after
// the 64-bit ones, and the result type.
func specSignature(f Func) string {
	var b strings.Builder
	b.WriteString(f.Name + "(")
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		if p.Type == I64 {
			b.WriteString(" i64")
		}
	}
	b.WriteString(")")
	if len(f.Results) == 1 {
		if f.Results[0] == I64 {
			b.WriteString(" -> i64")
		} else {
			b.WriteString(" -> i32")
		}
	}
	return b.String()
}

// SPEC.md is normative and complete: every host function and every entry
// point is written there with the host's exact signature, result included.
func TestSpec_Signatures(t *testing.T) {
	b, err := os.ReadFile("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	check := func(f Func) {
		if want := "`" + specSignature(f) + "`"; !strings.Contains(spec, want) {
			t.Errorf("SPEC.md does not state %s", want)
		}
	}
	for _, f := range HostFuncs {
		check(f)
	}
	for _, e := range Exports {
		if len(e.Params) > 0 {
			check(e.Func)
		}
	}
}
