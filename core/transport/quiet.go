package transport

import "syscall"

// Quiet reports whether nothing read from the connection is held above
// the socket: the next Fill waits for the socket to be readable. It is
// always true in plain mode; in TLS mode it is false while ciphertext
// read ahead, decrypted bytes or an error wait for the next Fill. Only a
// quiet connection may wait for its socket outside Fill (core/transport/park),
// since otherwise the bytes already there would never be reported. It is
// for the reading goroutine.
func (c *Conn) Quiet() bool {
	t := c.tls
	return t == nil || (t.raw.Len() == 0 && !t.more && t.err == nil)
}

// RawConn returns the socket's descriptor access, for a watcher that waits
// for it to be readable (core/transport/park).
func (c *Conn) RawConn() syscall.RawConn { return c.rc }
