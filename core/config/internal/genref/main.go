// Command genref writes the configuration reference generated from the
// decoder (config.ReferenceMarkdown): `go generate ./core/config`, or
// `make docs`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/strata-proxy/strata/core/config"
)

func main() {
	out := flag.String("o", "", "output file (default: stdout)")
	flag.Parse()
	md := config.ReferenceMarkdown()
	if *out == "" {
		os.Stdout.Write(md)
		return
	}
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genref:", err)
		os.Exit(1)
	}
}
