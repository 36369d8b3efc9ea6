package proxy

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/strata-proxy/strata/core/transport"
	"github.com/strata-proxy/strata/core/transport/park"
)

// Idle HTTP/1.1 keep-alive connections
//
// A connection waiting for its next request keeps its goroutine only for
// parkAfter; then the goroutine ends and the connection waits on the
// process's park.Watcher by its descriptor, holding no stack and (as
// always when idle) no read buffer. When the client sends, closes, the
// keep-alive timeout expires or graceful stop wakes it, the watcher starts
// a new goroutine (wake, then resume) that carries on where the old one
// left off.
//
// Goroutine ownership: the connection goroutine decides to park in
// waitRequest and unwinds to end, whose last act is Park; from then on the
// watcher holds the connection, and the goroutine running wake owns it
// next. Nothing else touches the connection meanwhile except Shutdown,
// which wakes it (closeFromStop) before closing it.
//
// Why wait parkAfter first? Parking costs two epoll_ctl calls, a wake
// through the watcher and a new goroutine whose stack grows again for the
// next request: about 10 µs more (wall time, busy machine) than a blocked
// read's wake-up (BenchmarkWatcher_ParkWake). A busy client's next request comes sooner
// than parkAfter and never pays it (wrk, 50 connections, on a busy
// 2-core machine: 220 parks in 90,000 requests); a connection idle for
// longer pays it once per idle period. The wait is short because the
// goroutines that still wait hold their stacks: with 2000 connections
// opened in a burst, 100 ms left 4.2 KiB of RSS per idle connection,
// 25 ms 2.7 KiB and 10 ms 2.6 KiB (cmd/stratabench, row plain).

// parkAfter is how long an idle keep-alive connection keeps its goroutine.
const parkAfter = 25 * time.Millisecond

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
func (cc *clientConn) waitRequest(keepAlive time.Duration) error {
	cc.c.ReadDeadline = time.Time{}
	parkable := !cc.noPark && (keepAlive == 0 || keepAlive > parkAfter) && idleWatcher() != nil
	if !parkable {
		cc.c.ReadTimeout = keepAlive
		_, err := cc.c.Fill(&cc.buf)
		return err
	}
	cc.c.ReadTimeout = parkAfter
	_, err := cc.c.Fill(&cc.buf)
	if err == nil || !transport.IsTimeout(err) {
		return err
	}
	if keepAlive > 0 {
		cc.parkUntil = time.Now().Add(keepAlive - parkAfter)
	} else {
		cc.parkUntil = time.Time{}
	}
	if !cc.c.Quiet() {
		// TLS bytes wait above the socket: keep waiting here.
		cc.c.ReadTimeout = max(keepAlive-parkAfter, 0)
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
func (cc *clientConn) park() {
	cc.parking = false
	p := cc.p
	if testHookPark != nil {
		testHookPark(cc.c)
	}
	p.parked.Add(1) // before Park: wake may run at once
	if err := idleWatcher().Park(&cc.slot, cc.c.RawConn(), cc.parkUntil, cc.wake); err != nil {
		p.parked.Add(-1)
		cc.noPark = true
		go cc.resume(nil)
		return
	}
	p.parks.Add(1)
}

// testHookPark, when set by a test, is called by park before the
// connection is handed to the watcher.
var testHookPark func(client io.Closer)

// wake is the goroutine the watcher starts for a parked connection: err
// is nil when the client sent something or closed, a timeout when
// http_keep_alive expired, net.ErrClosed when graceful stop closes it.
func (cc *clientConn) wake(err error) {
	cc.p.parked.Add(-1)
	cc.resume(err)
}

// resume carries on the serve loop of a connection that waited without a
// goroutine, or ends it when err says so.
func (cc *clientConn) resume(err error) {
	defer cc.end()
	if err != nil {
		// As when Fill fails between requests: no stream, nothing to log.
		return
	}
	cc.serveHTTP()
}

// closeFromStop closes the connection from another goroutine (graceful
// stop). A parked connection is woken first: closing its descriptor would
// take it out of the epoll set, and it would never be resumed.
func (cc *clientConn) closeFromStop() {
	if w := idleWatcher(); w != nil {
		w.Wake(&cc.slot, net.ErrClosed)
	}
	cc.c.Close()
}

// goAway asks an HTTP/2 client to open its next streams on a new
// connection (GOAWAY) and lets the open ones finish: graceful stop, and a
// reload, which an HTTP/2 connection does not follow. Nothing on
// HTTP/1.1. Safe from any goroutine.
func (cc *clientConn) goAway() {
	if h := cc.h2.Load(); h != nil {
		h.Shutdown()
	}
}

// kill ends what the connection still waits for when the grace period
// is over: the client socket, the server connection of its stream in
// progress, and the streams waiting on its HTTP/2 servers. Safe from any
// goroutine.
func (cc *clientConn) kill() {
	cc.closeFromStop()
	if sc := cc.sconn.Load(); sc != nil {
		sc.Close()
	}
	if cc.l4 != nil {
		for _, ls := range cc.l4.servers {
			if ls.h2 != nil {
				ls.h2.Close() // streams waiting on HTTP/2 servers end now
			}
		}
	}
}
