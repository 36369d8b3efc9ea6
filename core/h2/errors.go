package h2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// Sentinel errors. Stream errors say why one stream ended (its Done closed or
// a Read/Write failed); connection errors are returned by Serve and wrapped in
// every open stream's Err.
var (
	// ErrConnClosed: the connection ended (Close, a connection error, the
	// peer hung up) while the stream was open. Source: whoever ended it.
	ErrConnClosed = errors.New("h2: connection closed")
	// ErrStreamClosed: the handler used a stream it has already ended.
	// Source: internal (handler bug).
	ErrStreamClosed = errors.New("h2: stream closed")
	// ErrNoHeaders: Write, WriteTrailers or Close before a final WriteHeaders.
	// Source: internal (handler bug).
	ErrNoHeaders = errors.New("h2: response headers not written")
	// ErrHeadersWritten: a second final WriteHeaders.
	ErrHeadersWritten = errors.New("h2: response headers already written")
	// ErrBadStatus: WriteHeaders with a status HTTP/2 cannot carry.
	ErrBadStatus = errors.New("h2: invalid response status")
	// ErrZeroWindow: the peer kept our send window at zero for
	// ZeroWindowTimeout. Source: client.
	ErrZeroWindow = errors.New("h2: send window stayed at zero")
	// ErrIdleTimeout: Serve ended the connection after IdleTimeout without
	// an open stream or a frame. Source: client.
	ErrIdleTimeout = errors.New("h2: idle timeout")
	// ErrBadPreface: the client did not start with the connection preface.
	ErrBadPreface = errors.New("h2: bad connection preface")
	// ErrTooManyResets: the client reset (or had refused) more than
	// MaxResets streams per ResetWindow: rapid reset, CVE-2023-44487.
	ErrTooManyResets = errors.New("h2: too many stream resets")
	// ErrControlFlood: more than MaxControlFrames control frames per
	// ControlWindow (SETTINGS, PING, PRIORITY, empty DATA, … floods).
	ErrControlFlood = errors.New("h2: too many control frames")
	// ErrHeaderListTooLarge: a header block beyond MaxHeaderListSize,
	// compressed or decoded (HPACK bomb, CONTINUATION flood).
	ErrHeaderListTooLarge = errors.New("h2: header list too large")
	// ErrMalformed: a request or trailer section that RFC 9113 §8 calls
	// malformed. Wrapped in a *ProtocolError naming the stream.
	ErrMalformed = errors.New("h2: malformed request")

	// Client side (ClientConn):

	// ErrRetryable: the server did not process the request (RFC 9113
	// §8.7): OpenStream could not send it (the connection is closing, got a
	// GOAWAY or is at the server's stream limit), the server refused the
	// stream (REFUSED_STREAM), or its id is above a GOAWAY's last stream id.
	// The request may be sent again, on another connection. Source: server
	// (or this side's state); takes down one stream.
	ErrRetryable = errors.New("h2: request not processed, retryable")
	// ErrMalformedResponse: a response or trailer section that RFC 9113 §8
	// calls malformed, or a body that differs from its content-length.
	// Wrapped in a *ProtocolError naming the stream. Source: server.
	ErrMalformedResponse = errors.New("h2: malformed response")
	// ErrBadRequest: OpenStream was given a request HTTP/2 cannot carry
	// (missing pseudo-header, header list beyond the server's
	// SETTINGS_MAX_HEADER_LIST_SIZE). Nothing was sent. Source: internal.
	ErrBadRequest = errors.New("h2: invalid request")
	// ErrResponseRead: ReadResponse after the final response was returned.
	// Source: internal (caller bug).
	ErrResponseRead = errors.New("h2: final response already read")
)

// ProtocolError is a stream error (Stream != 0: the stream is reset) or a
// connection error (Stream == 0: GOAWAY, the connection ends) detected on
// the client's side of the protocol. It is what OnProtocolError receives and
// what Serve returns for a connection error.
type ProtocolError struct {
	Stream uint32        // 0 for a connection error
	Code   http2.ErrCode // the code sent in RST_STREAM or GOAWAY
	Reason string        // short, for logs
	Err    error         // a sentinel above when one applies, else nil
}

func (e *ProtocolError) Error() string {
	scope := "connection"
	if e.Stream != 0 {
		scope = fmt.Sprintf("stream %d", e.Stream)
	}
	return fmt.Sprintf("h2: %s error %v: %s", scope, e.Code, e.Reason)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// ResetError is a stream's Err when it was reset by RST_STREAM: by the
// peer (Remote: the client of a Conn, the server of a ClientConn) or by
// this side (Reset, or a protocol or flow error the connection detected, or
// ZeroWindowTimeout).
type ResetError struct {
	Code   http2.ErrCode
	Remote bool
	Err    error // the cause of a local reset, ErrRetryable for a remote REFUSED_STREAM; may be nil
}

func (e *ResetError) Error() string {
	if e.Remote {
		return fmt.Sprintf("h2: stream reset by peer: %v", e.Code)
	}
	if e.Err != nil {
		return fmt.Sprintf("h2: stream reset: %v: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("h2: stream reset: %v", e.Code)
}

func (e *ResetError) Unwrap() error { return e.Err }

// GoAwayError is why a ClientConn's stream failed when the server sent
// GOAWAY: with an error code (the connection ends), or with a last stream id
// below the stream's (then the error also wraps ErrRetryable).
type GoAwayError struct {
	LastStreamID uint32
	Code         http2.ErrCode
	Debug        string // the server's debug data, for logs
}

func (e *GoAwayError) Error() string {
	if e.Debug != "" {
		return fmt.Sprintf("h2: server sent GOAWAY %v (last stream %d): %q", e.Code, e.LastStreamID, e.Debug)
	}
	return fmt.Sprintf("h2: server sent GOAWAY %v (last stream %d)", e.Code, e.LastStreamID)
}
