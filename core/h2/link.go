package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// link is what both sides of an HTTP/2 connection share: the frame writer
// (writer.go), the stream table, connection flow control, closing streams
// and the frame handlers that act alike on either side. Conn (server side)
// and ClientConn (client side) embed one, typed by their stream; what
// differs between the sides is asked of them through side.
//
// Lock order: wmu before mu; mu is never held while writing to t or
// waiting for wmu.
type link[S stream] struct {
	// Immutable after init:
	t    Transport
	side side[S]
	// streamWindow and connWindow are our receive windows: what was
	// consumed goes back to the peer once it reaches half of one.
	streamWindow, connWindow int64
	zeroWindowTimeout        time.Duration
	// creditOnRead: the connection window comes back as the body is read
	// (server side); else as DATA is received (client side, see RATIONALE).
	creditOnRead bool
	// endThenNoError: our RST_STREAM(NO_ERROR) after our END_STREAM is a
	// normal end (server side, RFC 9113 §8.1: the response is complete and
	// the rest of the request is not wanted).
	endThenNoError bool
	// wakeParked, when set (server side, park.go), is called once the
	// connection's end is decided, before t is closed: a parked reader
	// must run again.
	wakeParked func()

	// fr reads in the goroutine that reads frames; its write methods need
	// wmu (they append to the write buffer).
	fr *http2.Framer

	// Owned by the goroutine that reads frames:
	blockDecoder // header blocks being received (block.go)

	// The write side (writer.go). Guarded by wmu, but for writers.
	wmu      sync.Mutex
	wcond    sync.Cond    // L is &wmu: a flush ended or took the buffer
	writers  atomic.Int32 // logical writes started (lockW) and not ended
	flushing bool         // a goroutine is writing to t, wmu released
	// flushQueued: a goroutine yields before it flushes (writer.go).
	flushQueued bool
	wbuf        *[]byte // frames not yet handed to t, from writeBufPool
	werr        error   // sticky write error
	// enc is the HPACK encoder: its dynamic table must see header blocks
	// in the order they reach the wire, i.e. the buffer's order.
	enc         *hpack.Encoder
	hbuf        bytes.Buffer
	goAwaySent  bool
	prefaceSent bool // GOAWAY may be sent (server side: after SETTINGS)

	// Guarded by mu:
	mu           sync.Mutex
	streams      map[uint32]S // open and half-closed streams
	sendWindow   int64        // connection send window
	recvWindow   int64        // what the peer may still send
	recvUnacked  int64        // consumed, not yet granted back
	peerInitial  int64        // peer's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame int          // peer's SETTINGS_MAX_FRAME_SIZE
	shutdown     bool         // Shutdown called: no new stream, draining
	closing      bool         // the end is decided (side-specific)
	dead         bool         // the reader ended: every write fails
	endErr       error        // why the connection ends
	recent       [recentClosed]closedRec
	recentNext   int
}

// stream is a stream type of one side (*Stream, *ClientStream).
type stream interface {
	comparable
	flow() *streamFlow
}

