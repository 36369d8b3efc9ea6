package h2

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Transport is the client connection under HTTP/2 (a TLS or plain TCP
// conn). Read and Write are called from different goroutines at once.
// When it also has CloseWrite (as *net.TCPConn and *tls.Conn do), the
// connection is half-closed after the last GOAWAY so that the client reads
// every frame before it sees the end.
type Transport interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

// Preface is the client connection preface; the engine uses it to detect
// h2c with prior knowledge.
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Handler serves one stream. It runs on its own goroutine once the request
// HEADERS (and CONTINUATION) are complete and valid. It must end the stream
// with Close or Reset before returning; if not, the conn resets it
// (INTERNAL_ERROR, or NO_ERROR when the response was complete).
type Handler func(s *Stream)

const (
	// lingerTimeout bounds how long a connection is kept after its last
	// GOAWAY so the client can read it (closing with unread input would make
	// the kernel send RST and the client might lose our last frames).
	lingerTimeout = 2 * time.Second
	// lingerMaxBytes bounds what is read and dropped meanwhile.
	lingerMaxBytes = 1 << 20
	// recentClosed is how many closed streams are remembered, to tell a
	// frame that raced our RST_STREAM (ignored) from one on a stream that
	// never existed (connection error).
	recentClosed = 32
	maxWindow    = 1<<31 - 1
)

type closeHow uint8

const (
	closedNormal closeHow = iota + 1 // END_STREAM both ways
	closedByPeer                     // the client sent RST_STREAM
	closedByUs                       // we sent RST_STREAM (or refused the stream)
)

// Conn is the server side of one HTTP/2 connection.
type Conn struct {
	// The frame writer, the stream table, flow control (link.go). Its mu
	// guards the fields below marked so; wmu is taken before mu.
	link[*Stream]

	// Immutable after NewConn:
	cfg Config
	h   Handler

	// Immutable after SetParker: parks the connection while idle (park.go).
	parker    Parker
	parkAfter time.Duration

	// Owned by the serve loop (the goroutine running Serve, then Resume):
	r            prereadReader
	resets       rateCounter
	controls     rateCounter
	settingsSeen bool          // the client's first frame, SETTINGS, was read
	recheck      time.Duration // waitIdle's next wait while streams are open

	// Guarded by mu:
	live         int       // streams open or whose handler runs
	handlers     int       // handler goroutines started, not returned
	pending      []*Stream // open streams waiting for a handler, oldest first
	lastStreamID uint32    // highest client stream id seen
	peerGoAway   bool      // client sent GOAWAY: no new streams
	lingerTimer  *time.Timer
	idleTimer    *time.Timer

	// Spare handler goroutines (awaitStream). Guarded by mu:
	spares     int         // waiting for a stream
	handoff    []*Stream   // given to spares, not yet taken
	spareCond  sync.Cond   // L is &mu: a handoff, or a reason for spares to end
	spareTimer *time.Timer // ends them spareLinger after the last live stream
	spareGen   uint64      // bumped to end the spares waiting

	lastActivityNano atomic.Int64 // serve loop writes; idle timer reads

	wg sync.WaitGroup // handler goroutines
}

type closedRec struct {
	id  uint32
	how closeHow
}

// headerBlock is the header block being received. Owned by the serve loop.
type headerBlock struct {
	streamID  uint32
	endStream bool
	selfDep   bool // HEADERS priority names the stream itself
	wire      int  // frame bytes so far, headers included
	size      int  // decoded size per RFC 9113 §6.5.2
	tooLarge  bool
	fields    []hpack.HeaderField
}

// prereadReader serves bytes read before NewConn, then the transport's,
// through a small buffer: the Framer reads a frame's 9-byte header, then
// its payload, and a client sends many small frames in one segment (ten
// HEADERS for ten streams), so reading the socket per frame part would
// cost a system call each.
type prereadReader struct {
	buf   []byte // unread bytes: the preread, then the last fill's
	t     Transport
	store *[readBufSize]byte // the buffer's storage, from readBufPool while held (park.go)
}

// readBufSize is the read buffer of a connection. Reads at least this big
// go straight to the transport.
const readBufSize = 4 << 10

func (r *prereadReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if len(p) >= readBufSize {
			return r.t.Read(p)
		}
		if n, err := r.fill(r.t.Read); n == 0 {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// NewConn returns a connection ready to Serve. preread holds bytes already
// read from t (it may hold the preface and more); the Conn reads it before
// t and does not modify it.
func NewConn(t Transport, preread []byte, cfg Config, h Handler) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{cfg: cfg, h: h}
	c.r = prereadReader{buf: preread, t: t}
	c.init(t, &c.r, c, cfg.InitialWindowSize, cfg.ConnWindowSize, cfg.ZeroWindowTimeout)
	c.spareCond.L = &c.mu
	c.creditOnRead, c.endThenNoError = true, true
	c.fr = c.newFramer()
	c.initDecoder(cfg.MaxHeaderListSize, true, "")
	return c
}

// ActiveStreams is the number of streams open or whose handler still runs.
func (c *Conn) ActiveStreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Serve reads the preface, exchanges SETTINGS and reads frames until the
// connection ends. It returns after every handler goroutine has returned
// and t is closed, with why the connection ended: nil for a clean close by
// the client or a graceful end, a *ProtocolError for a connection error,
// ErrIdleTimeout, or the transport's error. With a Parker, it returns
// ErrParked when the connection parks (park.go).
func (c *Conn) Serve() error {
	return c.run(c.serveFrames)
}

// run runs the serve loop, then ends the connection unless it parked.
func (c *Conn) run(loop func() error) error {
	err := loop()
	if err == ErrParked {
		return err
	}
	if c.isClosing() {
		// A GOAWAY went out (or t is closed): let the client read it.
		c.drain()
	}
	c.teardown(err)
	c.r.buf = nil
	c.r.release()
	c.mu.Lock()
	c.spareCond.Broadcast() // the connection is dead: spare handlers end
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	err = c.endErr
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.spareTimer != nil {
		c.spareTimer.Stop()
	}
	c.mu.Unlock()
	return err
}

func (c *Conn) serveFrames() error {
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: c.cfg.InitialWindowSize},
		{ID: http2.SettingMaxFrameSize, Val: c.cfg.MaxFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.MaxHeaderListSize},
	}
	c.lockW()
	c.fr.WriteSettings(settings...)
	if c.cfg.ConnWindowSize > 65535 {
		c.fr.WriteWindowUpdate(0, c.cfg.ConnWindowSize-65535)
	}
	c.prefaceSent = true
	c.mu.Lock()
	shutdown := c.shutdown
	c.mu.Unlock()
	if shutdown && !c.goAwaySent {
		c.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		c.goAwaySent = true
	}
	if err := c.unlockW(); err != nil {
		return err
	}
	if c.cfg.IdleTimeout > 0 {
		c.touch()
		c.mu.Lock()
		c.idleTimer = time.AfterFunc(c.cfg.IdleTimeout, c.idleCheck)
		c.mu.Unlock()
	}
	c.maybeFinish()

	var pre [len(Preface)]byte
	if n, err := io.ReadFull(&c.r, pre[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil // the client left without a word
		}
		return fmt.Errorf("h2: reading preface: %w", err)
	}
	if string(pre[:]) != Preface {
		return c.connError(http2.ErrCodeProtocol, "bad connection preface", ErrBadPreface)
	}
	return c.readFrames()
}

