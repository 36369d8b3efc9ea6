package park

import (
	"errors"
	"sync"
)

// ErrUnsupported is returned by New and Shared where parking is not
// implemented; the caller waits in its goroutine instead.
var ErrUnsupported = errors.New("park: not supported on this system")

// ErrClosed is passed to the wake function of the connections still parked
// when their Watcher closes, and returned by Park afterwards.
var ErrClosed = errors.New("park: watcher closed")

var shared struct {
	once sync.Once
	w    *Watcher
	err  error
}

// Shared returns the process's Watcher, started on first use and never
// closed: one epoll instance and one goroutine for every connection that
// parks. It returns an error (and keeps returning it) when no Watcher
// could be started.
func Shared() (*Watcher, error) {
	shared.once.Do(func() { shared.w, shared.err = New() })
	return shared.w, shared.err
}