// side is what a link asks of the connection embedding it: where the
// server and the client differ.
type side[S stream] interface {
	// idleLocked: id names a stream the peer may not send frames on yet
	// (RFC 9113 §5.1: a connection error).
	idleLocked(id uint32) bool
	// controlFrame accounts for a PING, or a frame ignored on a closed
	// stream.
	controlFrame() error
	// The frame handlers of the side. onData gets a DATA frame the
	// connection window took (dataAllowedLocked).
	onData(f *http2.DataFrame) error
	// newBlock checks the stream id of a HEADERS frame.
	newBlock(id uint32) error
	// endBlock acts on a complete header block.
	endBlock(hb *headerBlock) error
	onSettings(f *http2.SettingsFrame) error
	onRSTStream(f *http2.RSTStreamFrame) error
	onGoAway(f *http2.GoAwayFrame) error
	otherFrame(f http2.Frame) error
	// streamError resets stream id for a stream error found here; a
	// non-nil result ends the connection.
	streamError(id uint32, code http2.ErrCode, reason string, sentinel error) error
	// connError ends the connection with GOAWAY(code); the result ends
	// the reader.
	connError(code http2.ErrCode, reason string, sentinel error) error
	// settingLocked applies a peer setting the link does not know.
	settingLocked(st http2.Setting)
	// streamClosedLocked is told that s closed (wasOpen: it was in the
	// table until now). Needs mu.
	streamClosedLocked(s S, wasOpen bool, err error)
	// connStalled: s waited ZeroWindowTimeout for the connection send
	// window; pe says so. The stream is not reset yet.
	connStalled(s S, pe *ProtocolError)
	// report tells of a stream or connection error found here.
	report(err error)
	// maybeFinish ends a draining connection once nothing is left.
	maybeFinish()
	// lastPeerStreamLocked is the last stream id the peer opened that
	// this side accepted, for GOAWAY.
	lastPeerStreamLocked() uint32
	// drainedLocked: the connection ended gracefully whatever the
	// reader's last error (teardown).
	drainedLocked() bool
}

// init sets l up to read frames from r and write them to t.
func (l *link[S]) init(t Transport, r io.Reader, sd side[S], streamWindow, connWindow uint32, zeroWindowTimeout time.Duration) {
	l.t, l.side = t, sd
	l.streamWindow, l.connWindow = int64(streamWindow), int64(connWindow)
	l.zeroWindowTimeout = zeroWindowTimeout
	l.wcond.L = &l.wmu
	l.streams = make(map[uint32]S)
	l.sendWindow = 65535
	l.recvWindow = int64(connWindow)
	l.peerInitial = 65535
	l.peerMaxFrame = 16384
	l.fr = http2.NewFramer(linkWriter[S]{l}, r)
	l.fr.SetReuseFrames()
	l.enc = hpack.NewEncoder(&l.hbuf)
}

// initFlowLocked sets up the flow-control state of new stream id. Needs
// mu.
func (l *link[S]) initFlowLocked(f *streamFlow, id uint32) {
	f.id = id
	f.done = make(chan struct{})
	f.inMap = true
	f.recvWindow = l.streamWindow
	f.sendWindow = l.peerInitial
	f.cond.L = &l.mu
}

func (l *link[S]) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

// ---- frames handled alike on both sides (the reading goroutine) ----

// readErrorCode classifies a Framer read error: a stream error (se true:
// reset id, the connection goes on) or a connection error (ok true); ok
// false for anything else (the transport's errors).
func (l *link[S]) readErrorCode(err error) (id uint32, code http2.ErrCode, reason string, se, ok bool) {
	var serr http2.StreamError
	var cerr http2.ConnectionError
	switch {
	case errors.As(err, &serr):
		reason = "invalid frame"
		if serr.Cause != nil {
			reason = serr.Cause.Error()
		}
		return serr.StreamID, serr.Code, reason, true, true
	case errors.As(err, &cerr):
		reason = "invalid frame"
		if d := l.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		return 0, http2.ErrCode(cerr), reason, false, true
	case errors.Is(err, http2.ErrFrameTooLarge):
		return 0, http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE", false, true
	}
	return 0, 0, "", false, false
}

// processFrame acts on a frame read: WINDOW_UPDATE and PING here, the
// others through the side's handlers.
func (l *link[S]) processFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.DataFrame:
		l.mu.Lock()
		code, reason := l.dataAllowedLocked(f.StreamID, int64(f.Length))
		l.mu.Unlock()
		if reason != "" {
			return l.side.connError(code, reason, nil)
		}
		return l.side.onData(f)
	case *http2.HeadersFrame:
		return l.onHeaders(f)
	case *http2.ContinuationFrame:
		return l.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded(), f.Length)
	case *http2.SettingsFrame:
		return l.side.onSettings(f)
	case *http2.WindowUpdateFrame:
		return l.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return l.side.onRSTStream(f)
	case *http2.PingFrame:
		return l.onPing(f)
	case *http2.GoAwayFrame:
		return l.side.onGoAway(f)
	}
	return l.side.otherFrame(f)
}