// readFrames reads and acts on frames until the connection ends or parks.
func (c *Conn) readFrames() error {
	for {
		if c.isClosing() {
			return nil
		}
		if c.waitIdle() {
			return ErrParked
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) || c.isClosing() {
				// The client hung up (cleanly when no stream was open),
				// or the connection is closing: nothing more to read.
				return c.readError(err)
			}
			if err = c.readError(err); err != nil {
				return err
			}
			continue
		}
		if c.cfg.IdleTimeout > 0 {
			c.touch()
		}
		if !c.settingsSeen {
			c.settingsSeen = true
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return c.connError(http2.ErrCodeProtocol, "first frame is not SETTINGS", nil)
			}
		}
		if err := c.processFrame(f); err != nil {
			return err
		}
	}
}

// readError turns a Framer read error into a stream error (nil: go on) or
// the error that ends the serve loop.
func (c *Conn) readError(err error) error {
	if id, code, reason, se, ok := c.readErrorCode(err); ok {
		if se {
			return c.streamError(id, code, reason, nil)
		}
		return c.connError(code, reason, nil)
	}
	switch {
	case c.isClosing():
		return nil // closed under us by Close, the linger timer or a write error
	case errors.Is(err, io.EOF):
		c.mu.Lock()
		open := len(c.streams)
		c.mu.Unlock()
		if open == 0 {
			return nil
		}
		return fmt.Errorf("%w: client hung up with %d streams open", ErrConnClosed, open)
	default:
		return err
	}
}

