package logfmt

import (
	"net/netip"
	"time"
)

// Record is what a log line can say about one stream. The proxy fills it
// when the stream ends; byte slices are borrowed for the call to Append.
// A timer that was not reached is negative (printed -1).
type Record struct {
	Accept time.Time // the client connection was accepted (%t, %ms, %T, %Tl, %Ts)
	Start  time.Time // the stream's first byte arrived (%tr, %trg, %trl)

	Client   netip.AddrPort // %ci %cp
	Local    netip.AddrPort // the address the client connected to (%fi %fp)
	ServerAt netip.AddrPort // the server's address (%si %sp); invalid when none

	Frontend string // %f, %ft
	TLS      bool   // the frontend connection uses TLS: %ft adds '~'
	Backend  string // %b; "" prints the frontend's name, as HAProxy does
	Server   string // %s; "" prints <NOSRV>
	Service  string // an internal service answered: %s prints <service:NAME>

	// The request (HTTP mode): Method, URI and Version ("HTTP/1.1") make
	// %r. Method empty with HTTP set means no request line was read.
	HTTP    bool
	Method  []byte
	URI     []byte
	Version string
	Status  int // %ST; 0 prints -1 (no response)

	BytesIn  int64 // %U: from the client
	BytesOut int64 // %B: to the client

	// Timers (HAProxy's manual, 8.4).
	Th, Ti, TR, Tw, Tc, Tr, Td, Ta, Tt time.Duration

	Term [2]byte // termination state (%ts); cookie flags are always "--"

	ActConn, FeConn, BeConn, SrvConn int64 // %ac %fc %bc %sc
	Retries                          int   // %rc
	Redispatched                     bool  // %rc is prefixed with '+'
	SrvQueue, BeQueue                int64 // %sq %bq

	ReqCaptures, ResCaptures [][]byte // %hr %hs, in declaration order

	UniqueID []byte // %ID
	Counter  uint64 // %rt: the stream's id (unique in the process)

	// TLS of the client connection (%sslv, %sslc, ssl_* expressions).
	TLSVersion uint16
	TLSCipher  uint16
	SNI        string
	Resumed    bool

	// The stream's server span, when traced (json preset).
	TraceID [16]byte
	SpanID  [8]byte
	Traced  bool
}

// Captures holds the captured header values of one message, reused from
// one stream to the next so capturing allocates nothing once warm.
type Captures struct {
	vals [][]byte
}

// Reset empties the captures and sizes them for n headers.
func (c *Captures) Reset(n int) {
	if n > cap(c.vals) {
		c.vals = append(c.vals[:cap(c.vals)], make([][]byte, n-cap(c.vals))...)
	}
	c.vals = c.vals[:n] // within capacity: the values' storage is kept
	for i := range c.vals {
		c.vals[i] = c.vals[i][:0]
	}
}

// Set stores v as capture i, cut to max bytes.
func (c *Captures) Set(i int, v []byte, max int) {
	if len(v) > max {
		v = v[:max]
	}
	c.vals[i] = append(c.vals[i][:0], v...)
}

// Values returns the captures for a Record.
func (c *Captures) Values() [][]byte { return c.vals }
