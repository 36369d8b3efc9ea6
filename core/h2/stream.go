package h2

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"

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
	// Immutable after the handler starts:
	id   uint32
	c    *Conn
	req  Request
	done chan struct{}
	cond sync.Cond // L is &c.mu: body data, window and state changes

	// Guarded by c.mu:
	inMap          bool  // in c.streams (not closed)
	handlerRunning bool  // its handler has started and not returned
	queued         bool  // in c.pending: open, waiting for a handler
	recvEnded      bool  // END_STREAM received
	endSent        bool  // END_STREAM sent (or decided, under wmu)
	finalSent      bool  // a final (non-1xx) HEADERS was sent
	closed         bool  // Done is closed
	ended          bool  // the handler called Close or Reset, or returned
	err            error // why Done closed; nil for a normal end
	recv           recvBuf
	recvWindow     int64 // what the client may still send
	recvUnacked    int64 // read by the handler, not yet granted back
	recvd          int64 // DATA payload received, for content-length
	trailers       []hpack.HeaderField
	sendWindow     int64
	zeroGen        uint64 // invalidates a zero-window timer on progress
	zeroExpired    bool
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

// ID returns the stream identifier.
func (s *Stream) ID() uint32 { return s.id }

// Request returns the validated request. It must not be modified while
// other goroutines read it.
func (s *Stream) Request() *Request { return &s.req }

// Done is closed when the stream reaches the closed state: normally (both
// END_STREAMs, Err nil), reset by either side, or the connection ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err says why Done closed: nil for a normal end, a *ResetError for a
// reset, an error wrapping ErrConnClosed when the connection ended.
func (s *Stream) Err() error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.err
}

// Read reads the request body. It returns io.EOF after END_STREAM, and an
// error when the stream was reset or the connection ended. Flow control
// credit goes back to the client as data is read, so a slow handler
// back-pressures the client; the bytes buffered never exceed the window
// advertised.
func (s *Stream) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	for {
		if s.recv.len() > 0 {
			if len(p) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			n := s.recv.read(p)
			s.recvUnacked += int64(n)
			c.recvUnacked += int64(n)
			ws, wc := c.creditLocked(s)
			c.mu.Unlock()
			c.sendWindowUpdates(s, ws, wc) // a write error ends the conn; the data is good
			return n, nil
		}
		switch {
		case s.recvEnded:
			c.mu.Unlock()
			return 0, io.EOF
		case s.closed:
			err := s.err
			c.mu.Unlock()
			if err == nil {
				err = ErrStreamClosed
			}
			return 0, err
		case s.ended:
			c.mu.Unlock()
			return 0, ErrStreamClosed
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		}
		s.cond.Wait()
	}
}

// Trailers returns the request trailers, valid after Read returned io.EOF.
func (s *Stream) Trailers() []hpack.HeaderField {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.trailers
}

// writableLocked says whether frames may still be sent on s. Needs c.mu.
func (s *Stream) writableLocked() error {
	switch {
	case s.closed:
		if s.err != nil {
			return s.err
		}
		return ErrStreamClosed
	case s.c.dead:
		return ErrConnClosed
	case s.endSent:
		return ErrStreamClosed
	}
	return nil
}

// WriteHeaders sends the response header section. 1xx statuses may come
// first (never with endStream; 101 is not allowed in HTTP/2). Names are
// lowercased; pseudo-header and connection-specific fields (connection,
// keep-alive, proxy-connection, transfer-encoding, upgrade) are dropped, as
// are fields whose value holds NUL, CR or LF; ":status" is added here.
func (s *Stream) WriteHeaders(status int, fields []hpack.HeaderField, endStream bool) error {
	return s.writeHeaders(status, fields, endStream, false)
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
	// The header frames wait in the write buffer for the first DATA
	// frame, which flushes them; see writeHeaders.
	if err := s.writeHeaders(status, fields, false, true); err != nil {
		return err
	}
	return s.WriteLast(body)
}

// WriteLast sends p as the end of the response body: the last DATA frame
// carries END_STREAM, saving the empty frame Close would add. It ends the
// stream as Close does.
func (s *Stream) WriteLast(p []byte) error {
	c := s.c
	for len(p) > 0 {
		c.mu.Lock()
		n, err := s.reserveLocked(len(p))
		c.mu.Unlock()
		if err == errZeroWindowStream || err == errZeroWindowConn {
			s.zeroWindow(err == errZeroWindowConn)
			return ErrZeroWindow
		}
		if err != nil {
			return err
		}
		if err := c.writeData(s, p[:n], n == len(p)); err != nil {
			return err
		}
		p = p[n:]
	}
	return s.Close()
}

// writeHeaders is WriteHeaders. With lazy, the frames are left in the
// write buffer when both send windows are open, for the DATA frame the
// caller writes next to flush with them: that write cannot block on a
// window, and any other stream's write flushes them too.
func (s *Stream) writeHeaders(status int, fields []hpack.HeaderField, endStream, lazy bool) error {
	if status < 100 || status > 999 || status == 101 || (status < 200 && endStream) {
		return ErrBadStatus
	}
	c := s.c
	c.wmu.Lock()
	c.mu.Lock()
	err := s.writableLocked()
	if err == nil && s.finalSent {
		err = ErrHeadersWritten
	}
	if err != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return err
	}
	if status >= 200 {
		s.finalSent = true
	}
	if endStream {
		s.endSentLocked()
	}
	maxFrame := c.peerMaxFrame
	flush := !lazy || endStream || s.sendWindow <= 0 || c.sendWindow <= 0
	c.mu.Unlock()

	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	for _, f := range fields {
		c.encodeResponseFieldLocked(f)
	}
	c.writeBlockLocked(s.id, endStream, maxFrame)
	if flush {
		err = c.flushLocked()
	}
	c.wmu.Unlock()
	if endStream {
		c.maybeFinish()
	}
	return err
}

