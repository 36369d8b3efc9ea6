package sdk

import (
	"errors"

	"github.com/strata-proxy/strata/abi"
)

// Sentinel errors, one per ABI status; test with errors.Is.
var (
	ErrNotFound    error = abi.ErrNotFound
	ErrLayer       error = abi.ErrLayer
	ErrHandle      error = abi.ErrHandle
	ErrMemory      error = abi.ErrMemory
	ErrArg         error = abi.ErrArg
	ErrState       error = abi.ErrState
	ErrDenied      error = abi.ErrDenied
	ErrLimit       error = abi.ErrLimit
	ErrUnsupported error = abi.ErrUnsupported
	ErrInternal    error = abi.ErrInternal
)

// Error is a failed host call: the operation and the ABI status the host
// returned. errors.Is(err, sdk.ErrLayer) works through Unwrap.
type Error struct {
	Op     string
	Status abi.Status
}

func (e *Error) Error() string { return "strata: " + e.Op + ": " + e.Status.String() }

// Unwrap returns the status, so that errors.Is matches the sentinels.
func (e *Error) Unwrap() error { return e.Status }

func fail(op string, st abi.Status) error { return &Error{Op: op, Status: st} }

// statusOf maps an error returned by plugin code to the status its entry
// point returns: the status it carries, or abi.ErrGuest.
func statusOf(err error) int32 {
	var st abi.Status
	if errors.As(err, &st) && st < 0 {
		return int32(st)
	}
	return int32(abi.ErrGuest)
}
