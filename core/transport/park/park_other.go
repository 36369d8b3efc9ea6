//go:build !linux

package park

import (
	"syscall"
	"time"
)

// Watcher parks idle connections; on this system it cannot be created.
type Watcher struct{}

// Slot is a connection's place on a Watcher.
type Slot struct{}

// New returns ErrUnsupported on this system.
func New() (*Watcher, error) { return nil, ErrUnsupported }

// Park returns ErrUnsupported: the caller keeps the connection.
func (w *Watcher) Park(s *Slot, rc syscall.RawConn, deadline time.Time, wake func(error)) error {
	return ErrUnsupported
}

// Wake does nothing: nothing is ever parked.
func (w *Watcher) Wake(s *Slot, err error) bool { return false }

// Close does nothing.
func (w *Watcher) Close() error { return nil }
