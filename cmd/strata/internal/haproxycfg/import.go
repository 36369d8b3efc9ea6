package haproxycfg

import (
	"context"
	"errors"
	"strings"

	"github.com/strata-proxy/strata/cmd/strata/internal/assemble"
	"github.com/strata-proxy/strata/core/config"
)

// Result is what Import gives back.
type Result struct {
	YAML   []byte  // strata's configuration
	Report *Report // what was not carried over as is
	// CheckErr is what `strata check` still says about YAML after every
	// rule and ACL it refused was taken out (and reported): problems that
	// are not the conversion's, such as a certificate file missing on this
	// machine. nil when the configuration is valid.
	CheckErr error
}

// maxRounds bounds the check-and-take-out loop; each round takes out at
// least one item, and a configuration rarely needs more than two.
const maxRounds = 50

// Import parses an HAProxy configuration and converts it. Every rule and
// ACL is checked the way `strata check` checks it (configuration loading
// and the rule compiler); one that strata refuses is taken out of the
// output and reported with its line and the compiler's reason, so the
// output passes the check whenever the rest of it does. Relative file
// names (certificates, map files) are read from the current directory, as
// HAProxy reads them. A syntax error returns a *ParseError.
func Import(src []byte, opt Options) (*Result, error) {
	f, err := Parse(src, opt)
	if err != nil {
		return nil, err
	}
	c := newConverter(f, opt)
	c.run()
	var y []byte
	var checkErr error
	for range maxRounds {
		var paths map[string]*item
		y, paths = c.out.render()
		checkErr = Check(y)
		var errs *config.Errors
		if checkErr == nil || !errors.As(checkErr, &errs) {
			break
		}
		if !c.takeOut(errs, paths) {
			break
		}
	}
	if checkErr != nil {
		c.rep.add(Entry{Level: NotConverted, Directive: "(output)", Reason: "strata check still refuses the output: " + checkErr.Error()})
	}
	return &Result{YAML: y, Report: c.rep, CheckErr: checkErr}, nil
}

// takeOut removes the rules and ACLs that the check refused and reports
// them; false when none of the errors names one.
func (c *converter) takeOut(errs *config.Errors, paths map[string]*item) bool {
	took := false
	for _, e := range errs.List {
		for p, it := range paths {
			if it.text == "" || !(p == e.Path || strings.HasPrefix(p, e.Path+"[") || strings.HasPrefix(p, e.Path+".")) {
				continue
			}
			c.rep.add(Entry{Line: it.line, Level: NotConverted, Directive: it.text, Reason: "strata refuses it: " + e.Msg, Alternative: e.Fix})
			it.text = ""
			took = true
		}
	}
	return took
}

// Check validates a strata configuration as `strata check` does: it
// loads it, then builds it (rules compiled, stick tables and backends
// made) and closes what it built.
func Check(yaml []byte) error {
	cfg, err := config.Load(config.Sources{YAML: yaml})
	if err != nil {
		return err
	}
	gen, err := assemble.Build(context.Background(), cfg, assemble.Options{})
	if err != nil {
		return err
	}
	gen.Close(context.Background())
	return nil
}
