package transport

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// TLS mode
//
// A TLS connection cannot be read through the raw descriptor directly:
// crypto/tls owns the record layer. StartTLS puts a tls.Conn on top of the
// descriptor, and Fill, Write, WaitReadable, Read, CloseWrite and Close go
// through it, so that the engine drives a TLS connection exactly as a plain
// one. What stays true in TLS mode:
//
//   - An idle connection holds no pooled buffer. crypto/tls keeps what it
//     has read and not yet returned inside the tls.Conn, where Fill cannot
//     see it; so the layer below crypto/tls (tlsUnder) hands it one record
//     at a time, out of a pooled buffer of ciphertext (raw) that Fill
//     fills from the socket. After a record, crypto/tls has no ciphertext
//     left over, and decrypted bytes only when Fill's buffer was too small
//     for the record (more). When neither raw nor more has anything, Fill
//     waits for the socket through the same raw read as plain mode, which
//     releases raw's storage while parked, and takes the caller's buffer
//     only once ciphertext has arrived.
//   - Timeouts are armed only when a read or write blocks: crypto/tls
//     reads and writes through tlsUnder, which uses the raw descriptor with
//     ReadTimeout, ReadDeadline and WriteTimeout as plain mode does. A
//     timeout does not break the TLS stream (crypto/tls takes it as
//     temporary), so a tunnel may keep reading after one.
//   - Reading and writing may happen at once from two goroutines (a
//     tunnel), and Close from a third.
//
// Costs. One read syscall per burst as in plain mode, plus one copy of the
// ciphertext into crypto/tls and the decryption. Each write is sent as
// records of up to 16 KiB, one write syscall per record (the configuration
// should set DynamicRecordSizingDisabled, or crypto/tls starts with
// 1 KiB records). An idle TLS connection keeps, besides the tls.Conn and
// its ciphers, crypto/tls's record buffer sized to the largest record
// received so far.

// tlsLayer is the TLS state of a Conn.
type tlsLayer struct {
	// Immutable after StartTLS:
	conn  *tls.Conn
	under tlsUnder

	// Owned by the reading goroutine:
	raw  Buffer  // ciphertext read from the socket, not yet given to crypto/tls
	hdr  [5]byte // the record header being handed over
	hdrN int     // bytes of hdr handed over; 0 at a record boundary
	left int     // bytes of the current record's body still to hand over
	more bool    // the last read filled its buffer: crypto/tls may hold more plaintext
	err  error   // an error crypto/tls returned along with data, for the next read

	// closing is set by Close: writes fail rather than wait.
	closing atomic.Bool
}

// StartTLS switches c to TLS mode: as the server side of the handshake
// when server is true (a client connection accepted by strata), else as
// the client side (a connection to a server). pending, when not nil, holds
// bytes already read from the connection that belong to the TLS stream
// (after a PROXY protocol header): StartTLS takes them and their storage
// and leaves pending empty. Call it before the connection is shared with
// another goroutine. The handshake happens in Handshake, or at the first
// Fill or Write.
//
// cfg should set DynamicRecordSizingDisabled (see the costs above).
func (c *Conn) StartTLS(cfg *tls.Config, server bool, pending *Buffer) {
	t := &tlsLayer{}
	t.under.c = c
	if pending != nil {
		if pending.Len() > 0 {
			t.raw = *pending
			*pending = Buffer{}
		} else {
			pending.Release()
		}
	}
	if server {
		t.conn = tls.Server(&t.under, cfg)
	} else {
		t.conn = tls.Client(&t.under, cfg)
	}
	c.tls = t
}

// Handshake runs the TLS handshake, reading under ReadDeadline (or
// ReadTimeout) and writing under WriteTimeout. It does nothing in plain
// mode or when the handshake is done.
func (c *Conn) Handshake() error {
	if c.tls == nil {
		return nil
	}
	return c.tls.conn.Handshake()
}

// TLS returns the TLS connection of c (for its ConnectionState), or nil in
// plain mode.
func (c *Conn) TLS() *tls.Conn {
	if c.tls == nil {
		return nil
	}
	return c.tls.conn
}

