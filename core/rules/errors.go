package rules

import (
	"errors"
	"fmt"

	"github.com/strata-proxy/strata/abi"
)

// Errors returned by Compile, CompileTarget, ParseLogFormat and DefineACL,
// wrapped with the rule source and what failed. All are configuration
// errors found at load; nothing in this package fails at run time.
var (
	ErrSyntax        = errors.New("syntax error")
	ErrUnknownACL    = errors.New("unknown ACL")
	ErrUnknownAction = errors.New("unknown action")
	ErrActionPoint   = errors.New("action not valid here")
	ErrLayer         = errors.New("layer not available")
	ErrMode          = errors.New("wrong proxy mode")
	ErrUnsupported   = errors.New("not supported")
	ErrDuplicate     = errors.New("already registered")
)

// LayerError is a fetch or variable used where a layer it needs cannot
// exist. errors.Is(err, ErrLayer) holds for it.
type LayerError struct {
	Subject   string     // `fetch "req.hdr"` or `variable "txn.x"`
	Fetch     string     // the fetch name, "" for a variable
	Need      abi.Layers // everything the subject needs
	Missing   abi.Layers // the part of Need the point lacks
	Point     Point
	Available abi.Layers // the layers of Point
}

func (e *LayerError) Error() string {
	layer, verb := "layer", "does"
	if e.Missing&(e.Missing-1) != 0 {
		layer, verb = "layers", "do"
	}
	return fmt.Sprintf("%s needs %s %s, which %s not exist at %s (available: %s)",
		e.Subject, layer, e.Missing, verb, e.Point, e.Available)
}

func (e *LayerError) Unwrap() error { return ErrLayer }