// feedBlock decodes one fragment of a header block, as it arrives (see
// RATIONALE); the side acts on the block once complete.
func (l *link[S]) feedBlock(frag []byte, end bool, frameLen uint32) error {
	done, berr := l.decode(frag, end, frameLen)
	switch {
	case berr != nil:
		return l.side.connError(berr.code, berr.reason, berr.err)
	case !done:
		return nil
	}
	defer l.recycle()
	return l.side.endBlock(&l.hb)
}

// onHeaders starts a header block: a request or a response, trailers.
func (l *link[S]) onHeaders(f *http2.HeadersFrame) error {
	if err := l.side.newBlock(f.StreamID); err != nil {
		return err
	}
	l.begin(f)
	return l.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded(), f.Length)
}

// onPing answers a PING; an unsolicited ack is ignored (we send none).
func (l *link[S]) onPing(f *http2.PingFrame) error {
	if err := l.side.controlFrame(); err != nil {
		return err
	}
	if f.IsAck() {
		return nil
	}
	l.lockW()
	l.fr.WritePing(true, f.Data)
	return l.unlockW()
}

// applySettings applies a valid SETTINGS frame and acknowledges it. Values
// apply in the order they appear (RFC 9113 §6.5.3); wmu is held from
// before they apply until the ACK is buffered, so no frame sent under the
// new values precedes the ACK.
func (l *link[S]) applySettings(f *http2.SettingsFrame) error {
	var tableSize uint32
	hasTable, overflow := false, false
	l.lockW()
	l.mu.Lock()
	f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = st.Val, true
		case http2.SettingMaxFrameSize:
			l.peerMaxFrame = int(st.Val)
		case http2.SettingInitialWindowSize:
			// RFC 9113 §6.9.2: the change applies to every open stream's
			// send window, which may go negative.
			delta := int64(st.Val) - l.peerInitial
			l.peerInitial = int64(st.Val)
			for _, s := range l.streams {
				sf := s.flow()
				sf.sendWindow += delta
				overflow = overflow || sf.sendWindow > maxWindow
				sf.cond.Broadcast()
			}
		default:
			l.side.settingLocked(st)
		}
		return nil
	})
	l.mu.Unlock()
	if overflow {
		l.unlockW()
		return l.side.connError(http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window", nil)
	}
	if hasTable {
		l.enc.SetMaxDynamicTableSize(tableSize)
	}
	l.fr.WriteSettingsAck()
	return l.unlockW()
}

// onWindowUpdate credits a send window (RFC 9113 §6.9.1) and wakes the
// writers waiting for it.
func (l *link[S]) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	id, incr := f.StreamID, int64(f.Increment)
	l.mu.Lock()
	if id == 0 {
		l.sendWindow += incr
		if l.sendWindow > maxWindow {
			l.mu.Unlock()
			return l.side.connError(http2.ErrCodeFlowControl, "connection window above 2^31-1", nil)
		}
		l.wakeAllLocked()
		l.mu.Unlock()
		return nil
	}
	if l.side.idleLocked(id) {
		l.mu.Unlock()
		return l.side.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream", nil)
	}
	s, ok := l.streams[id]
	if !ok {
		l.mu.Unlock()
		return l.side.controlFrame() // closed: RFC 9113 §5.1 lets it through
	}
	sf := s.flow()
	sf.sendWindow += incr
	if sf.sendWindow > maxWindow {
		l.mu.Unlock()
		return l.side.streamError(id, http2.ErrCodeFlowControl, "stream window above 2^31-1", nil)
	}
	sf.cond.Broadcast()
	l.mu.Unlock()
	return nil
}