// fillTLS is Fill in TLS mode.
func (c *Conn) fillTLS(b *Buffer) (int, error) {
	t := c.tls
	if err := t.err; err != nil {
		t.err = nil
		b.Release()
		return 0, err
	}
	if b.B != nil && b.R == 0 && b.W == len(b.B) {
		return 0, errBufferFull
	}
	if t.raw.Len() == 0 && !t.more {
		// Nothing is buffered anywhere: wait for ciphertext without
		// holding the caller's buffer (given back when empty, as a
		// plain read that would block does).
		b.Release()
		if testHookTLSWait != nil {
			testHookTLSWait(b)
		}
		if _, err := c.fillRaw(&t.raw); err != nil {
			b.Release()
			return 0, err
		}
	}
	b.acquire()
	if b.W == len(b.B) {
		b.Compact()
	}
	p := b.B[b.W:]
	n, err := t.conn.Read(p)
	t.more = n == len(p)
	if n > 0 {
		b.W += n
		t.err = err
		return n, nil
	}
	b.Release()
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// testHookTLSWait, when set by a test, is called with the caller's buffer
// when Fill starts waiting for ciphertext.
var testHookTLSWait func(b *Buffer)

// readTLS is Read in TLS mode.
func (c *Conn) readTLS(p []byte) (int, error) {
	t := c.tls
	if err := t.err; err != nil {
		t.err = nil
		return 0, err
	}
	n, err := t.conn.Read(p)
	t.more = n == len(p) && n > 0
	return n, err
}

// waitTLS is WaitReadable in TLS mode.
func (c *Conn) waitTLS() error {
	t := c.tls
	if t.raw.Len() > 0 || t.more || t.err != nil {
		return nil
	}
	_, err := c.fillRaw(&t.raw)
	if err == io.EOF {
		return nil // readable: the next Fill reports the end
	}
	return err
}

// closeWriteTLS sends close_notify (when the handshake is done), then
// shuts down the socket's writing side.
func (c *Conn) closeWriteTLS() error {
	c.tls.conn.CloseWrite()
	return c.TCP.CloseWrite()
}

// closeTLS is Close in TLS mode: crypto/tls sends close_notify when the
// handshake is done and no write is in progress, then closes the socket.
// closing makes the alert's write give up rather than wait.
func (c *Conn) closeTLS() error {
	c.tls.closing.Store(true)
	return c.tls.conn.Close()
}

// copyTo moves what one Fill of c brings to dst (SpliceTo in TLS mode).
func (c *Conn) copyTo(dst *Conn) (int64, error) {
	var b Buffer
	n, err := c.Fill(&b)
	if err != nil {
		if err == io.EOF {
			return 0, nil
		}
		return 0, err
	}
	_, err = dst.Write(b.Data())
	b.Consume(n)
	b.Release()
	return int64(n), err
}

// frame returns how many bytes of data may go to crypto/tls in one read
// of at most max bytes without crossing the end of the current record, and
// advances the record position past them. A record header is remembered as
// it goes by. Handing a record's header and body over in one read when
// both are there saves crypto/tls a second read (and an allocation).
func (t *tlsLayer) frame(data []byte, max int) int {
	n := 0
	if t.left == 0 {
		// At (or inside) a record header.
		n = min(len(data), max, len(t.hdr)-t.hdrN)
		copy(t.hdr[t.hdrN:], data[:n])
		t.hdrN += n
		if t.hdrN < len(t.hdr) {
			return n
		}
		t.hdrN = 0
		t.left = int(t.hdr[3])<<8 | int(t.hdr[4])
	}
	k := min(len(data)-n, max-n, t.left)
	t.left -= k
	return n + k
}

// tlsUnder is the net.Conn crypto/tls reads and writes: the raw
// descriptor, one record at a time on the reading side.
type tlsUnder struct{ c *Conn }

func (u *tlsUnder) Read(p []byte) (int, error) {
	c := u.c
	t := c.tls
	if t.raw.Len() == 0 {
		if _, err := c.fillRaw(&t.raw); err != nil {
			return 0, err
		}
	}
	data := t.raw.Data()
	n := t.frame(data, len(p))
	copy(p, data[:n])
	t.raw.Consume(n)
	t.raw.Release()
	return n, nil
}

func (u *tlsUnder) Write(p []byte) (int, error) { return u.c.writeRaw(p) }
func (u *tlsUnder) Close() error                { return u.c.TCP.Close() }
func (u *tlsUnder) LocalAddr() net.Addr         { return u.c.TCP.LocalAddr() }
func (u *tlsUnder) RemoteAddr() net.Addr        { return u.c.TCP.RemoteAddr() }

// SetDeadline and SetReadDeadline are not used by crypto/tls unless asked
// through the tls.Conn, which strata never does: reads arm their own
// deadlines.
func (u *tlsUnder) SetDeadline(t time.Time) error {
	u.SetReadDeadline(t)
	return u.SetWriteDeadline(t)
}

func (u *tlsUnder) SetReadDeadline(t time.Time) error {
	u.c.appliedRD = t
	return u.c.TCP.SetReadDeadline(t)
}

// SetWriteDeadline is called by crypto/tls around a close_notify. The next
// raw write clears it, as it clears any deadline it did not arm itself.
func (u *tlsUnder) SetWriteDeadline(t time.Time) error {
	u.c.appliedWD = t
	return u.c.TCP.SetWriteDeadline(t)
}
