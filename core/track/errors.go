package track

import "errors"

// Errors of this package. ErrNoTable, ErrSlots and ErrDataName are
// configuration errors found at load, wrapped with what failed; ErrBadKey,
// ErrBadFilter and ErrDataName are also what the runtime API answers with
// status 400. Nothing here takes a connection down: a tracker that cannot
// be created is skipped, as in HAProxy.
var (
	ErrNoTable   = errors.New("no such stick table")
	ErrSlots     = errors.New("invalid number of tracker slots")
	ErrBadKey    = errors.New("invalid key")
	ErrBadFilter = errors.New("invalid filter")
	ErrDataName  = errors.New("unknown or unstored data type")
)
