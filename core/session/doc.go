// Package session defines the four lifecycle objects of strata's core —
// Conn (L4), Session (L5), Stream (L6) and Txn (L7) — and how a stream ends.
// It holds state only; the engine in core/stream drives the I/O.
//
// Lifecycle and ownership:
//
//	Conn     born at accept, dies at close. Points to its Session (owner).
//	Session  born with the client Conn, dies when its last stream is gone and
//	         the Conn is closed. Counts its streams; never lists them.
//	Stream   born at the first byte of a request (HTTP) or at session start
//	         (TCP); dies when the response is done or the tunnel is closed.
//	         Points to its Session. Ends with exactly one Termination.
//	Txn      born when the request head is parsed, dies when the response is
//	         sent. Owned by its Stream; nil in TCP mode.
//
// "Session without connection" and "stream without session" never happen.
// Every object here is touched only by the goroutine that drives its client
// connection (one per connection for HTTP/1.1), unless a field says otherwise.
package session
