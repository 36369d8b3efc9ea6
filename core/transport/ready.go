package transport

import (
	"io"
	"syscall"
)

// FillReady reads into b what the connection has already received, without
// waiting, and without moving b's unread bytes, so that slices into them
// (a parsed request head) stay valid. It reads nothing (0, nil) when
// nothing has arrived, when b has no room after its unread bytes or holds
// no storage, when a stale deadline has expired, and in TLS mode, where
// crypto/tls would wait for the rest of a partial record. It is a look
// ahead before a decision (validating what a client sent of a request
// body before its head is forwarded), not a way to read a stream: the
// caller may ignore its error, as the next Fill fails too.
func (c *Conn) FillReady(b *Buffer) (int, error) {
	if c.tls != nil || b.B == nil || b.W == len(b.B) {
		return 0, nil
	}
	if c.readyFn == nil {
		c.readyFn = c.doReadReady
	}
	c.prepareRead()
	c.rbuf = b
	err := c.rc.Read(c.readyFn)
	c.rbuf = nil
	if err != nil {
		if IsTimeout(err) {
			return 0, nil
		}
		return 0, err
	}
	return c.rn, c.rerr
}

// doReadReady reads once; it never asks the poller to wait.
func (c *Conn) doReadReady(fd uintptr) bool {
	b := c.rbuf
	for {
		n, err := syscall.Read(int(fd), b.B[b.W:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.rn, c.rerr = 0, nil
		case err != nil:
			c.rn, c.rerr = 0, err
		case n == 0:
			c.rn, c.rerr = 0, io.EOF
		default:
			b.W += n
			c.rn, c.rerr = n, nil
		}
		return true
	}
}
