package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Conn is a TCP connection driven through its raw descriptor, in plain mode
// or, after StartTLS, in TLS mode (see tls.go): the same methods serve both.
type Conn struct {
	TCP *net.TCPConn
	rc  syscall.RawConn

	// ReadTimeout is the inactivity timeout armed when a read blocks and no
	// ReadDeadline is set. Zero means wait forever.
	ReadTimeout time.Duration
	// ReadDeadline, when not zero, bounds a blocking read absolutely (a
	// phase deadline such as http_request). It takes precedence.
	ReadDeadline time.Time
	// WriteTimeout is the inactivity timeout armed when a write blocks.
	WriteTimeout time.Duration

	appliedRD, appliedWD time.Time // deadlines currently set on the socket

	// Scratch of the raw I/O callbacks, bound once so that a call allocates
	// no closure. The read side and the write side have their own: a tunnel
	// reads a connection in one goroutine while another writes to it.
	rbuf   *Buffer
	rn     int
	rerr   error
	wp     []byte
	wn     int
	werr   error
	readFn func(fd uintptr) bool
	wrFn   func(fd uintptr) bool
	waitFn func(fd uintptr) bool
	waited bool
	// readyFn is doReadReady, bound at the first FillReady (ready.go).
	readyFn func(fd uintptr) bool
	// The probe's scratch (Idle): bound once, like the callbacks above.
	probeFn  func(fd uintptr)
	probeBuf [1]byte
	probeOK  bool

	// tls is the TLS layer, nil in plain mode. Set by StartTLS before
	// the connection is shared, then immutable.
	tls *tlsLayer
}

// ErrClosed is returned for I/O on a closed connection.
var ErrClosed = net.ErrClosed

// NewConn wraps c.
func NewConn(c *net.TCPConn) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	cn := &Conn{TCP: c, rc: rc}
	cn.readFn = cn.doRead
	cn.wrFn = cn.doWrite
	cn.waitFn = cn.doWait
	cn.probeFn = cn.doProbe
	return cn, nil
}

// IsTimeout reports whether err is a deadline expiry.
func IsTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// prepare clears a stale deadline that expired while the connection was not
// reading, which would otherwise fail the next operation at once.
func (c *Conn) prepareRead() {
	if !c.appliedRD.IsZero() && !c.ReadDeadline.Equal(c.appliedRD) {
		c.TCP.SetReadDeadline(time.Time{})
		c.appliedRD = time.Time{}
	}
}

// armRead sets the read deadline for a read about to block.
func (c *Conn) armRead() {
	d := c.ReadDeadline
	if d.IsZero() && c.ReadTimeout > 0 {
		d = time.Now().Add(c.ReadTimeout)
	}
	if !d.Equal(c.appliedRD) {
		c.TCP.SetReadDeadline(d)
		c.appliedRD = d
	}
}

func (c *Conn) doRead(fd uintptr) bool {
	b := c.rbuf
	b.acquire()
	if b.W == len(b.B) {
		b.Compact()
	}
	for {
		n, err := syscall.Read(int(fd), b.B[b.W:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			b.Release()
			c.armRead()
			return false
		}
		if err != nil {
			c.rn, c.rerr = 0, err
			return true
		}
		if n == 0 {
			c.rn, c.rerr = 0, io.EOF
			return true
		}
		b.W += n
		c.rn, c.rerr = n, nil
		return true
	}
}

// Fill reads at least one byte into b, blocking (under the read timeout or
// deadline) when nothing is available. b holds pool storage only while it
// has unread bytes or a read has just returned some. A full buffer is
// compacted first; when b has no room even then, Fill returns an error.
// In TLS mode the bytes are the decrypted stream.
func (c *Conn) Fill(b *Buffer) (int, error) {
	if c.tls != nil {
		return c.fillTLS(b)
	}
	return c.fillRaw(b)
}

// fillRaw is Fill on the socket's bytes.
func (c *Conn) fillRaw(b *Buffer) (int, error) {
	if b.B != nil && b.R == 0 && b.W == len(b.B) {
		return 0, errBufferFull
	}
	c.prepareRead()
	c.rbuf = b
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err != nil {
		b.Release()
		return 0, err
	}
	if c.rerr != nil {
		b.Release()
		return 0, c.rerr
	}
	return c.rn, nil
}

var errBufferFull = errors.New("transport: buffer full")

func (c *Conn) doWait(fd uintptr) bool {
	if !c.waited {
		c.waited = true
		c.armRead()
		return false
	}
	return true
}

// WaitReadable blocks until the connection is readable (or closed), under
// the read timeout or deadline, holding no buffer. Only use it when the
// previous read returned EAGAIN (Fill does so), or readiness may be missed.
// In TLS mode it returns at once when decrypted or undecrypted bytes are
// already buffered; otherwise the bytes that arrive are kept for the next
// Fill.
func (c *Conn) WaitReadable() error {
	if c.tls != nil {
		return c.waitTLS()
	}
	c.prepareRead()
	c.waited = false
	return c.rc.Read(c.waitFn)
}

func (c *Conn) doWrite(fd uintptr) bool {
	for len(c.wp) > 0 {
		n, err := syscall.Write(int(fd), c.wp)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			if c.tls != nil && c.tls.closing.Load() {
				// A close_notify sent by Close never waits.
				c.werr = err
				return true
			}
			if c.WriteTimeout > 0 {
				d := time.Now().Add(c.WriteTimeout)
				c.TCP.SetWriteDeadline(d)
				c.appliedWD = d
			}
			return false
		}
		if err != nil {
			c.werr = err
			return true
		}
		c.wn += n
		c.wp = c.wp[n:]
	}
	return true
}

