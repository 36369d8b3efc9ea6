// Package listen is the L4/L5 edge of strata below the session: what a
// connection goes through between the socket and the first stream.
//
// It builds the TLS configurations of frontends (certificates chosen by
// SNI, ALPN, client authentication) and of server connections, records
// the outcome of a client handshake in the session, and reads and writes
// PROXY protocol headers on a connection's buffer.
//
// Layer: L4/L5. It knows connections, buffers and the session record,
// nothing of streams, rules or HTTP. core/proxy drives it: the accept loop
// and the client connection (core/proxy/proxy.go, tls.go) call it once per
// connection before any stream exists.
//
// Goroutines: none of its own. The configurations it builds are immutable
// once returned and shared by every connection of a frontend or server;
// ReadProxyHeader and RecordTLS run on the goroutine that owns the
// connection they are given.
package listen