// otherFrame acts on the frames the link leaves to the side.
func (c *Conn) otherFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return c.resetForError(f.StreamID, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
		}
		return c.countControl() // priorities are advisory; RFC 9113 deprecates them
	case *http2.PushPromiseFrame:
		return c.connError(http2.ErrCodeProtocol, "PUSH_PROMISE from a client", nil)
	default:
		return c.countControl() // unknown types and PRIORITY_UPDATE: ignored
	}
}

// ---- frame handlers (serve loop) ----

func (c *Conn) onSettings(f *http2.SettingsFrame) error {
	if err := c.countControl(); err != nil {
		return err
	}
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		var ce http2.ConnectionError
		errors.As(err, &ce)
		return c.connError(http2.ErrCode(ce), "invalid SETTINGS value", nil)
	}
	return c.applySettings(f)
}

// newBlock: client streams have odd ids (RFC 9113 §5.1.1).
func (c *Conn) newBlock(id uint32) error {
	if id%2 == 0 {
		return c.connError(http2.ErrCodeProtocol, "even stream id from a client", nil)
	}
	return nil
}

// endBlock acts on a complete header block: a new request, trailers, or a
// block on a stream that cannot take one.
func (c *Conn) endBlock(hb *headerBlock) error {
	id := hb.streamID
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		c.mu.Unlock()
		return c.onTrailers(s, hb)
	}
	if id <= c.lastStreamID {
		how := c.closedHowLocked(id)
		c.mu.Unlock()
		switch how {
		case closedByUs:
			return c.countControl() // raced our RST_STREAM: ignore (RFC 9113 §5.1)
		case closedNormal:
			// RFC 9113 §5.1: a frame after END_STREAM both ways.
			return c.connError(http2.ErrCodeStreamClosed, "HEADERS on a closed stream", nil)
		case closedByPeer:
			if err := c.countControl(); err != nil {
				return err
			}
			return c.resetForError(id, http2.ErrCodeStreamClosed, "HEADERS on a stream reset by the client", nil, false)
		}
		return c.connError(http2.ErrCodeProtocol, "HEADERS on a stream id lower than a previous one", nil)
	}
	c.lastStreamID = id
	switch {
	case c.shutdown || c.peerGoAway || c.closing:
		c.recordClosedLocked(id, closedByUs)
		c.mu.Unlock()
		c.refuse(id)
		return nil
	case len(c.streams) >= int(c.cfg.MaxConcurrentStreams):
		// Only a client ignoring the limit it was sent gets here (or one
		// that opened streams before reading our SETTINGS). The refusal
		// is ours, not a reset by the client: it costs the control-frame
		// budget, never the reset budget a compliant client lives within.
		c.recordClosedLocked(id, closedByUs)
		c.mu.Unlock()
		c.refuse(id)
		return c.countControl()
	}
	c.mu.Unlock()
	if hb.selfDep {
		return c.resetForError(id, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
	}
	req, reason := buildRequest(hb.fields, hb.endStream)
	if reason != "" {
		return c.resetForError(id, http2.ErrCodeProtocol, reason, ErrMalformed, true)
	}
	s := &Stream{c: c, req: req}
	c.mu.Lock()
	c.initFlowLocked(&s.streamFlow, id)
	s.recvEnded = hb.endStream
	c.streams[id] = s
	c.live++
	start, handoff := c.handlers < c.maxHandlers(), false
	if start {
		c.handlers++
		s.handlerRunning = true
		if c.spares > 0 {
			// A goroutine whose handler returned runs this one, with the
			// stack it has grown already.
			c.spares--
			c.handoff = append(c.handoff, s)
			c.spareCond.Signal()
			handoff = true
		}
	} else {
		// Handlers of streams already closed are still returning: the
		// stream is open (the client may send its body) and waits for one
		// of them instead of being refused below the advertised limit.
		s.queued = true
		c.pending = append(c.pending, s)
	}
	c.mu.Unlock()
	if start && !handoff {
		c.startHandler(s)
	}
	return nil
}