// Write writes all of p, arming the write timeout only if the kernel's
// buffer is full. In TLS mode p is encrypted first.
func (c *Conn) Write(p []byte) (int, error) {
	if c.tls != nil {
		return c.tls.conn.Write(p)
	}
	return c.writeRaw(p)
}

// writeRaw is Write on the socket.
func (c *Conn) writeRaw(p []byte) (int, error) {
	if !c.appliedWD.IsZero() {
		c.TCP.SetWriteDeadline(time.Time{})
		c.appliedWD = time.Time{}
	}
	c.wp, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.wrFn)
	n := c.wn
	c.wp = nil
	if err == nil {
		err = c.werr
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// Read implements io.Reader for code that does not need pooled buffers
// (tunnels fall back to it); it reads straight into p.
func (c *Conn) Read(p []byte) (int, error) {
	if c.tls != nil {
		return c.readTLS(p)
	}
	c.prepareRead()
	if c.ReadDeadline.IsZero() && c.ReadTimeout > 0 {
		d := time.Now().Add(c.ReadTimeout)
		c.TCP.SetReadDeadline(d)
		c.appliedRD = d
	}
	return c.TCP.Read(p)
}

// CloseWrite shuts down the writing side (half-close). In TLS mode a
// close_notify alert goes first.
func (c *Conn) CloseWrite() error {
	if c.tls != nil {
		return c.closeWriteTLS()
	}
	return c.TCP.CloseWrite()
}

// Close closes the connection. It may be called from any goroutine, also
// while another one reads or writes. In TLS mode it sends a close_notify
// alert when the handshake is done and the socket takes it at once; it
// never waits for the peer.
func (c *Conn) Close() error {
	if c.tls != nil {
		return c.closeTLS()
	}
	return c.TCP.Close()
}

// Idle reports whether a connection nobody is reading is still quietly
// open: nothing to read, no end of stream, no error, as a pooled
// connection must be before a request is written to it. A server that
// closed its side (a FIN: CLOSE-WAIT here), reset the connection or sent
// bytes nobody asked for (a late or unsolicited response, a TLS alert)
// makes it false. It never blocks and reads nothing: the probe peeks at
// the socket (MSG_PEEK|MSG_DONTWAIT). In TLS mode undelivered bytes
// already buffered make it false too.
func (c *Conn) Idle() bool {
	if c.tls != nil && (c.tls.raw.Len() > 0 || c.tls.hdrN > 0 || c.tls.left > 0) {
		return false
	}
	c.probeOK = false
	if err := c.rc.Control(c.probeFn); err != nil {
		return false
	}
	return c.probeOK
}

func (c *Conn) doProbe(fd uintptr) { c.probeOK = peekQuiet(fd, &c.probeBuf) }

// peekQuiet peeks at the socket fd without blocking and reports whether it
// is open with nothing to read.
func peekQuiet(fd uintptr, buf *[1]byte) bool {
	for {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		// EAGAIN alone means open and quiet; n == 0 without error is
		// the end of the stream, n > 0 bytes nobody asked for.
		return err == syscall.EAGAIN && n <= 0
	}
}

// Prober peeks at the sockets of connections its caller does not own, as
// the sweep of an idle pool does while a stream may take one of them: it
// touches nothing of the Conn but its socket, so it races with no read,
// write or Idle of the owner. A Prober is for one goroutine at a time.
type Prober struct {
	buf [1]byte
	ok  bool
	fn  func(fd uintptr) // bound once: a probe allocates nothing
}

// NewProber returns a Prober.
func NewProber() *Prober {
	p := &Prober{}
	p.fn = func(fd uintptr) { p.ok = peekQuiet(fd, &p.buf) }
	return p
}

// SocketIdle reports whether the socket of c is open with nothing to
// read, as Idle does, but without looking at what c has buffered (TLS
// records): that belongs to c's owner, whose own Idle checks it. A closed
// c is not idle.
func (p *Prober) SocketIdle(c *Conn) bool {
	p.ok = false
	if err := c.rc.Control(p.fn); err != nil {
		return false
	}
	return p.ok
}

// ResetByPeer reports whether the server closed the connection without
// reading what was last written to it: a request that met a connection
// the server had just closed, before it could act on it. That is so when
// err (from Fill or Write) is ECONNRESET or EPIPE, or when it is the end
// of the stream and a reset followed the server's FIN (SO_ERROR holds
// the reset's error): the server's socket was closed with bytes of ours
// unread.
//
// Both are the usual sight when a server closes an idle connection as a
// request goes out on it: its FIN is on the way when the request leaves.
// Linux records the reset met after the FIN (in CLOSE-WAIT) as EPIPE,
// not ECONNRESET (tcp_reset). As the FIN is read before the reset
// arrives, a read may see the end of the stream with no reset yet, bytes
// of ours still unacknowledged (SIOCOUTQ): ResetByPeer then waits, a
// little, for the server's answer to them — a reset (the server never
// read them: true) or their acknowledgement (a server that only
// half-closed may read them and act on them: false). No answer in time
// is false: a request is sent again only on proof that it was not read.
// Reading SO_ERROR clears it: ResetByPeer is asked once per error.
func (c *Conn) ResetByPeer(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if err != io.EOF {
		return false
	}
	wait := 50 * time.Microsecond
	for spent := time.Duration(0); ; spent += wait {
		var soErr, unacked int
		cerr := c.rc.Control(func(fd uintptr) {
			soErr, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
			unacked = outQueue(fd)
		})
		if cerr != nil {
			return false
		}
		switch syscall.Errno(soErr) {
		case syscall.ECONNRESET, syscall.EPIPE:
			return true
		}
		if unacked == 0 || spent >= resetWait {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Millisecond)
	}
}

// resetWait bounds how long ResetByPeer waits for the server's answer to
// bytes it had not acknowledged when its FIN was read: a few round trips
// on a LAN. A server farther away than that gets no replay of a request
// that is not idempotent, as before the wait.
const resetWait = 50 * time.Millisecond

// outQueue returns how many bytes written to the socket fd its peer has
// not acknowledged (SIOCOUTQ), 0 when the kernel does not say. The end
// of the stream has been read when it is asked: the peer's FIN, like
// every segment, acknowledges all it had received, so bytes still
// unacknowledged then had not reached the peer when it closed.
func outQueue(fd uintptr) int {
	var n int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return 0
	}
	return int(n)
}

// SpliceTo moves up to max bytes from c to dst through the kernel's splice
// path (net.TCPConn.ReadFrom), for bulk transfers in tunnels. The pipe it
// uses is taken from Go's pool for the duration of the call only, so an idle
// tunnel holds none. The read deadline covers the whole call; a timeout
// after some bytes moved is reported with n > 0 and is not an inactivity.
// When either side is in TLS mode the kernel cannot move the bytes: one
// buffered read and write move what is available (0 bytes and no error
// mean the end of the stream, as for splice).
func (c *Conn) SpliceTo(dst *Conn, max int64) (int64, error) {
	if c.tls != nil || dst.tls != nil {
		return c.copyTo(dst)
	}
	if c.ReadTimeout > 0 {
		d := time.Now().Add(c.ReadTimeout)
		c.TCP.SetReadDeadline(d)
		c.appliedRD = d
	}
	if dst.WriteTimeout > 0 {
		d := time.Now().Add(dst.WriteTimeout)
		dst.TCP.SetWriteDeadline(d)
		dst.appliedWD = d
	}
	return dst.TCP.ReadFrom(&io.LimitedReader{R: c.TCP, N: max})
}
