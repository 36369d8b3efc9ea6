package stream

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/transport"
	"github.com/strata-proxy/strata/core/transport/park"
)

// ParkAfter is how long an idle keep-alive connection keeps its goroutine.
const ParkAfter = 25 * time.Millisecond

// errParked says that the connection goroutine must return: the connection
// waits on the watcher.
var errParked = errors.New("idle connection parked")

// idleWatcher returns the process's watcher, or nil where parking is not
// available (the goroutine then waits for the whole keep-alive timeout).
func idleWatcher() *park.Watcher {
	w, err := park.Shared()
	if err != nil {
		return nil
	}
	return w
}

// waitRequest waits up to keepAlive (zero: for ever) for the next request
// of a keep-alive connection, reading what arrives into cc.buf. It returns
// Fill's error, or errParked when the connection stayed idle for parkAfter
// and is to be parked (see end).
func (cc *Conn) waitRequest(keepAlive time.Duration) error {
	cc.c.ReadDeadline = time.Time{}
	parkable := !cc.noPark && (keepAlive == 0 || keepAlive > ParkAfter) && idleWatcher() != nil
	if !parkable {
		cc.c.ReadTimeout = keepAlive
		_, err := cc.c.Fill(&cc.buf)
		return err
	}
	cc.c.ReadTimeout = ParkAfter
	_, err := cc.c.Fill(&cc.buf)
	if err == nil || !transport.IsTimeout(err) {
		return err
	}
	if keepAlive > 0 {
		cc.parkUntil = time.Now().Add(keepAlive - ParkAfter)
	} else {
		cc.parkUntil = time.Time{}
	}
	if !cc.c.Quiet() {
		// TLS bytes wait above the socket: keep waiting here.
		cc.c.ReadTimeout = max(keepAlive-ParkAfter, 0)
		_, err = cc.c.Fill(&cc.buf)
		return err
	}
	cc.parking = true
	return errParked
}

// park hands the connection to the watcher; called by end as the
// goroutine's last act. When the watcher refuses it (the descriptor was
// closed meanwhile, or epoll failed), the connection carries on in a new
// goroutine that waits without parking: a closed one ends there at once.
func (cc *Conn) park() {
	cc.parking = false
	p := cc.p
	if TestHookPark != nil {
		TestHookPark(cc.c)
	}
	p.Parked.Add(1) // before Park: wake may run at once
	if err := idleWatcher().Park(&cc.slot, cc.c.RawConn(), cc.parkUntil, cc.wake); err != nil {
		p.Parked.Add(-1)
		cc.noPark = true
		go cc.resume(nil)
		return
	}
	p.Parks.Add(1)
	if h := cc.h2.Load(); h != nil && h.Closing() {
		// Its end was decided after it parked itself, and the wake may
		// have come before the connection was on the watcher.
		idleWatcher().Wake(&cc.slot, nil)
	}
}

// TestHookPark, when set by a test, is called by park before the
// connection is handed to the watcher.
var TestHookPark func(client io.Closer)

// wake is the goroutine the watcher starts for a parked connection: err
// is nil when the client sent something or closed, a timeout when
// http_keep_alive expired, net.ErrClosed when graceful stop closes it.
func (cc *Conn) wake(err error) {
	cc.p.Parked.Add(-1)
	cc.resume(err)
}

// resume carries on the serve loop of a connection that waited without a
// goroutine, or ends it when err says so.
func (cc *Conn) resume(err error) {
	defer cc.end()
	if h := cc.h2.Load(); h != nil {
		if err != nil {
			h.Close() // graceful stop's end: its streams, if any, fail
		}
		// Resume drains and closes a connection whose end is decided.
		cc.h2Served(h.Resume())
		return
	}
	if err != nil {
		// As when Fill fails between requests: no stream, nothing to log.
		return
	}
	cc.serveHTTP()
}

// CloseFromStop closes the connection from another goroutine (graceful
// stop). A parked connection is woken first: closing its descriptor would
// take it out of the epoll set, and it would never be resumed.
func (cc *Conn) CloseFromStop() {
	if w := idleWatcher(); w != nil {
		w.Wake(&cc.slot, net.ErrClosed)
	}
	cc.c.Close()
}

// GoAway asks an HTTP/2 client to open its next streams on a new
// connection (GOAWAY) and lets the open ones finish: graceful stop, and a
// reload, which an HTTP/2 connection does not follow. Nothing on
// HTTP/1.1. Safe from any goroutine.
func (cc *Conn) GoAway() {
	if h := cc.h2.Load(); h != nil {
		h.Shutdown()
	}
}

// Kill ends what the connection still waits for when the grace period
// is over: the client socket, the server connection of its stream in
// progress, and the streams waiting on its HTTP/2 servers. Safe from any
// goroutine.
func (cc *Conn) Kill() {
	cc.CloseFromStop()
	if sc := cc.sconn.Load(); sc != nil {
		sc.Close()
	}
	if l4 := cc.stopL4.Load(); l4 != nil {
		for _, ls := range l4.Servers {
			if ls.H2 != nil {
				ls.H2.Close() // streams waiting on HTTP/2 servers end now
			}
		}
	}
}

// Idle HTTP/2 connections
//
// An HTTP/2 connection with no stream, nothing to write and nothing read
// ahead parks the same way: core/h2's serve loop waits ParkAfter for the
// next frame through h2Parker, then returns h2.ErrParked (the read and
// frame buffers given back, the HPACK tables and settings kept) and the
// goroutine ends through end and park. The watcher's wake resumes the
// serve loop (h2.Conn.Resume) when a frame comes (a request, a PING, a
// SETTINGS), or when the connection's end is decided by graceful stop,
// the idle timeout (http_keep_alive, core/h2's timer) or Close: core/h2
// calls Wake for these before closing the transport. No watcher deadline
// is set: core/h2 keeps its own idle timer.

// h2Parker is the h2.Parker of a client connection.
type h2Parker struct{ cc *Conn }

// ReadIdle reads with timeout as the read timeout, or without one once
// the watcher refused the connection (noPark).
func (hp h2Parker) ReadIdle(p []byte, timeout time.Duration) (int, error) {
	c := hp.cc.c
	if !hp.cc.noPark {
		c.ReadTimeout = timeout
	}
	n, err := c.Read(p)
	c.ReadTimeout = 0
	return n, err
}

func (hp h2Parker) Quiet() bool { return hp.cc.c.Quiet() }

// Wake resumes the connection if it is parked.
func (hp h2Parker) Wake() { idleWatcher().Wake(&hp.cc.slot, nil) }

// h2Served acts on the end of core/h2's serve loop: a parked connection's
// goroutine hands it to the watcher as it ends (end, park).
func (cc *Conn) h2Served(err error) {
	if err == h2.ErrParked {
		cc.parkUntil = time.Time{}
		cc.parking = true
	}
}
