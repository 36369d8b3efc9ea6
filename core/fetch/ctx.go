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

	// failure is the cause of the first failure recorded with Fail: the
	// one way a rule, fetch, converter, rewrite or plugin call ends the
	// stream. Only the goroutine that owns the Ctx sets or reads it.
	failure session.Cause

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

// Fail records that an evaluation failed and the stream must end with
// cause (session.CauseRewrite for an edit the wire cannot carry,
// session.CausePlugin for a plugin call under on_error fail_closed). The
// first cause recorded stays: a rule set stops at the rule during which it
// was recorded (rules.Set.Eval), and the engine reads it once after every
// evaluation point (rule set, routing target, service call) and ends the
// stream with it: HTTP 500, a close in TCP.
func (c *Ctx) Fail(cause session.Cause) {
	if c.failure == session.CauseNone {
		c.failure = cause
	}
}

// Failure returns the cause recorded by Fail, session.CauseNone when
// nothing failed since Reset.
func (c *Ctx) Failure() session.Cause { return c.failure }

// Failed reports whether Fail was called since Reset.
func (c *Ctx) Failed() bool { return c.failure != session.CauseNone }

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
