package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/plugins/proxywasm"
)

// version and commit are set at build time with -ldflags "-X main.version=…
// -X main.commit=…" (make build/install and the Dockerfile stamp `git
// describe` and the revision). A plain `go install ./cmd/strata` keeps this
// version and takes the commit from the build info Go records from the
// checkout (vcs.revision), which it cannot read in a git worktree or with
// -buildvcs=false: hence the -X.
var (
	version = defaultVersion
	commit  = ""
)

const defaultVersion = "0.1.0-dev"

// buildInfo is what `strata version --json` prints.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from ("" when built
	// outside a checkout); Modified says the tree had uncommitted changes.
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// ABI lists the plugin ABIs this binary serves, by name: the import
	// module of each strata ABI major, and the markers of the Proxy-Wasm
	// versions whose filters it runs.
	ABI map[string][]string `json:"abi"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{
		Version:  version,
		Commit:   commit,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		ABI: map[string][]string{
			"strata":     {abi.ImportModuleFor(abi.Version)},
			"proxy-wasm": {proxywasm.MarkerV020, proxywasm.MarkerV021},
		},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		// `go install github.com/strata-proxy/strata/cmd/strata@v1.2.3`
		// records the module's version; a build from a checkout records
		// "(devel)".
		if version == defaultVersion && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = b.Modified || s.Value == "true"
			}
		}
	}
	return b
}

// versionString is the one-line form: "0.1.0-dev (0123456789ab) go1.26.0".
func versionString() string {
	b := readBuildInfo()
	v := b.Version
	if len(b.Commit) >= 12 {
		v += " (" + b.Commit[:12]
		if b.Modified {
			v += "+dirty"
		}
		v += ")"
	}
	return v + " " + b.Go
}

const versionUsage = "usage: strata version [--json]\n"

// runVersion serves `strata version [--json]`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		b := readBuildInfo()
		fmt.Fprintln(stdout, "strata", versionString())
		fmt.Fprintf(stdout, "platform %s, plugin ABI %v, Proxy-Wasm %v\n", b.Platform, b.ABI["strata"], b.ABI["proxy-wasm"])
		return 0
	case len(args) == 1 && (args[0] == "--json" || args[0] == "-json"):
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(readBuildInfo()); err != nil {
			fmt.Fprintln(stderr, "strata version:", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stderr, versionUsage)
	return 2
}
