package stream

import (
	"errors"
	"io"
	"net"
	"time"

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
}

// testHookPark, when set by a test, is called by park before the
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
	if cc.l4 != nil {
		for _, ls := range cc.l4.Servers {
			if ls.H2 != nil {
				ls.H2.Close() // streams waiting on HTTP/2 servers end now
			}
		}
	}
}
