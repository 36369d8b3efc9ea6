// Package listen is the L4/L5 edge of strata below the session: what a
// connection goes through between the socket and the first stream.
//
// It builds the TLS configurations of frontends (certificates chosen by
// SNI, ALPN, client authentication) and of server connections and their
// health checks, records the outcome of a client handshake in the
// session, reads and writes PROXY protocol headers on a connection's
// buffer, and holds the maxconn counters (Slots), the gate that wakes
// accept loops waiting at a limit (Gate) and the maxconn derived from the
// open-file limit.
//
// Layer: L4/L5. It knows connections, buffers and the session record,
// nothing of streams, rules or HTTP. The accept loop (core/proxy: proxy.go,
// maxconn.go) and the client connection (core/stream: conn.go, tls.go) call
// it before any stream exists; a new server connection and the health
// checks use what it built for their PROXY header and TLS handshake.
//
// Goroutines: none of its own. The configurations it builds are immutable
// once returned and shared by every connection of a frontend or server;
// ReadProxyHeader and RecordTLS run on the goroutine that owns the
// connection they are given. Slots and Gate are shared by every accept
// loop and connection goroutine of the process and are safe for that
// (atomics, one mutex).
package listen
