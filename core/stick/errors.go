package stick

import "errors"

// Errors returned by this package. They concern one table, one entry or one
// definition; none of them takes a connection down: a caller that cannot
// track simply skips tracking, as HAProxy does.
var (
	// ErrFull: the table is full and every entry is referenced (or the table
	// is "nopurge"), so no entry can be created.
	ErrFull = errors.New("stick table full")
	// ErrKeyType: the key's type is not the table's key type.
	ErrKeyType = errors.New("key type does not match the table")
	// ErrInUse: the entry is referenced by a tracker and cannot be deleted.
	ErrInUse = errors.New("entry currently in use")
	// ErrNotFound: no entry has that key.
	ErrNotFound = errors.New("no such entry")
	// ErrNotStored: the table does not store that data type.
	ErrNotStored = errors.New("data type not stored in this table")

	// ErrDataType: a store specification names an unknown data type.
	ErrDataType = errors.New("unknown data type")
	// ErrDataArg: a store specification has missing, extra or invalid
	// arguments.
	ErrDataArg = errors.New("invalid data type argument")
	// ErrDef: a table definition is invalid.
	ErrDef = errors.New("invalid stick table definition")
	// ErrStale: a table set was built from a generation that is no longer
	// the current one.
	ErrStale = errors.New("stick table set built from a stale generation")
)
