package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/strata-proxy/strata/core/h2"
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
		testHookPark(cc)
	}
	p.parked.Add(1) // before Park: wake may run at once
	if err := idleWatcher().Park(&cc.slot, cc.c.RawConn(), cc.parkUntil, cc.wake); err != nil {
		p.parked.Add(-1)
		cc.noPark = true
		go cc.resume(nil)
		return
	}
	p.parks.Add(1)
	if h := cc.h2.Load(); h != nil && h.Closing() {
		// Its end was decided after it parked itself, and the wake may
		// have come before the connection was on the watcher.
		idleWatcher().Wake(&cc.slot, nil)
	}
}

// testHookPark, when set by a test, is called by park before the
// connection is handed to the watcher.
var testHookPark func(cc *clientConn)

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

// closeFromStop closes the connection from another goroutine (graceful
// stop). A parked connection is woken first: closing its descriptor would
// take it out of the epoll set, and it would never be resumed.
func (cc *clientConn) closeFromStop() {
	if w := idleWatcher(); w != nil {
		w.Wake(&cc.slot, net.ErrClosed)
	}
	cc.c.Close()
}

// Idle HTTP/2 connections
//
// An HTTP/2 connection with no stream, nothing to write and nothing read
// ahead parks the same way: core/h2's serve loop waits parkAfter for the
// next frame through h2Parker, then returns h2.ErrParked (the read and
// frame buffers given back, the HPACK tables and settings kept) and the
// goroutine ends through end and park. The watcher's wake resumes the
// serve loop (h2.Conn.Resume) when a frame comes (a request, a PING, a
// SETTINGS), or when the connection's end is decided by graceful stop,
// the idle timeout (http_keep_alive, core/h2's timer) or Close: core/h2
// calls Wake for these before closing the transport. No watcher deadline
// is set: core/h2 keeps its own idle timer.

// h2Parker is the h2.Parker of a client connection.
type h2Parker struct{ cc *clientConn }

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
func (cc *clientConn) h2Served(err error) {
	if err == h2.ErrParked {
		cc.parkUntil = time.Time{}
		cc.parking = true
	}
}