// dataAllowedLocked checks a DATA frame of n bytes on stream id: not on
// an idle stream, not beyond the connection window; then takes n from
// the window (RFC 9113 §6.9.1: every DATA frame counts, whatever becomes
// of it). A non-empty reason is a connection error. Needs mu.
func (l *link[S]) dataAllowedLocked(id uint32, n int64) (http2.ErrCode, string) {
	switch {
	case l.side.idleLocked(id):
		return http2.ErrCodeProtocol, "DATA on an idle stream"
	case n > l.recvWindow:
		return http2.ErrCodeFlowControl, "DATA beyond the connection window"
	}
	l.recvWindow -= n
	return 0, ""
}

// trailersReceived acts on a trailer section received on s: it must end
// the stream, hold no pseudo-header field (RFC 9113 §8.1), and follow a
// body of cl bytes when cl is not -1 (content-length). A valid one is
// kept and the peer's END_STREAM recorded; else the reason of the stream
// error is returned.
func (l *link[S]) trailersReceived(s S, hb *headerBlock, cl int64) string {
	if !hb.endStream {
		return "trailers without END_STREAM"
	}
	if reason := checkTrailers(hb.fields); reason != "" {
		return reason
	}
	f := s.flow()
	l.mu.Lock()
	if cl >= 0 && cl != f.recvd {
		l.mu.Unlock()
		return "body shorter than content-length"
	}
	f.trailers = append([]hpack.HeaderField(nil), hb.fields...)
	l.endRecvLocked(s)
	l.mu.Unlock()
	l.side.maybeFinish()
	return ""
}

// wakeAllLocked wakes every stream waiting for the connection window.
func (l *link[S]) wakeAllLocked() {
	for _, s := range l.streams {
		s.flow().cond.Broadcast()
	}
}

// ---- receive flow control ----

// streamCreditLocked grants back what was consumed of a stream once it
// reaches half a window, so a slow reader back-pressures the peer and
// WINDOW_UPDATE frames stay few. It returns the increment to send (0:
// none).
func (l *link[S]) streamCreditLocked(f *streamFlow) uint32 {
	if f == nil || f.closed || f.recvEnded || f.recvUnacked < l.streamWindow/2 {
		return 0
	}
	ws := uint32(f.recvUnacked)
	f.recvWindow += f.recvUnacked
	f.recvUnacked = 0
	return ws
}

// connCreditLocked is streamCreditLocked for the connection window.
func (l *link[S]) connCreditLocked() uint32 {
	if l.recvUnacked < l.connWindow/2 {
		return 0
	}
	wc := uint32(l.recvUnacked)
	l.recvWindow += l.recvUnacked
	l.recvUnacked = 0
	return wc
}

// sendWindowUpdates sends the increments streamCreditLocked and
// connCreditLocked returned; f may be nil when ws is 0.
func (l *link[S]) sendWindowUpdates(f *streamFlow, ws, wc uint32) error {
	if ws == 0 && wc == 0 {
		return nil
	}
	l.lockW()
	if wc > 0 {
		l.fr.WriteWindowUpdate(0, wc)
	}
	if ws > 0 {
		l.mu.Lock()
		closed := f.closed
		l.mu.Unlock()
		if !closed { // no frame but PRIORITY on a closed stream
			l.fr.WriteWindowUpdate(f.id, ws)
		}
	}
	return l.unlockW()
}

// read reads a stream's received body (Stream.Read, ClientStream.Read):
// io.EOF after the peer's END_STREAM, the stream's error once it was
// reset or its connection ended (its unread body is then dropped: what
// was read is incomplete). Credit goes back to the peer as data is read.
func (l *link[S]) read(f *streamFlow, p []byte) (int, error) {
	l.mu.Lock()
	for {
		if f.closed && f.err != nil {
			err := f.err
			l.mu.Unlock()
			return 0, err
		}
		if f.recv.len() > 0 {
			if len(p) == 0 {
				l.mu.Unlock()
				return 0, nil
			}
			n := f.recv.read(p)
			f.recvUnacked += int64(n)
			ws, wc := l.streamCreditLocked(f), uint32(0)
			if l.creditOnRead {
				l.recvUnacked += int64(n)
				wc = l.connCreditLocked()
			}
			l.mu.Unlock()
			l.sendWindowUpdates(f, ws, wc) // a write error ends the conn; the data is good
			return n, nil
		}
		switch {
		case f.recvEnded:
			l.mu.Unlock()
			return 0, io.EOF
		case f.closed || f.ended:
			l.mu.Unlock()
			return 0, ErrStreamClosed
		case len(p) == 0:
			l.mu.Unlock()
			return 0, nil
		}
		f.cond.Wait()
	}
}