// maxHandlers bounds the handler goroutines of the connection: one per
// open stream, plus handlerSlack for handlers of closed streams that have
// not returned yet.
func (c *Conn) maxHandlers() int {
	return int(c.cfg.MaxConcurrentStreams) + handlerSlack
}

// startHandler runs s's handler on its own goroutine; the caller has
// counted it in c.handlers.
func (c *Conn) startHandler(s *Stream) {
	c.wg.Add(1)
	go c.runHandler(s)
}

// nextPendingLocked takes the oldest stream waiting for a handler, counted
// as running, or returns nil. Needs c.mu.
func (c *Conn) nextPendingLocked() *Stream {
	if len(c.pending) == 0 || c.handlers >= c.maxHandlers() {
		return nil
	}
	s := c.pending[0]
	c.pending = slices.Delete(c.pending, 0, 1) // at most MaxConcurrentStreams
	s.queued = false
	s.handlerRunning = true
	c.handlers++
	return s
}

// unqueueLocked drops s, closed before its handler started, from the
// streams waiting for one. Needs c.mu.
func (c *Conn) unqueueLocked(s *Stream) {
	if i := slices.Index(c.pending, s); i >= 0 {
		c.pending = slices.Delete(c.pending, i, i+1)
	}
	s.queued = false
}

func (c *Conn) refuse(id uint32) {
	c.writeRST(id, http2.ErrCodeRefusedStream)
}

func (c *Conn) onTrailers(s *Stream, hb *headerBlock) error {
	c.mu.Lock()
	recvEnded := s.recvEnded
	c.mu.Unlock()
	if recvEnded {
		return c.resetForError(s.id, http2.ErrCodeStreamClosed, "HEADERS on a half-closed stream", nil, true)
	}
	if hb.selfDep {
		return c.resetForError(s.id, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
	}
	if reason := c.trailersReceived(s, hb, s.req.ContentLength); reason != "" {
		return c.resetForError(s.id, http2.ErrCodeProtocol, reason, ErrMalformed, true)
	}
	return nil
}

func (c *Conn) onData(f *http2.DataFrame) error {
	id, n := f.StreamID, int64(f.Length)
	data := f.Data()
	c.mu.Lock()
	s := c.streams[id]
	if s == nil || s.recvEnded || n > s.recvWindow {
		// Not delivered: give the connection window back at once.
		c.recvUnacked += n
		wc := c.connCreditLocked()
		how := c.closedHowLocked(id)
		c.mu.Unlock()
		if err := c.sendWindowUpdates(nil, 0, wc); err != nil {
			return err
		}
		switch {
		case s != nil && !s.recvEnded:
			return c.resetForError(id, http2.ErrCodeFlowControl, "DATA beyond the stream window", nil, true)
		case s == nil && how == closedByUs:
			return c.countControl() // raced our RST_STREAM: ignore
		}
		if err := c.countControl(); err != nil {
			return err
		}
		return c.resetForError(id, http2.ErrCodeStreamClosed, "DATA on a closed or half-closed stream", nil, false)
	}
	s.recvWindow -= n
	if pad := n - int64(len(data)); pad > 0 {
		// Padding is never read by the handler: credit it now.
		s.recvUnacked += pad
		c.recvUnacked += pad
	}
	s.recvd += int64(len(data))
	cl := s.req.ContentLength
	if cl >= 0 && (s.recvd > cl || (f.StreamEnded() && s.recvd != cl)) {
		c.mu.Unlock()
		return c.resetForError(id, http2.ErrCodeProtocol, "DATA length differs from content-length", ErrMalformed, true)
	}
	if s.ended {
		c.recvUnacked += int64(len(data)) // nobody will read it
	} else {
		s.recv.write(data)
	}
	if f.StreamEnded() {
		c.endRecvLocked(s)
	}
	s.cond.Broadcast()
	ws, wc := c.streamCreditLocked(&s.streamFlow), c.connCreditLocked()
	c.mu.Unlock()
	if err := c.sendWindowUpdates(&s.streamFlow, ws, wc); err != nil {
		return err
	}
	if len(data) == 0 && !f.StreamEnded() {
		if err := c.countControl(); err != nil {
			return err
		}
	}
	c.maybeFinish()
	return nil
}

func (c *Conn) onRSTStream(f *http2.RSTStreamFrame) error {
	id := f.StreamID
	c.mu.Lock()
	if id > c.lastStreamID {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "RST_STREAM on an idle stream", nil)
	}
	if s := c.streams[id]; s != nil {
		c.closeStreamLocked(s, &ResetError{Code: f.ErrCode, Remote: true}, closedByPeer)
	}
	c.mu.Unlock()
	c.maybeFinish()
	return c.countReset()
}

