package h2

import (
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Stream is one request/response exchange. Its methods are safe for
// concurrent use (a handler may read the body in one goroutine while it
// writes the response in another).
//
// States (RFC 9113 §5.1, server side): open → half-closed (remote) when the
// request's END_STREAM arrives, → half-closed (local) when the response's
// END_STREAM is sent; closed when both are done (Done closes, Err nil) or
// on RST_STREAM either way or the end of the connection (Done closes, Err
// says why).
type Stream struct {
	// Its state, windows and body (flow.go); guarded by c.mu but for the
	// immutable id, done and cond.
	streamFlow

	// Immutable after the handler starts:
	c   *Conn
	req Request

	// Guarded by c.mu:
	handlerRunning bool   // its handler has started and not returned
	queued         bool   // in c.pending: open, waiting for a handler
	finalSent      bool   // a final (non-1xx) HEADERS was sent
	onAbort        func() // see OnAbort
}

// OnAbort arranges for f to run once if the stream ends badly: reset by
// either side or its connection gone (Err not nil). It runs at once when
// that has happened already; OnAbort(nil) cancels it, and once that
// returns f neither runs nor is running. f runs with the connection's lock
// held: it must be short, and must not use the stream or its connection.
// A handler uses it to abandon work for a client that went away, without a
// goroutine waiting on Done.
func (s *Stream) OnAbort(f func()) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.closed {
		if s.err != nil && f != nil {
			f()
		}
		return
	}
	s.onAbort = f
}

// Request returns the validated request. It must not be modified while
// other goroutines read it.
func (s *Stream) Request() *Request { return &s.req }

// Read reads the request body. It returns io.EOF after END_STREAM, and an
// error when the stream was reset or the connection ended. Flow control
// credit goes back to the client as data is read, so a slow handler
// back-pressures the client; the bytes buffered never exceed the window
// advertised.
func (s *Stream) Read(p []byte) (int, error) {
	return s.c.read(&s.streamFlow, p)
}

// WriteHeaders sends the response header section. 1xx statuses may come
// first (never with endStream; 101 is not allowed in HTTP/2). Names are
// lowercased; pseudo-header and connection-specific fields (connection,
// keep-alive, proxy-connection, transfer-encoding, upgrade) are dropped, as
// are fields whose value holds NUL, CR or LF; ":status" is added here.
func (s *Stream) WriteHeaders(status int, fields []hpack.HeaderField, endStream bool) error {
	_, err := s.writeHeaders(status, fields, endStream, nil)
	return err
}

// WriteResponse sends a whole response — the header section, then body
// with END_STREAM on its last DATA frame — in as few writes as the
// flow-control windows allow (one when body fits them), and ends the
// stream as Close does.
func (s *Stream) WriteResponse(status int, fields []hpack.HeaderField, body []byte) error {
	if status < 200 {
		return ErrBadStatus
	}
	if len(body) == 0 {
		if err := s.WriteHeaders(status, fields, true); err != nil {
			return err
		}
		return s.Close()
	}
	sent, err := s.writeHeaders(status, fields, false, body)
	switch {
	case err != nil:
		return err
	case sent:
		return s.Close()
	}
	return s.WriteLast(body)
}

// WriteLast sends p as the end of the response body: the last DATA frame
// carries END_STREAM, saving the empty frame Close would add. It ends the
// stream as Close does.
func (s *Stream) WriteLast(p []byte) error {
	if len(p) > 0 {
		if err := s.bodyReady(); err != nil {
			return err
		}
		if _, err := s.c.writeBody(s, p, true); err != nil {
			return err
		}
	}
	return s.Close()
}

// bodyReady says whether body bytes may be sent: the stream is writable
// and a final response HEADERS went first.
func (s *Stream) bodyReady() error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := s.writableLocked(c.dead); err != nil {
		return err
	}
	if !s.finalSent {
		return ErrNoHeaders
	}
	return nil
}