// ---- send flow control and DATA ----

// Internal results of reserveLocked: which send window stayed at zero.
var (
	errZeroWindowStream = &ProtocolError{Code: http2.ErrCodeCancel, Reason: "stream send window stayed at zero", Err: ErrZeroWindow}
	errZeroWindowConn   = &ProtocolError{Code: http2.ErrCodeEnhanceYourCalm, Reason: "connection send window stayed at zero", Err: ErrZeroWindow}
)

// reserveLocked waits until both send windows allow some of want bytes and
// takes them from the windows (RFC 9113 §6.9.1: no DATA beyond either
// window; a window made negative by SETTINGS waits too, §6.9.2). After
// zeroWindowTimeout without any credit it returns errZeroWindowStream or
// errZeroWindowConn. Needs mu (released while waiting).
func (l *link[S]) reserveLocked(f *streamFlow, want int) (int, error) {
	armed := false
	defer func() {
		if armed {
			f.zeroGen++ // a timer still pending must not fire on a later wait
			f.zeroExpired = false
		}
	}()
	for {
		if err := f.writableLocked(l.dead); err != nil {
			return 0, err
		}
		n := min(int64(want), f.sendWindow, l.sendWindow, writeBufSize)
		if n > 0 {
			f.sendWindow -= n
			l.sendWindow -= n
			return int(n), nil
		}
		if f.zeroExpired {
			if l.sendWindow <= 0 {
				return 0, errZeroWindowConn
			}
			return 0, errZeroWindowStream
		}
		if !armed {
			armed = true
			f.zeroGen++
			gen := f.zeroGen
			t := time.AfterFunc(l.zeroWindowTimeout, func() {
				l.mu.Lock()
				if f.zeroGen == gen {
					f.zeroExpired = true
					f.cond.Broadcast()
				}
				l.mu.Unlock()
			})
			defer t.Stop()
		}
		f.cond.Wait()
	}
}

// writeBody sends p in DATA frames as the send windows allow, END_STREAM
// on the last one when last. A window left at zero for zeroWindowTimeout
// ends the stream (zeroWindow) and returns a *ProtocolError wrapping
// ErrZeroWindow.
func (l *link[S]) writeBody(s S, p []byte, last bool) (int, error) {
	f := s.flow()
	written := 0
	for len(p) > 0 {
		l.mu.Lock()
		n, err := l.reserveLocked(f, len(p))
		l.mu.Unlock()
		if err == errZeroWindowStream || err == errZeroWindowConn {
			return written, l.zeroWindow(s, err == errZeroWindowConn)
		}
		if err != nil {
			return written, err
		}
		if err := l.writeData(s, p[:n], last && n == len(p)); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// zeroWindow ends what a send window stuck at zero leaves no use for. The
// stream's own window: the peer does not read this stream, so it is reset
// (CANCEL). The connection window: no stream can send DATA any more (only
// a WINDOW_UPDATE on stream 0 can restore it, RFC 9113 §6.9.1), so the
// side decides the connection's end (connStalled).
func (l *link[S]) zeroWindow(s S, conn bool) *ProtocolError {
	id := s.flow().id
	if conn {
		pe := &ProtocolError{Stream: id, Code: errZeroWindowConn.Code, Reason: errZeroWindowConn.Reason, Err: ErrZeroWindow}
		l.side.report(pe)
		l.side.connStalled(s, pe)
		return pe
	}
	pe := &ProtocolError{Stream: id, Code: errZeroWindowStream.Code, Reason: errZeroWindowStream.Reason, Err: ErrZeroWindow}
	l.side.report(pe)
	l.resetStream(id, s, pe.Code, pe)
	return pe
}

// writeData writes data (already taken from the send windows) in DATA
// frames, the last with END_STREAM when end. An empty DATA frame with
// END_STREAM needs no window (RFC 9113 §6.9.1), so it never waits.
func (l *link[S]) writeData(s S, data []byte, end bool) error {
	f := s.flow()
	l.lockW()
	l.mu.Lock()
	if err := f.writableLocked(l.dead); err != nil {
		// Give back the connection window taken for bytes never sent.
		if len(data) > 0 {
			l.sendWindow += int64(len(data))
			l.wakeAllLocked()
		}
		l.mu.Unlock()
		l.unlockW()
		return err
	}
	if end {
		l.endSentLocked(s)
	}
	maxFrame := l.peerMaxFrame
	l.mu.Unlock()
	l.dataFramesLocked(f.id, data, end, maxFrame)
	err := l.unlockW()
	if end {
		l.side.maybeFinish()
	}
	return err
}

// dataFramesLocked buffers data as DATA frames of at most maxFrame bytes,
// END_STREAM on the last when end. Needs wmu.
func (l *link[S]) dataFramesLocked(id uint32, data []byte, end bool, maxFrame int) {
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), maxFrame)
		l.fr.WriteData(id, end && n == len(data), data[:n])
		data = data[n:]
	}
}