// onGoAway: the client opens no more streams. Open ones go on, and the
// connection is not closed from here: the client closes it when it is done
// (RFC 9113 §6.8), and meanwhile still expects answers to PING and SETTINGS.
// Whatever the error code: an unknown one must not trigger anything special
// (§7), and a known one is the client's own diagnosis.
func (c *Conn) onGoAway(f *http2.GoAwayFrame) error {
	c.mu.Lock()
	c.peerGoAway = true
	c.mu.Unlock()
	return nil
}

// countReset counts one stream reset by the client or reset by us for a
// protocol error (never a stream we refused: that is our doing); past
// MaxResets per ResetWindow the connection ends (rapid reset,
// CVE-2023-44487). Serve loop only.
func (c *Conn) countReset() error {
	if c.resets.add(time.Now(), c.cfg.MaxResets, c.cfg.ResetWindow) {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "too many stream resets", ErrTooManyResets)
	}
	return nil
}

// countControl counts one frame that costs us work but serves no request.
// Serve loop only.
func (c *Conn) countControl() error {
	if c.controls.add(time.Now(), c.cfg.MaxControlFrames, c.cfg.ControlWindow) {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "too many control frames", ErrControlFlood)
	}
	return nil
}

// ---- errors, resets, ending ----

func (c *Conn) report(err error) {
	if c.cfg.OnProtocolError != nil {
		c.cfg.OnProtocolError(err)
	}
}

// resetForError resets stream id with code, tells OnProtocolError and,
// when count, counts the reset toward MaxResets. It returns a non-nil error only
// when the connection must end.
func (c *Conn) resetForError(id uint32, code http2.ErrCode, reason string, sentinel error, count bool) error {
	pe := &ProtocolError{Stream: id, Code: code, Reason: reason, Err: sentinel}
	c.report(pe)
	c.resetStream(id, nil, code, pe)
	if count {
		return c.countReset()
	}
	return nil
}

// streamError is resetForError counting the reset (side of link).
func (c *Conn) streamError(id uint32, code http2.ErrCode, reason string, sentinel error) error {
	return c.resetForError(id, code, reason, sentinel, true)
}

// connError starts the end of the connection with GOAWAY(code) and returns
// the error for Serve.
func (c *Conn) connError(code http2.ErrCode, reason string, sentinel error) error {
	pe := &ProtocolError{Code: code, Reason: reason, Err: sentinel}
	c.report(pe)
	c.goAway(code, pe, reason)
	return pe
}