// writeHeaders is WriteHeaders. With a body, when both send windows hold
// all of it, the body goes with the header frames in one logical write,
// END_STREAM on its last DATA frame, and sent is true; else only the
// header frames go.
func (s *Stream) writeHeaders(status int, fields []hpack.HeaderField, endStream bool, body []byte) (sent bool, err error) {
	if status < 100 || status > 999 || status == 101 || (status < 200 && endStream) {
		return false, ErrBadStatus
	}
	c := s.c
	c.lockW()
	c.mu.Lock()
	err = s.writableLocked(c.dead)
	if err == nil && s.finalSent {
		err = ErrHeadersWritten
	}
	if err != nil {
		c.mu.Unlock()
		c.unlockW()
		return false, err
	}
	if status >= 200 {
		s.finalSent = true
	}
	if n := int64(len(body)); status >= 200 && n > 0 && n <= s.sendWindow && n <= c.sendWindow {
		s.sendWindow -= n
		c.sendWindow -= n
		sent = true
	}
	if endStream || sent {
		c.endSentLocked(s)
	}
	maxFrame := c.peerMaxFrame
	c.mu.Unlock()

	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	for _, f := range fields {
		c.encodeResponseFieldLocked(f)
	}
	c.writeBlockLocked(s.id, endStream, maxFrame)
	if sent {
		c.dataFramesLocked(s.id, body, true, maxFrame)
	}
	err = c.unlockW()
	if endStream || sent {
		c.maybeFinish()
	}
	return sent, err
}

// WriteTrailers sends the trailer section with END_STREAM.
func (s *Stream) WriteTrailers(fields []hpack.HeaderField) error {
	c := s.c
	if len(fields) == 0 {
		return s.endData()
	}
	ready := func() error {
		if !s.finalSent {
			return ErrNoHeaders
		}
		return nil
	}
	return c.writeTrailers(s, fields, ready, c.encodeResponseFieldLocked)
}

// Write sends body bytes in DATA frames, split by the client's
// SETTINGS_MAX_FRAME_SIZE and limited by the stream and connection send
// windows. It blocks while a window is zero, up to ZeroWindowTimeout; then
// the stream is reset (or, when the connection window is the one at zero,
// the connection ends) and Write returns a *ProtocolError wrapping
// ErrZeroWindow.
func (s *Stream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.bodyReady(); err != nil {
		return 0, err
	}
	return s.c.writeBody(s, p, false)
}

// encodeResponseFieldLocked HPACK-encodes one response field into c.hbuf,
// dropping what HTTP/2 forbids. Needs wmu.
func (c *Conn) encodeResponseFieldLocked(f hpack.HeaderField) {
	if f.Name == "" || f.Name[0] == ':' {
		return
	}
	name := strings.ToLower(f.Name) // no copy when already lowercase
	if isConnectionSpecific(name) || strings.ContainsAny(f.Value, "\x00\r\n") {
		return
	}
	c.enc.WriteField(hpack.HeaderField{Name: name, Value: strings.Trim(f.Value, " \t"), Sensitive: f.Sensitive})
}

// endData ends the response with an empty DATA frame carrying END_STREAM.
func (s *Stream) endData() error {
	c := s.c
	c.mu.Lock()
	final := s.finalSent
	c.mu.Unlock()
	if !final {
		return ErrNoHeaders
	}
	return c.writeData(s, nil, true)
}

// Close ends the response: END_STREAM (an empty DATA frame when the headers
// went without it). If the client has not finished sending the request
// body, the stream is then reset with NO_ERROR (RFC 9113 §8.1). Close
// before a final WriteHeaders resets the stream (INTERNAL_ERROR) and
// returns ErrNoHeaders. Closing an ended stream returns nil, or why it was
// reset.
func (s *Stream) Close() error {
	c := s.c
	c.mu.Lock()
	already := s.ended
	s.ended = true
	closed, err, final, endSent := s.closed, s.err, s.finalSent, s.endSent
	c.mu.Unlock()
	defer c.releaseBody(s)
	switch {
	case closed || already:
		return err
	case !final:
		c.resetStream(s.id, s, http2.ErrCodeInternal, ErrNoHeaders)
		return ErrNoHeaders
	}
	if !endSent {
		if err := c.writeData(s, nil, true); err != nil {
			return err
		}
	}
	c.mu.Lock()
	open := !s.closed
	c.mu.Unlock()
	if open {
		c.resetStream(s.id, s, http2.ErrCodeNo, nil)
	}
	return nil
}

// Reset ends the stream at once with RST_STREAM(code), unless it is
// already closed.
func (s *Stream) Reset(code http2.ErrCode) {
	c := s.c
	c.mu.Lock()
	s.ended = true
	c.mu.Unlock()
	c.resetStream(s.id, s, code, nil)
	c.releaseBody(s)
}

// releaseBody drops the unread body of an ended stream and gives its
// connection window back.
func (c *Conn) releaseBody(s *Stream) {
	c.mu.Lock()
	c.recvUnacked += int64(s.recv.release())
	wc := c.connCreditLocked()
	c.mu.Unlock()
	c.sendWindowUpdates(nil, 0, wc)
}
