package fetch

import "errors"

// Errors returned at load time, wrapped with the name of what failed. All of
// them are configuration errors: nothing here fails at run time.
var (
	// ErrUnknownFetch: an expression names a fetch nobody registered.
	ErrUnknownFetch = errors.New("unknown fetch")
	// ErrUnknownConverter: an expression names a converter nobody registered.
	ErrUnknownConverter = errors.New("unknown converter")
	// ErrSyntax: an expression, argument list or pattern is malformed.
	ErrSyntax = errors.New("syntax error")
	// ErrArgs: wrong number or form of arguments.
	ErrArgs = errors.New("bad argument")
	// ErrType: a value cannot be converted to the type a step wants.
	ErrType = errors.New("type mismatch")
	// ErrDuplicate: a registration reuses a name.
	ErrDuplicate = errors.New("already registered")
	// ErrMapFile: a map or pattern file cannot be read or parsed.
	ErrMapFile = errors.New("bad map file")
)
