// Package park lets an idle connection wait for its next bytes without a
// goroutine.
//
// A goroutine blocked on a socket keeps its stack, grown to whatever the
// last request needed and shrunk by the garbage collector to no less than
// twice what the blocked frames use: about 4 KiB for an HTTP/1.1 client
// connection of strata, more than everything else an idle connection holds.
// Thousands of keep-alive connections that sit idle between a user's page
// views pay that for nothing. A Watcher holds such connections by their
// descriptors instead, on one epoll instance (EPOLLONESHOT), and gives
// each its goroutine back when it is readable, closed by the peer, past
// its deadline, or woken by its owner.
//
// # States and goroutines
//
// A Slot is a connection's place on a Watcher, reused for every park:
//
//	free → (Park) → parked → (readable | deadline | Wake | Close) → free
//
// The goroutine that calls Park gives the connection up: from the moment
// Park returns nil it must not touch the connection again, since the wake
// function may already be running. Exactly one wake call follows each
// successful Park, in a new goroutine, which then owns the connection.
// When Park returns an error, nothing was parked and the caller keeps the
// connection. Wake may be called from any goroutine; it does nothing for
// a slot that is not parked.
//
// A parked descriptor must not be closed without Wake first: closing it
// removes it from the epoll set, and no event would ever report it.
//
// The Watcher's own goroutine waits for the epoll descriptor through the
// Go netpoller (it is pollable), and for the earliest deadline through
// that descriptor's read deadline: no thread blocks in epoll_wait and no
// timer exists per parked connection. The Slot fields are guarded by the
// Watcher's mutex while parked; parking is meant for connections idle for
// a while, not for the pause between two requests of a busy client (see
// the caller), so the mutex is not contended on the request path.
//
// On systems other than Linux, New and Shared return ErrUnsupported and
// callers keep their goroutine waiting (the plain blocking wait).
package park
