package h2

import (
	"sync"

	"golang.org/x/net/http2/hpack"
)

// streamFlow is what a stream of either side keeps for its link: its
// state as RFC 9113 §5.1 counts it, its windows both ways and its received
// body. Stream and ClientStream embed it; the link's mu guards it.
type streamFlow struct {
	// Immutable once the stream is in the table:
	id   uint32
	done chan struct{}
	cond sync.Cond // L is the link's mu: body data, window and state changes

	// Guarded by the link's mu:
	inMap       bool  // in the stream table (not closed)
	recvEnded   bool  // the peer's END_STREAM received
	endSent     bool  // our END_STREAM sent (or decided, under wmu)
	ended       bool  // this side is done with it (Close, Reset): Read fails
	closed      bool  // Done is closed
	err         error // why Done closed; nil for a normal end
	recv        recvBuf
	recvWindow  int64 // what the peer may still send
	recvUnacked int64 // read, not yet granted back
	recvd       int64 // DATA payload received, for content-length
	trailers    []hpack.HeaderField
	sendWindow  int64
	zeroGen     uint64 // invalidates a zero-window timer on progress
	zeroExpired bool
}

func (f *streamFlow) flow() *streamFlow { return f }

// ID returns the stream identifier.
func (f *streamFlow) ID() uint32 { return f.id }

// Done is closed when the stream reaches the closed state: normally (both
// END_STREAMs, Err nil), reset by either side, or the connection ended.
func (f *streamFlow) Done() <-chan struct{} { return f.done }

// Err says why Done closed: nil for a normal end (or while open), a
// *ResetError for a reset (on a ClientStream, wrapping ErrRetryable for
// REFUSED_STREAM, or a *ProtocolError for a stream error found here), an
// error wrapping ErrRetryable and a *GoAwayError when a server's GOAWAY
// left the stream out, an error wrapping ErrConnClosed when the connection
// ended.
func (f *streamFlow) Err() error {
	f.cond.L.Lock()
	defer f.cond.L.Unlock()
	return f.err
}

// Trailers returns the trailers received, valid after Read returned
// io.EOF.
func (f *streamFlow) Trailers() []hpack.HeaderField {
	f.cond.L.Lock()
	defer f.cond.L.Unlock()
	return f.trailers
}

// writableLocked says whether frames may still be sent on the stream of a
// connection dead or not. Needs the link's mu.
func (f *streamFlow) writableLocked(dead bool) error {
	switch {
	case f.closed:
		if f.err != nil {
			return f.err
		}
		return ErrStreamClosed
	case dead:
		return ErrConnClosed
	case f.endSent:
		return ErrStreamClosed
	}
	return nil
}
