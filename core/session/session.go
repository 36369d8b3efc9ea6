package session

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

var lastID atomic.Uint64

// NextID returns a process-unique id for a session or stream.
func NextID() uint64 { return lastID.Add(1) }

// Conn is the client-side L4 connection as rules see it.
type Conn struct {
	ID  uint64
	Src netip.AddrPort // client address (after PROXY protocol, when used)
	Dst netip.AddrPort // address the client connected to
	// TLS is what the TLS handshake established; nil on a plain
	// connection and until the handshake is done.
	TLS *TLS
}

// Session is the L5 object: what lives before and between streams.
type Session struct {
	ID       uint64
	Conn     *Conn
	Frontend string
	Start    time.Time

	// Vars is the "sess" variable scope. It is shared by the session's
	// streams, which run concurrently under HTTP/2, so reads return copies.
	Vars sample.SharedVars

	// Streams counts the streams born on this session so far.
	Streams atomic.Int64

	// Ext holds state that later subsystems attach to a session (stick
	// counters, TLS details) without this package knowing their types.
	Ext SessionExt
}

// SessionExt is filled by subsystems above this package.
type SessionExt struct {
	Trackers any // stick-counter slots owned by the session (core/stick)
}

// Stream is the L6 object: one request/response exchange or one TCP tunnel.
type Stream struct {
	ID   uint64
	Sess *Session
	Txn  *Txn // nil in TCP mode

	// Content is the request data received and not yet forwarded, as seen by
	// tcp-request content rules (req.len, req.payload).
	Content []byte

	// Vars is the "txn" variable scope; it lives as long as the stream.
	Vars sample.Vars

	Backend string // chosen backend, "" until chosen
	Server  string // chosen server, "" until chosen
	Service string // internal service answering the stream, if any

	Start    time.Time
	BytesIn  int64 // from the client
	BytesOut int64 // to the client
	Retries  int

	Term Termination

	// Ext holds state that later subsystems attach to a stream.
	Ext StreamExt
}

// StreamExt is filled by subsystems above this package.
type StreamExt struct {
	Trackers any   // stick-counter slots owned by the stream (core/stick)
	Plugin   any   // a stateful plugin instance kept for the stream's life
	Route    Route // a routing decision made by a plugin (backend/server/service)
}

// Layers returns the layers that exist for a stream: always CONN|SESS|STRM,
// plus TXN when it carries an HTTP transaction.
func (s *Stream) Layers() abi.Layers {
	l := abi.LayerConn | abi.LayerSess | abi.LayerStrm
	if s.Txn != nil {
		l |= abi.LayerTxn
	}
	return l
}

// Reset clears s for the next stream on the same connection, keeping the
// storage of its content buffer and variables. Txn is set to nil; the
// caller attaches a (reset) transaction when the next stream is HTTP.
func (s *Stream) Reset() {
	vars := s.Vars
	vars.Reset()
	*s = Stream{Vars: vars, Content: s.Content[:0]}
}