// writeTrailers ends the stream with a trailer section: fields, each
// through encode (which drops what may not be sent), in HEADERS with
// END_STREAM. ready, when not nil, says whether the stream may send it
// (with mu held).
func (l *link[S]) writeTrailers(s S, fields []hpack.HeaderField, ready func() error, encode func(hpack.HeaderField)) error {
	f := s.flow()
	l.lockW()
	l.mu.Lock()
	err := f.writableLocked(l.dead)
	if err == nil && ready != nil {
		err = ready()
	}
	if err != nil {
		l.mu.Unlock()
		l.unlockW()
		return err
	}
	l.endSentLocked(s)
	maxFrame := l.peerMaxFrame
	l.mu.Unlock()
	l.hbuf.Reset()
	for _, hf := range fields {
		encode(hf)
	}
	l.writeBlockLocked(f.id, true, maxFrame)
	err = l.unlockW()
	l.side.maybeFinish()
	return err
}

// writeBlockLocked buffers the header block in hbuf as HEADERS plus
// CONTINUATION frames of at most maxFrame bytes. Needs wmu.
func (l *link[S]) writeBlockLocked(id uint32, endStream bool, maxFrame int) {
	block := l.hbuf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		if first {
			l.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			l.fr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
	if l.hbuf.Cap() > writeBufSize {
		l.hbuf = bytes.Buffer{} // an unusually large block: do not keep its buffer
	}
}

// ---- stream ends ----

// resetStream sends RST_STREAM(code) on id and closes the stream if it is
// open, with a *ResetError wrapping cause. When only is not the zero S,
// nothing happens unless only is the open stream (a Reset of an already
// closed stream).
func (l *link[S]) resetStream(id uint32, only S, code http2.ErrCode, cause error) {
	var none S
	l.lockW()
	l.mu.Lock()
	s, open := l.streams[id]
	if only != none && s != only {
		l.mu.Unlock()
		l.unlockW()
		return
	}
	if open {
		var err error = &ResetError{Code: code, Err: cause}
		if l.endThenNoError && code == http2.ErrCodeNo && s.flow().endSent {
			err = nil
		}
		l.closeStreamLocked(s, err, closedByUs)
	} else {
		l.recordClosedLocked(id, closedByUs)
	}
	ended := l.dead || l.closing
	l.mu.Unlock()
	if !ended {
		l.fr.WriteRSTStream(id, code)
	}
	l.unlockW()
	l.side.maybeFinish()
}

// writeRST sends RST_STREAM(code) on a stream not in the table.
func (l *link[S]) writeRST(id uint32, code http2.ErrCode) {
	l.lockW()
	l.fr.WriteRSTStream(id, code)
	l.unlockW()
}

// closeStreamLocked moves s to closed: Done closes with err (nil for a
// normal end), waiters wake, an abnormal end drops the unread body.
func (l *link[S]) closeStreamLocked(s S, err error, how closeHow) {
	f := s.flow()
	if f.closed {
		return
	}
	f.closed, f.err = true, err
	wasOpen := f.inMap
	if wasOpen {
		delete(l.streams, f.id)
		f.inMap = false
	}
	l.recordClosedLocked(f.id, how)
	if err != nil {
		dropped := f.recv.release()
		if l.creditOnRead {
			l.recvUnacked += int64(dropped) // nobody will read it
		}
	}
	l.side.streamClosedLocked(s, wasOpen, err)
	close(f.done)
	f.cond.Broadcast()
}

// endRecvLocked records the peer's END_STREAM.
func (l *link[S]) endRecvLocked(s S) {
	f := s.flow()
	f.recvEnded = true
	f.cond.Broadcast()
	if f.endSent {
		l.closeStreamLocked(s, nil, closedNormal)
	}
}

// endSentLocked records our END_STREAM. Needs wmu and mu, and the frame
// must be buffered before wmu is released.
func (l *link[S]) endSentLocked(s S) {
	f := s.flow()
	f.endSent = true
	if f.recvEnded {
		l.closeStreamLocked(s, nil, closedNormal)
	}
}

func (l *link[S]) closeAllLocked(cause error) {
	if !errors.Is(cause, ErrConnClosed) {
		cause = fmt.Errorf("%w: %w", ErrConnClosed, cause)
	}
	for _, s := range l.streams {
		l.closeStreamLocked(s, cause, closedByUs)
	}
}

// shutdownGracefully starts a graceful end: no new stream, GOAWAY
// (NO_ERROR) naming the last peer stream accepted, open streams left to
// finish. Only the first call acts.
func (l *link[S]) shutdownGracefully() {
	l.lockW()
	l.mu.Lock()
	if l.shutdown || l.closing {
		l.mu.Unlock()
		l.unlockW()
		return
	}
	l.shutdown = true
	last := l.side.lastPeerStreamLocked()
	l.mu.Unlock()
	if l.prefaceSent && !l.goAwaySent {
		l.fr.WriteGoAway(last, http2.ErrCodeNo, nil)
		l.goAwaySent = true
	}
	l.unlockW()
	l.side.maybeFinish()
}

// teardown runs when the reading goroutine ends: the connection is dead,
// every stream still open fails with why it ended (err unless something
// else was recorded first or it drained), t closes, writes end.
func (l *link[S]) teardown(err error) {
	l.mu.Lock()
	l.closing, l.dead = true, true
	if l.endErr == nil && err != nil && !l.side.drainedLocked() {
		l.endErr = err
	}
	cause := l.endErr
	if cause == nil {
		cause = ErrConnClosed
	}
	l.closeAllLocked(cause)
	l.mu.Unlock()
	l.t.Close()
	l.endWrites()
	l.hb = headerBlock{}
}

// abort ends the connection now (Close, a write error): every stream
// fails with err, t closes.
func (l *link[S]) abort(err error) {
	l.mu.Lock()
	l.closing = true
	if l.endErr == nil {
		l.endErr = err
	}
	l.closeAllLocked(err)
	l.mu.Unlock()
	if l.wakeParked != nil {
		l.wakeParked()
	}
	l.t.Close()
}

func (l *link[S]) recordClosedLocked(id uint32, how closeHow) {
	l.recent[l.recentNext] = closedRec{id, how}
	l.recentNext = (l.recentNext + 1) % recentClosed
}

func (l *link[S]) closedHowLocked(id uint32) closeHow {
	for _, r := range l.recent {
		if r.id == id {
			return r.how
		}
	}
	return 0
}