// goAway decides the end of the connection: it ends every open stream when
// cause is an error, sends GOAWAY (once) and half-closes the transport, then
// leaves the serve loop to drain input until the client closes or the
// linger timer closes t. Safe from any goroutine; only the first call acts.
func (c *Conn) goAway(code http2.ErrCode, cause error, debug string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if c.endErr == nil {
		c.endErr = cause
	}
	if cause != nil {
		c.closeAllLocked(cause)
	}
	last := c.lastStreamID
	c.lingerTimer = time.AfterFunc(lingerTimeout, func() { c.t.Close() })
	c.mu.Unlock()
	if c.wakeParked != nil {
		c.wakeParked() // a parked serve loop must drain and close (park.go)
	}

	c.lockW()
	if c.prefaceSent && (!c.goAwaySent || code != http2.ErrCodeNo) {
		var dbg []byte
		if debug != "" {
			dbg = []byte(debug)
		}
		c.fr.WriteGoAway(last, code, dbg)
		c.goAwaySent = true
	}
	// Everything buffered goes out before our FIN.
	if cw, ok := c.t.(interface{ CloseWrite() error }); ok && c.drainLocked() == nil {
		cw.CloseWrite()
	}
	c.werr = ErrConnClosed // nothing more may be written after our FIN
	c.unlockW()
}

// maybeFinish ends the connection gracefully once Shutdown was called and
// no stream is live.
func (c *Conn) maybeFinish() {
	c.mu.Lock()
	done := c.shutdown && c.live == 0 && !c.closing
	c.mu.Unlock()
	if done {
		c.goAway(http2.ErrCodeNo, nil, "")
	}
}

// drain reads and drops input after the last GOAWAY until the client
// closes, the linger timer closes t, or lingerMaxBytes.
func (c *Conn) drain() {
	io.Copy(io.Discard, io.LimitReader(&c.r, lingerMaxBytes))
}

// Shutdown stops the connection gracefully: GOAWAY(NO_ERROR) naming the
// last stream accepted, new streams refused with REFUSED_STREAM, open ones
// left to finish, then the connection closes and Serve returns nil. Safe
// from any goroutine, idempotent.
func (c *Conn) Shutdown() {
	c.shutdownGracefully()
}

// lastPeerStreamLocked is the last stream accepted, for GOAWAY. Holding mu
// while the reader would accept a stream makes it exact: any stream after
// it sees shutdown and is refused.
func (c *Conn) lastPeerStreamLocked() uint32 { return c.lastStreamID }

// Close aborts the connection now: every stream's Done closes, blocked
// Reads and Writes return errors, Serve returns ErrConnClosed.
func (c *Conn) Close() {
	c.abort(ErrConnClosed)
}

// drainedLocked: the serve loop's error says why the connection ended,
// unless one was recorded first.
func (c *Conn) drainedLocked() bool { return false }

// streamClosedLocked is told by the link that s closed: a stream waiting
// for a handler leaves the queue (its handler never runs), one whose
// handler is not running stops being live, and an abnormal end runs
// OnAbort's function.
func (c *Conn) streamClosedLocked(s *Stream, wasOpen bool, err error) {
	if s.queued {
		c.unqueueLocked(s)
	}
	if wasOpen && !s.handlerRunning {
		c.liveDoneLocked()
	}
	if err != nil && s.onAbort != nil {
		s.onAbort()
	}
	s.onAbort = nil
}

// idleLocked: a client stream id not used yet.
func (c *Conn) idleLocked(id uint32) bool { return id > c.lastStreamID }

// controlFrame counts a PING or a frame on a closed stream as a control
// frame.
func (c *Conn) controlFrame() error { return c.countControl() }

// settingLocked: the link applies every setting a client sends that the
// server acts on.
func (c *Conn) settingLocked(http2.Setting) {}

// connStalled: a client that keeps the connection window at zero stops
// every response with a body; the connection ends
// (GOAWAY(ENHANCE_YOUR_CALM), every stream fails).
func (c *Conn) connStalled(_ *Stream, pe *ProtocolError) {
	c.goAway(pe.Code, pe, pe.Reason)
}

func (c *Conn) liveDoneLocked() {
	c.live--
	if c.live == 0 {
		if c.spares > 0 {
			c.lingerSparesLocked()
		}
		if c.cfg.IdleTimeout > 0 {
			c.touch()
		}
	}
}

func (c *Conn) touch() { c.lastActivityNano.Store(time.Now().UnixNano()) }

