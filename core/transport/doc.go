// Package transport is strata's L4 layer: TCP connections read and written
// through their raw file descriptors so that the engine controls when memory
// and timers are spent.
//
// Two habits make an idle connection cheap and a busy one fast:
//
//   - A connection holds no read buffer while it waits. Fill takes a buffer
//     from the pool only when the kernel has data, and gives it back when a
//     read would block with nothing buffered (see Buffer).
//   - Timeouts are armed only when an operation actually blocks. A read or
//     write that the kernel completes at once touches no timer; one that
//     would block arms the deadline (HAProxy-style inactivity timeout, or a
//     fixed phase deadline) just before the goroutine parks.
//
// A Conn is used by one goroutine for reading and one for writing at a time,
// like net.Conn.
//
// # TLS mode
//
// StartTLS puts crypto/tls on a Conn (either side of the handshake); the
// same methods then read and write the decrypted stream, so the engine
// drives TLS and plain connections alike, with the same two habits (see
// tls.go). LoadCertificate and LoadCertPool read the PEM files of a
// configuration.
//
// # Why does crypto/tls get one record at a time?
//
// crypto/tls keeps the bytes it has read and not yet returned inside the
// tls.Conn, where nothing can see them. If it read ahead, Fill could not
// tell an idle connection (wait for the socket, holding no buffer) from
// one with data already inside crypto/tls (read now, or hang until the
// peer sends more). Handing it ciphertext record by record from a pooled
// buffer keeps that knowledge here: after a record crypto/tls holds
// nothing but, when Fill's buffer was too small, decrypted bytes, which
// Fill remembers. It costs one copy of the ciphertext, and no syscall.
package transport
