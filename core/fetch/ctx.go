package fetch

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

// Ctx is everything an evaluation may look at. A nil layer pointer means the
// layer does not exist; Layers says the same as bits. A Ctx is owned by the
// goroutine driving the stream and is reused from one evaluation to the next;
// it is not safe for concurrent use.
type Ctx struct {
	Layers abi.Layers
	Conn   *session.Conn
	Sess   *session.Session
	Strm   *session.Stream
	Txn    *session.Txn
	Proc   *sample.SharedVars // "proc" variable scope, may be nil

	// Span is the stream's trace span while the stream is sampled, nil
	// otherwise (tracing off, no stream, or not sampled): extensions make
	// their calls' spans its children (core/telemetry).
	Span trace.Span

	// Abort is set by an extension whose call failed and must end the
	// stream (a plugin under on_error fail_closed): a rule set stops at
	// the rule during which it was set, and the engine, which checks it
	// after every rule set, target and service, ends the stream with
	// termination cause "plugin" (HTTP 500, TCP close). Only the
	// goroutine that owns the Ctx sets or clears it.
	Abort bool

	// scratch holds converter and cast outputs. It is replaced, never grown
	// in place, so bytes handed out stay valid until ResetScratch.
	scratch []byte
	// buf is a reusable work buffer for building values (Buf/PutBuf).
	buf []byte
}

// scratchMin is the size of the first scratch arena.
const scratchMin = 2048

// Bind points c at the given layers and sets Layers from which of them are
// not nil. The scratch arena and work buffer are kept.
func (c *Ctx) Bind(conn *session.Conn, sess *session.Session, strm *session.Stream, txn *session.Txn) {
	c.Conn, c.Sess, c.Strm, c.Txn = conn, sess, strm, txn
	var l abi.Layers
	if conn != nil {
		l |= abi.LayerConn
	}
	if sess != nil {
		l |= abi.LayerSess
	}
	if strm != nil {
		l |= abi.LayerStrm
	}
	if txn != nil {
		l |= abi.LayerTxn
	}
	c.Layers = l
}

// Scratch returns n bytes valid until ResetScratch. The arena is never grown
// in place (a new one replaces it when short), so results handed out earlier
// stay valid. The returned slice has capacity n: appending to it copies.
func (c *Ctx) Scratch(n int) []byte {
	if n < 0 {
		n = 0
	}
	if cap(c.scratch)-len(c.scratch) < n {
		size := max(scratchMin, 2*cap(c.scratch), 2*n)
		c.scratch = make([]byte, 0, size)
	}
	start := len(c.scratch)
	c.scratch = c.scratch[:start+n]
	return c.scratch[start : start+n : start+n]
}

// ResetScratch makes the whole arena available again. Every slice returned
// by Scratch (and every sample value built from one) is invalid afterwards.
func (c *Ctx) ResetScratch() { c.scratch = c.scratch[:0] }

// Reset clears c for the next stream, keeping the storage of its scratch
// and work buffers, so that an engine reusing one Ctx per connection or per
// pooled stream does not allocate them again on every request.
func (c *Ctx) Reset() {
	scratch, buf := c.scratch[:0], c.buf[:0]
	*c = Ctx{scratch: scratch, buf: buf}
}

// Buf returns an empty slice whose storage is reused across evaluations, to
// build a value (a header, a redirect location) before handing it to a
// method that copies it. Give the grown slice back with PutBuf. Only one Buf
// may be out at a time; expressions never use it, so log-format evaluation
// can append to it.
func (c *Ctx) Buf() []byte {
	b := c.buf
	c.buf = nil
	return b[:0]
}

// PutBuf returns a slice obtained from Buf, keeping its (possibly grown)
// storage for the next Buf.
func (c *Ctx) PutBuf(b []byte) {
	if cap(b) > cap(c.buf) {
		c.buf = b[:0]
	}
}