// idleCheck runs from the idle timer: it ends a connection with no live
// stream and no frame for IdleTimeout, else re-arms.
func (c *Conn) idleCheck() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	next := c.cfg.IdleTimeout
	if c.live == 0 {
		idle := time.Since(time.Unix(0, c.lastActivityNano.Load()))
		if idle >= c.cfg.IdleTimeout {
			c.mu.Unlock()
			c.goAway(http2.ErrCodeNo, ErrIdleTimeout, "")
			return
		}
		next = c.cfg.IdleTimeout - idle
	}
	c.idleTimer.Reset(next)
	c.mu.Unlock()
}

// runHandler runs the handler of s, then of the streams waiting for one,
// then, while the connection has live streams, of the new streams handed
// to it as a spare.
func (c *Conn) runHandler(s *Stream) {
	defer c.wg.Done()
	for s != nil {
		s = c.runOne(s)
		if s == nil {
			s = c.awaitStream()
		}
	}
}

// runOne runs the handler of s and returns the next stream waiting for
// one, if any.
func (c *Conn) runOne(s *Stream) (next *Stream) {
	defer func() { next = c.handlerReturned(s) }()
	c.h(s)
	return nil
}

// maxSpares bounds the handler goroutines kept waiting for a stream. Each
// new stream otherwise starts a goroutine whose stack grows again through
// the whole proxy path (runtime.newstack was 8 % of the CPU in the tls-h2
// benchmark); a few spares per connection cover a client keeping several
// streams in flight.
const maxSpares = handlerSlack

// spareLinger is how long spares outlive the connection's last live
// stream: a client that sends its requests in rounds (h2load -m10 sends
// ten as soon as the last ten answers arrived, and the answers of a round
// leave together) finds them still there, while a connection left idle
// soon holds no goroutine.
const spareLinger = 100 * time.Millisecond

// awaitStream keeps a goroutine whose handler returned as a spare and
// returns the stream handed to it, or nil when it should end: enough
// spares, no live stream for spareLinger, or the connection closing.
func (c *Conn) awaitStream() *Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spares >= maxSpares || c.closing {
		return nil
	}
	c.spares++
	if c.live == 0 {
		c.lingerSparesLocked()
	}
	gen := c.spareGen
	for len(c.handoff) == 0 && c.spareGen == gen && !c.closing {
		c.spareCond.Wait()
	}
	if len(c.handoff) == 0 {
		c.spares--
		return nil
	}
	s := c.handoff[0]
	c.handoff = slices.Delete(c.handoff, 0, 1) // at most maxSpares
	return s
}

// lingerSparesLocked arms the end of the spares, spareLinger from now
// unless a stream is live by then. Needs mu.
func (c *Conn) lingerSparesLocked() {
	if c.spareTimer == nil {
		c.spareTimer = time.AfterFunc(spareLinger, c.endSpares)
		return
	}
	c.spareTimer.Reset(spareLinger)
}

// endSpares runs from the spare timer: with no live stream, the spares
// waiting end.
func (c *Conn) endSpares() {
	c.mu.Lock()
	if c.live == 0 {
		c.spareGen++
		c.spareCond.Broadcast()
	}
	c.mu.Unlock()
}

// handlerReturned ends what the handler left open, releases the stream's
// slot and returns the oldest stream waiting for a handler, now counted
// as running, if any.
func (c *Conn) handlerReturned(s *Stream) *Stream {
	c.mu.Lock()
	ended, endSent, closed := s.ended, s.endSent, s.closed
	c.mu.Unlock()
	if !ended && !closed {
		if endSent {
			c.resetStream(s.id, s, http2.ErrCodeNo, nil)
		} else {
			c.resetStream(s.id, s, http2.ErrCodeInternal, errors.New("h2: handler returned without ending the stream"))
		}
	}
	c.mu.Lock()
	s.ended = true
	s.handlerRunning = false
	if !s.inMap {
		c.liveDoneLocked()
	}
	c.handlers--
	next := c.nextPendingLocked()
	c.mu.Unlock()
	c.releaseBody(s)
	c.maybeFinish()
	return next
}
