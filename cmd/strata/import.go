package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/strata-proxy/strata/cmd/strata/internal/haproxycfg"
)

const importUsage = `Usage: strata import [--check] [--strict] [-o strata.yaml] haproxy.cfg

Converts an HAProxy configuration to strata's. The YAML goes to -o FILE (or
standard output), the report of every line not carried over as is, with
its line number, the reason and the strata alternative, to standard error.
Relative certificate and CA file names are made absolute when -o writes to
another directory than the current one. --check prints the report alone, on
standard output. --strict exits 1 when
a line was not converted. Exit status 1 also when the file has a syntax
error or the output does not pass strata check.
`

// runImport runs `strata import`.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage) }
	out := fs.String("o", "", "write the strata configuration to this file (default: standard output)")
	checkOnly := fs.Bool("check", false, "print the report alone")
	strict := fs.Bool("strict", false, "exit 1 when a line was not converted")
	// Flags may come before or after the file name.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return 2
	}
	name := files[0]
	src, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintln(stderr, "strata import:", err)
		return 1
	}
	opt := haproxycfg.Options{Name: name}
	if *out != "" {
		opt.FileDir = fileDirFor(*out)
	}
	res, err := haproxycfg.Import(src, opt)
	if err != nil {
		var pe *haproxycfg.ParseError
		if errors.As(err, &pe) {
			for _, le := range pe.List {
				fmt.Fprintf(stderr, "%s:%d: %s\n", name, le.Line, le.Msg)
			}
			return 1
		}
		fmt.Fprintln(stderr, "strata import:", err)
		return 1
	}
	base := filepath.Base(name)
	if *checkOnly {
		res.Report.Write(stdout, base)
	} else {
		res.Report.Write(stderr, base)
		y := append([]byte("# Converted from "+base+" by strata import: see its report for what was not carried over.\n"), res.YAML...)
		if err := writeOutput(*out, y, stdout); err != nil {
			fmt.Fprintln(stderr, "strata import:", err)
			return 1
		}
	}
	switch {
	case res.CheckErr != nil:
		fmt.Fprintln(stderr, "strata import: the output does not pass strata check:", res.CheckErr)
		return 1
	case *strict && res.Report.NotConverted() > 0:
		fmt.Fprintf(stderr, "strata import: --strict: %d line(s) not converted\n", res.Report.NotConverted())
		return 1
	}
	return 0
}

// fileDirFor returns the current directory when the YAML goes to another
// one: HAProxy read relative file names from here, strata reads them from
// its configuration's directory, so the import makes them absolute.
func fileDirFor(out string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return ""
	}
	dir, err := filepath.Abs(filepath.Dir(out))
	if err != nil || dir == cwd {
		return ""
	}
	return cwd
}

func writeOutput(path string, b []byte, stdout io.Writer) error {
	if path == "" {
		_, err := io.Copy(stdout, bytes.NewReader(b))
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