// WriteTrailers sends the trailer section with END_STREAM.
func (s *Stream) WriteTrailers(fields []hpack.HeaderField) error {
	c := s.c
	if len(fields) == 0 {
		return s.endData()
	}
	c.wmu.Lock()
	c.mu.Lock()
	err := s.writableLocked()
	if err == nil && !s.finalSent {
		err = ErrNoHeaders
	}
	if err != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return err
	}
	s.endSentLocked()
	maxFrame := c.peerMaxFrame
	c.mu.Unlock()
	c.hbuf.Reset()
	for _, f := range fields {
		c.encodeResponseFieldLocked(f)
	}
	c.writeBlockLocked(s.id, true, maxFrame)
	err = c.flushLocked()
	c.wmu.Unlock()
	c.maybeFinish()
	return err
}

// endSentLocked records our END_STREAM. Needs wmu and c.mu, and the frame
// must be written before wmu is released.
func (s *Stream) endSentLocked() {
	s.endSent = true
	if s.recvEnded {
		s.c.closeStreamLocked(s, nil, closedNormal)
	}
}

// Write sends body bytes in DATA frames, split by the client's
// SETTINGS_MAX_FRAME_SIZE and limited by the stream and connection send
// windows. It blocks while a window is zero, up to ZeroWindowTimeout; then
// the stream is reset (or, when the connection window is the one at zero,
// the connection ends) and Write returns ErrZeroWindow.
func (s *Stream) Write(p []byte) (int, error) {
	c := s.c
	written := 0
	for len(p) > 0 {
		c.mu.Lock()
		n, err := s.reserveLocked(len(p))
		c.mu.Unlock()
		if err == errZeroWindowStream || err == errZeroWindowConn {
			s.zeroWindow(err == errZeroWindowConn)
			return written, ErrZeroWindow
		}
		if err != nil {
			return written, err
		}
		if err := c.writeData(s, p[:n], false); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Internal results of reserveLocked: which window stayed at zero.
var (
	errZeroWindowStream = &ProtocolError{Code: http2.ErrCodeCancel, Reason: "stream send window stayed at zero", Err: ErrZeroWindow}
	errZeroWindowConn   = &ProtocolError{Code: http2.ErrCodeEnhanceYourCalm, Reason: "connection send window stayed at zero", Err: ErrZeroWindow}
)

// reserveLocked waits until both send windows allow some of want bytes and
// takes them from the windows. Needs c.mu (released while waiting).
func (s *Stream) reserveLocked(want int) (int, error) {
	c := s.c
	armed := false
	defer func() {
		if armed {
			s.zeroGen++ // a timer still pending must not fire on a later wait
			s.zeroExpired = false
		}
	}()
	for {
		if err := s.writableLocked(); err != nil {
			return 0, err
		}
		if !s.finalSent {
			return 0, ErrNoHeaders
		}
		n := min(int64(want), s.sendWindow, c.sendWindow, writeBufSize)
		if n > 0 {
			s.sendWindow -= n
			c.sendWindow -= n
			return int(n), nil
		}
		if s.zeroExpired {
			if c.sendWindow <= 0 {
				return 0, errZeroWindowConn
			}
			return 0, errZeroWindowStream
		}
		if !armed {
			armed = true
			s.zeroGen++
			gen := s.zeroGen
			t := time.AfterFunc(c.cfg.ZeroWindowTimeout, func() {
				c.mu.Lock()
				if s.zeroGen == gen {
					s.zeroExpired = true
					s.cond.Broadcast()
				}
				c.mu.Unlock()
			})
			defer t.Stop()
		}
		s.cond.Wait()
	}
}

func (s *Stream) zeroWindow(conn bool) {
	c := s.c
	if conn {
		pe := &ProtocolError{Code: errZeroWindowConn.Code, Reason: errZeroWindowConn.Reason, Err: ErrZeroWindow}
		c.report(pe)
		c.goAway(pe.Code, pe, pe.Reason)
		return
	}
	pe := &ProtocolError{Stream: s.id, Code: errZeroWindowStream.Code, Reason: errZeroWindowStream.Reason, Err: ErrZeroWindow}
	c.report(pe)
	c.resetStream(s.id, s, pe.Code, pe)
}

// writeData writes data (already taken from the send windows) in DATA
// frames, the last with END_STREAM when end.
func (c *Conn) writeData(s *Stream, data []byte, end bool) error {
	c.wmu.Lock()
	c.mu.Lock()
	if err := s.writableLocked(); err != nil {
		// Give back the connection window taken for bytes never sent.
		if len(data) > 0 {
			c.sendWindow += int64(len(data))
			for _, o := range c.streams {
				o.cond.Broadcast()
			}
		}
		c.mu.Unlock()
		c.wmu.Unlock()
		return err
	}
	if end {
		s.endSentLocked()
	}
	maxFrame := c.peerMaxFrame
	c.mu.Unlock()
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), maxFrame)
		c.fr.WriteData(s.id, end && n == len(data), data[:n])
		data = data[n:]
	}
	err := c.flushLocked()
	c.wmu.Unlock()
	if end {
		c.maybeFinish()
	}
	return err
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

// writeBlockLocked writes the header block in c.hbuf as HEADERS plus
// CONTINUATION frames. Needs wmu.
func (c *Conn) writeBlockLocked(id uint32, endStream bool, maxFrame int) {
	block := c.hbuf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		if first {
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			c.fr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
	if c.hbuf.Cap() > writeBufSize {
		c.hbuf = bytes.Buffer{} // an unusually large block: do not keep its buffer
	}
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
