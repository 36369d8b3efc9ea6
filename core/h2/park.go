package h2

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Parking an idle connection (server side)
//
// A connection with no stream, nothing to write and nothing read ahead
// costs its serve loop's goroutine (a stack grown by the last request)
// and its read buffer while it waits for the client's next frame, which
// may come minutes later or never. With a Parker (SetParker), the serve
// loop waits for that frame only a short while (Parker.ReadIdle); if
// nothing came and the connection is still idle, it gives the read buffer
// and the frame buffers back and Serve (or Resume) returns ErrParked: the
// goroutine ends, and the caller waits for the transport to be readable
// without one (core/transport/park), then calls Resume in a new goroutine.
// The HPACK tables, the settings of both sides, the windows and the rate
// counters stay in the Conn: they are the connection's state, small, and
// a frame after the park is decoded as if the goroutine had waited.
//
// While parked, other goroutines may still act on the Conn: Shutdown and
// Close, the idle timer. Whatever decides the connection's end (GOAWAY,
// Close, a write error) calls Parker.Wake first, so that the serve loop
// runs again to drain and close it; a parked transport must not be closed
// before (its descriptor would leave the watcher unreported). The caller
// must check Closing after it parked the transport, since the end may have
// been decided between ErrParked and the park (Wake then found nothing
// parked).

// ErrParked is returned by Serve and Resume when the connection parked:
// the serve loop's goroutine is done, and the caller calls Resume once the
// transport is readable or Parker.Wake was called.
var ErrParked = errors.New("h2: connection parked")

// Parker lets an idle server connection wait without a goroutine.
type Parker interface {
	// ReadIdle reads into p as Transport.Read does, but waits at most
	// timeout when nothing arrives, and then returns an error matching
	// os.ErrDeadlineExceeded. The serve loop calls it.
	ReadIdle(p []byte, timeout time.Duration) (int, error)
	// Quiet reports whether nothing read from the transport is held above
	// its socket (decrypted or undecrypted TLS bytes), so that the socket
	// becoming readable announces the next frame. The serve loop calls it.
	Quiet() bool
	// Wake is called, from any goroutine, when the connection's end is
	// decided: if it is parked, Resume must run (it drains and closes).
	// It must not block, and it is called before the transport is closed.
	Wake()
}

// SetParker lets the connection park once idle for after (see
// ErrParked). Call it before Serve.
func (c *Conn) SetParker(p Parker, after time.Duration) {
	c.parker = p
	c.parkAfter, c.recheck = after, after
	c.wakeParked = p.Wake
}

// Closing reports whether the connection's end is decided: a parked
// connection for which it is true must be resumed.
func (c *Conn) Closing() bool { return c.isClosing() }

// Resume carries on the serve loop of a parked connection, in the
// caller's goroutine, and returns as Serve does (ErrParked again when it
// parks again).
func (c *Conn) Resume() error {
	return c.run(c.readFrames)
}

// waitIdle is called by the serve loop before it reads a frame: it reads
// the next bytes through the parker, a while at a time, and returns true
// when the connection parks now (its buffers given back): idle, and
// nothing came for parkAfter. Else the bytes read, if any, wait in c.r for
// the next frame. While streams are open the waits grow from parkAfter to
// maxIdleRecheck: nobody tells the serve loop, blocked in a read, that
// the last stream ended, so it looks again when a wait ends, soon after
// short streams and seldom during long ones.
func (c *Conn) waitIdle() bool {
	if c.parker == nil || !c.settingsSeen || len(c.r.buf) > 0 || c.blockPending() {
		return false
	}
	for {
		idle := c.mayPark(false)
		wait := c.parkAfter
		if !idle {
			wait = c.recheck
		}
		n, err := c.r.fill(func(p []byte) (int, error) { return c.parker.ReadIdle(p, wait) })
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			// Bytes, or an error the next read reports again (the end of
			// the stream, a closed transport).
			c.recheck = c.parkAfter
			return false
		}
		if c.isClosing() {
			return false
		}
		if idle && c.parker.Quiet() && c.mayPark(true) {
			break
		}
		if !idle {
			c.recheck = min(2*c.recheck, maxIdleRecheck)
		}
	}
	c.recheck = c.parkAfter
	c.r.release()
	c.mu.Lock()
	// Spares would keep their goroutines until spareLinger: the parked
	// connection has no stream for them.
	c.spareGen++
	c.spareCond.Broadcast()
	c.mu.Unlock()
	return true
}

// maxIdleRecheck bounds the waits of waitIdle while streams are open: a
// connection parks at most this long after its last stream ended.
const maxIdleRecheck = time.Second

// mayPark reports whether the connection is idle: no stream open or
// waiting, no handler running, nothing to write, its end not decided. When
// it is and drop is true, the frame buffers sized by past frames are
// dropped (under wmu: a writer may come meanwhile).
func (c *Conn) mayPark(drop bool) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf != nil || c.flushing || c.writers.Load() > 0 || c.werr != nil {
		return false
	}
	c.mu.Lock()
	idle := !c.closing && !c.shutdown && !c.dead && c.live == 0 && c.handlers == 0 && len(c.streams) == 0 && len(c.pending) == 0
	c.mu.Unlock()
	if idle && drop {
		c.dropFrameBuffers()
	}
	return idle
}

// dropFrameBuffers replaces the Framer, whose read and write buffers keep
// the size of the largest frame read or written (16 KiB after a body),
// and the HPACK output buffer. Needs wmu and the serve loop.
func (c *Conn) dropFrameBuffers() {
	c.fr = c.newFramer()
	c.hbuf = bytes.Buffer{}
	c.hb.fields = nil
}

// newFramer is the Conn's Framer: writes to the link's write buffer,
// reads from c.r.
func (c *Conn) newFramer() *http2.Framer {
	fr := http2.NewFramer(linkWriter[*Stream]{&c.link}, &c.r)
	fr.SetReuseFrames()
	fr.SetMaxReadFrameSize(c.cfg.MaxFrameSize)
	return fr
}

// readBufPool holds the read buffers of server connections: a connection
// holds one while it reads, and gives it back when it parks or ends.
var readBufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// fill reads into the buffer with read; r.buf must be empty. A read that
// returns nothing gives the buffer back.
func (r *prereadReader) fill(read func([]byte) (int, error)) (int, error) {
	if r.store == nil {
		r.store = readBufPool.Get().(*[readBufSize]byte)
	}
	n, err := read(r.store[:])
	if n == 0 {
		r.release()
		return 0, err
	}
	r.buf = r.store[:n]
	return n, nil // an error with data comes back on the next read
}

// release gives the read buffer back; r.buf must be empty.
func (r *prereadReader) release() {
	if r.store != nil {
		readBufPool.Put(r.store)
		r.store = nil
	}
	r.buf = nil
}
