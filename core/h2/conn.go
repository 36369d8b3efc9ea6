package h2

import (
	"bufio"
	"bytes"
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
	// Immutable after NewConn:
	t   Transport
	cfg Config
	h   Handler

	// Owned by the serve loop (the goroutine running Serve):
	r            prereadReader
	blockDecoder // header blocks being received (block.go)
	resets       rateCounter
	controls     rateCounter

	// fr reads in the serve loop; its write methods need wmu.
	fr *http2.Framer

	// Guarded by wmu: frame writes and the HPACK encoder, whose dynamic
	// table must see header blocks in the order they hit the wire.
	wmu         sync.Mutex
	bw          *bufio.Writer // from writerPool during a logical write
	enc         *hpack.Encoder
	hbuf        bytes.Buffer
	werr        error // sticky write error
	prefaceSent bool
	goAwaySent  bool

	// Guarded by mu. Lock order: wmu before mu; mu is never held while
	// writing to t or waiting for wmu.
	mu               sync.Mutex
	streams          map[uint32]*Stream // open and half-closed streams
	live             int                // streams open or whose handler runs
	handlers         int                // handler goroutines started, not returned
	pending          []*Stream          // open streams waiting for a handler, oldest first
	lastStreamID     uint32             // highest client stream id seen
	sendWindow       int64              // connection send window
	recvWindow       int64              // what the client may still send
	recvUnacked      int64              // consumed, not yet granted back
	peerInitial      int64              // client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame     int                // client's SETTINGS_MAX_FRAME_SIZE
	shutdown         bool               // Shutdown called: no new streams
	peerGoAway       bool               // client sent GOAWAY: no new streams
	closing          bool               // final GOAWAY decided: draining
	dead             bool               // torn down: every write fails
	endErr           error              // why the connection ends
	lingerTimer      *time.Timer
	idleTimer        *time.Timer
	recent           [recentClosed]closedRec
	recentNext       int
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
	store []byte // the buffer's storage, allocated on the first fill
}

// readBufSize is the read buffer of a connection. Reads at least this big
// go straight to the transport.
const readBufSize = 4 << 10

func (r *prereadReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if len(p) >= readBufSize {
			return r.t.Read(p)
		}
		if r.store == nil {
			r.store = make([]byte, readBufSize)
		}
		n, err := r.t.Read(r.store)
		if n == 0 {
			return 0, err
		}
		r.buf = r.store[:n] // an error with data comes back on the next read
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// connWriter is the Framer's writer: frames go to a pooled buffer flushed
// at the end of each logical write. Used with wmu held.
type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) {
	c := w.c
	if c.werr != nil {
		return 0, c.werr
	}
	if c.bw == nil {
		c.bw = writerPool.Get().(*bufio.Writer)
		c.bw.Reset(c.t)
	}
	return c.bw.Write(p)
}

// NewConn returns a connection ready to Serve. preread holds bytes already
// read from t (it may hold the preface and more); the Conn reads it before
// t and does not modify it.
func NewConn(t Transport, preread []byte, cfg Config, h Handler) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		t:            t,
		cfg:          cfg,
		h:            h,
		r:            prereadReader{buf: preread, t: t},
		streams:      make(map[uint32]*Stream),
		sendWindow:   65535,
		recvWindow:   int64(cfg.ConnWindowSize),
		peerInitial:  65535,
		peerMaxFrame: 16384,
	}
	c.fr = http2.NewFramer(connWriter{c}, &c.r)
	c.fr.SetMaxReadFrameSize(cfg.MaxFrameSize)
	c.fr.SetReuseFrames()
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.initDecoder(cfg.MaxHeaderListSize)
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
// ErrIdleTimeout, or the transport's error.
func (c *Conn) Serve() error {
	err := c.serve()
	c.teardown(err)
	c.wg.Wait()
	c.mu.Lock()
	err = c.endErr
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.mu.Unlock()
	c.hb = headerBlock{}
	return err
}

func (c *Conn) serve() error {
	err := c.serveFrames()
	if c.isClosing() {
		// A GOAWAY went out (or t is closed): let the client read it.
		c.drain()
	}
	return err
}

func (c *Conn) serveFrames() error {
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: c.cfg.InitialWindowSize},
		{ID: http2.SettingMaxFrameSize, Val: c.cfg.MaxFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.MaxHeaderListSize},
	}
	c.wmu.Lock()
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
	err := c.flushLocked()
	c.wmu.Unlock()
	if err != nil {
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

	first := true
	for {
		if c.isClosing() {
			return nil
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
		if first {
			first = false
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
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		reason := "invalid frame"
		if se.Cause != nil {
			reason = se.Cause.Error()
		}
		return c.streamError(se.StreamID, se.Code, reason, nil, true)
	case errors.As(err, &ce):
		reason := "invalid frame"
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		return c.connError(http2.ErrCode(ce), reason, nil)
	case errors.Is(err, http2.ErrFrameTooLarge):
		return c.connError(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE", nil)
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

func (c *Conn) processFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.HeadersFrame:
		return c.onHeaders(f)
	case *http2.ContinuationFrame:
		return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded(), f.Length)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onRSTStream(f)
	case *http2.PingFrame:
		if err := c.countControl(); err != nil {
			return err
		}
		if f.IsAck() {
			return nil // we send no PING: an unsolicited ack is ignored
		}
		c.wmu.Lock()
		c.fr.WritePing(true, f.Data)
		err := c.flushLocked()
		c.wmu.Unlock()
		return err
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return c.streamError(f.StreamID, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
		}
		return c.countControl() // priorities are advisory; RFC 9113 deprecates them
	case *http2.GoAwayFrame:
		return c.onGoAway(f)
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
	// Values apply in the order they appear (RFC 9113 §6.5.3). wmu is held
	// from before they apply until the ACK is written, so no frame sent
	// under the new values precedes the ACK.
	var tableSize uint32
	hasTable, overflow := false, false
	c.wmu.Lock()
	c.mu.Lock()
	f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = st.Val, true
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(st.Val)
		case http2.SettingInitialWindowSize:
			// RFC 9113 §6.9.2: the change applies to every open stream's
			// send window, which may go negative.
			delta := int64(st.Val) - c.peerInitial
			c.peerInitial = int64(st.Val)
			for _, s := range c.streams {
				s.sendWindow += delta
				overflow = overflow || s.sendWindow > maxWindow
				s.cond.Broadcast()
			}
		}
		return nil
	})
	c.mu.Unlock()
	if overflow {
		c.wmu.Unlock()
		return c.connError(http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window", nil)
	}
	if hasTable {
		c.enc.SetMaxDynamicTableSize(tableSize)
	}
	c.fr.WriteSettingsAck()
	err := c.flushLocked()
	c.wmu.Unlock()
	return err
}

func (c *Conn) onHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return c.connError(http2.ErrCodeProtocol, "even stream id from a client", nil)
	}
	c.hb = headerBlock{
		streamID:  id,
		endStream: f.StreamEnded(),
		selfDep:   f.HasPriority() && f.Priority.StreamDep == id,
		fields:    c.hb.fields[:0],
	}
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded(), f.Length)
}

// feedBlock decodes one fragment of a request's header block; the last
// one starts the stream. A header list over the limit ends the connection
// at once: the client cannot be trusted to stop sending.
func (c *Conn) feedBlock(frag []byte, end bool, frameLen uint32) error {
	done, berr := c.decode(frag, end, frameLen)
	if berr != nil {
		return c.connError(berr.code, berr.reason, berr.err)
	}
	if c.hb.tooLarge {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "header list too large", ErrHeaderListTooLarge)
	}
	if !done {
		return nil
	}
	err := c.endBlock()
	c.recycle()
	return err
}

// endBlock acts on a complete header block: a new request, trailers, or a
// block on a stream that cannot take one.
func (c *Conn) endBlock() error {
	hb := &c.hb
	id := hb.streamID
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		c.mu.Unlock()
		return c.onTrailers(s)
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
			return c.streamError(id, http2.ErrCodeStreamClosed, "HEADERS on a stream reset by the client", nil, false)
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
		return c.streamError(id, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
	}
	req, reason := buildRequest(hb.fields, hb.endStream)
	if reason != "" {
		return c.streamError(id, http2.ErrCodeProtocol, reason, ErrMalformed, true)
	}
	s := &Stream{
		id:         id,
		c:          c,
		req:        req,
		done:       make(chan struct{}),
		inMap:      true,
		recvEnded:  hb.endStream,
		recvWindow: int64(c.cfg.InitialWindowSize),
	}
	s.cond.L = &c.mu
	c.mu.Lock()
	s.sendWindow = c.peerInitial
	c.streams[id] = s
	c.live++
	start := c.handlers < c.maxHandlers()
	if start {
		c.handlers++
		s.handlerRunning = true
	} else {
		// Handlers of streams already closed are still returning: the
		// stream is open (the client may send its body) and waits for one
		// of them instead of being refused below the advertised limit.
		s.queued = true
		c.pending = append(c.pending, s)
	}
	c.mu.Unlock()
	if start {
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

func (c *Conn) onTrailers(s *Stream) error {
	hb := &c.hb
	c.mu.Lock()
	recvEnded := s.recvEnded
	c.mu.Unlock()
	if recvEnded {
		return c.streamError(s.id, http2.ErrCodeStreamClosed, "HEADERS on a half-closed stream", nil, true)
	}
	if !hb.endStream {
		return c.streamError(s.id, http2.ErrCodeProtocol, "trailers without END_STREAM", ErrMalformed, true)
	}
	if hb.selfDep {
		return c.streamError(s.id, http2.ErrCodeProtocol, "stream depends on itself", nil, true)
	}
	if reason := checkTrailers(hb.fields); reason != "" {
		return c.streamError(s.id, http2.ErrCodeProtocol, reason, ErrMalformed, true)
	}
	c.mu.Lock()
	if cl := s.req.ContentLength; cl >= 0 && cl != s.recvd {
		c.mu.Unlock()
		return c.streamError(s.id, http2.ErrCodeProtocol, "body shorter than content-length", ErrMalformed, true)
	}
	s.trailers = append([]hpack.HeaderField(nil), hb.fields...)
	c.endRecvLocked(s)
	c.mu.Unlock()
	c.maybeFinish()
	return nil
}

func (c *Conn) onData(f *http2.DataFrame) error {
	id, n := f.StreamID, int64(f.Length)
	data := f.Data()
	c.mu.Lock()
	if id > c.lastStreamID {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "DATA on an idle stream", nil)
	}
	if n > c.recvWindow {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeFlowControl, "DATA beyond the connection window", nil)
	}
	c.recvWindow -= n
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
			return c.streamError(id, http2.ErrCodeFlowControl, "DATA beyond the stream window", nil, true)
		case s == nil && how == closedByUs:
			return c.countControl() // raced our RST_STREAM: ignore
		}
		if err := c.countControl(); err != nil {
			return err
		}
		return c.streamError(id, http2.ErrCodeStreamClosed, "DATA on a closed or half-closed stream", nil, false)
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
		return c.streamError(id, http2.ErrCodeProtocol, "DATA length differs from content-length", ErrMalformed, true)
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
	ws, wc := c.creditLocked(s)
	c.mu.Unlock()
	if err := c.sendWindowUpdates(s, ws, wc); err != nil {
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

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	id, incr := f.StreamID, int64(f.Increment)
	c.mu.Lock()
	if id == 0 {
		c.sendWindow += incr
		if c.sendWindow > maxWindow {
			c.mu.Unlock()
			return c.connError(http2.ErrCodeFlowControl, "connection window above 2^31-1", nil)
		}
		for _, s := range c.streams {
			s.cond.Broadcast()
		}
		c.mu.Unlock()
		return nil
	}
	if id > c.lastStreamID {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream", nil)
	}
	s := c.streams[id]
	if s == nil {
		c.mu.Unlock()
		return c.countControl() // closed: RFC 9113 §5.1 lets it through
	}
	s.sendWindow += incr
	if s.sendWindow > maxWindow {
		c.mu.Unlock()
		return c.streamError(id, http2.ErrCodeFlowControl, "stream window above 2^31-1", nil, true)
	}
	s.cond.Broadcast()
	c.mu.Unlock()
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

// streamError resets stream id with code, tells OnProtocolError and, when
// count, counts the reset toward MaxResets. It returns a non-nil error only
// when the connection must end.
func (c *Conn) streamError(id uint32, code http2.ErrCode, reason string, sentinel error, count bool) error {
	pe := &ProtocolError{Stream: id, Code: code, Reason: reason, Err: sentinel}
	c.report(pe)
	c.resetStream(id, nil, code, pe)
	if count {
		return c.countReset()
	}
	return nil
}

// connError starts the end of the connection with GOAWAY(code) and returns
// the error for Serve.
func (c *Conn) connError(code http2.ErrCode, reason string, sentinel error) error {
	pe := &ProtocolError{Code: code, Reason: reason, Err: sentinel}
	c.report(pe)
	c.goAway(code, pe, reason)
	return pe
}

// resetStream sends RST_STREAM(code) on id and closes the stream if it is
// open. When only is non-nil, nothing happens unless only is the open
// stream (a handler's Reset of an already closed stream).
func (c *Conn) resetStream(id uint32, only *Stream, code http2.ErrCode, cause error) {
	c.wmu.Lock()
	c.mu.Lock()
	s := c.streams[id]
	if only != nil && s != only {
		c.mu.Unlock()
		c.wmu.Unlock()
		return
	}
	if s != nil {
		var err error = &ResetError{Code: code, Err: cause}
		if code == http2.ErrCodeNo && s.endSent {
			err = nil // RFC 9113 §8.1: response complete, request body not wanted
		}
		c.closeStreamLocked(s, err, closedByUs)
	} else {
		c.recordClosedLocked(id, closedByUs)
	}
	dead := c.dead
	c.mu.Unlock()
	if !dead {
		c.fr.WriteRSTStream(id, code)
		c.flushLocked()
	}
	c.wmu.Unlock()
	c.maybeFinish()
}

func (c *Conn) writeRST(id uint32, code http2.ErrCode) {
	c.wmu.Lock()
	c.fr.WriteRSTStream(id, code)
	c.flushLocked()
	c.wmu.Unlock()
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

	c.wmu.Lock()
	if c.prefaceSent && (!c.goAwaySent || code != http2.ErrCodeNo) {
		var dbg []byte
		if debug != "" {
			dbg = []byte(debug)
		}
		c.fr.WriteGoAway(last, code, dbg)
		c.goAwaySent = true
		c.flushLocked()
	}
	if cw, ok := c.t.(interface{ CloseWrite() error }); ok && c.werr == nil {
		cw.CloseWrite()
	}
	c.werr = ErrConnClosed // nothing more may be written after our FIN
	c.wmu.Unlock()
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

func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
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
	c.wmu.Lock()
	c.mu.Lock()
	if c.shutdown || c.closing {
		c.mu.Unlock()
		c.wmu.Unlock()
		return
	}
	// Holding mu while the reader would accept a stream makes the id in
	// GOAWAY exact: any stream after it sees shutdown and is refused.
	c.shutdown = true
	last := c.lastStreamID
	c.mu.Unlock()
	if c.prefaceSent && !c.goAwaySent {
		c.fr.WriteGoAway(last, http2.ErrCodeNo, nil)
		c.goAwaySent = true
		c.flushLocked()
	}
	c.wmu.Unlock()
	c.maybeFinish()
}

// Close aborts the connection now: every stream's Done closes, blocked
// Reads and Writes return errors, Serve returns ErrConnClosed.
func (c *Conn) Close() {
	c.abort(ErrConnClosed)
}

func (c *Conn) abort(err error) {
	c.mu.Lock()
	c.closing = true
	if c.endErr == nil {
		c.endErr = err
	}
	c.closeAllLocked(err)
	c.mu.Unlock()
	c.t.Close()
}

// teardown runs when the serve loop ends: the connection is dead, every
// stream ends, t closes.
func (c *Conn) teardown(err error) {
	c.mu.Lock()
	c.closing, c.dead = true, true
	if c.endErr == nil && err != nil {
		c.endErr = err
	}
	cause := c.endErr
	if cause == nil {
		cause = ErrConnClosed
	}
	c.closeAllLocked(cause)
	c.mu.Unlock()
	c.t.Close()
	c.wmu.Lock()
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
	if c.werr == nil {
		c.werr = ErrConnClosed
	}
	c.wmu.Unlock()
}

func (c *Conn) closeAllLocked(cause error) {
	if !errors.Is(cause, ErrConnClosed) {
		cause = fmt.Errorf("%w: %w", ErrConnClosed, cause)
	}
	for _, s := range c.streams {
		c.closeStreamLocked(s, cause, closedByUs)
	}
}

// closeStreamLocked moves s to closed: Done closes with err (nil for a
// normal end), waiters wake, and an abnormal end drops the unread body.
func (c *Conn) closeStreamLocked(s *Stream, err error, how closeHow) {
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	if s.queued {
		c.unqueueLocked(s) // its handler never runs
	}
	if s.inMap {
		delete(c.streams, s.id)
		s.inMap = false
		if !s.handlerRunning {
			c.liveDoneLocked()
		}
	}
	c.recordClosedLocked(s.id, how)
	if err != nil {
		c.recvUnacked += int64(s.recv.release())
		if s.onAbort != nil {
			s.onAbort()
		}
	}
	s.onAbort = nil
	close(s.done)
	s.cond.Broadcast()
}

// endRecvLocked records the client's END_STREAM.
func (c *Conn) endRecvLocked(s *Stream) {
	s.recvEnded = true
	s.cond.Broadcast()
	if s.endSent {
		c.closeStreamLocked(s, nil, closedNormal)
	}
}

func (c *Conn) liveDoneLocked() {
	c.live--
	if c.live == 0 && c.cfg.IdleTimeout > 0 {
		c.touch()
	}
}

func (c *Conn) recordClosedLocked(id uint32, how closeHow) {
	c.recent[c.recentNext] = closedRec{id, how}
	c.recentNext = (c.recentNext + 1) % recentClosed
}

func (c *Conn) closedHowLocked(id uint32) closeHow {
	for _, r := range c.recent {
		if r.id == id {
			return r.how
		}
	}
	return 0
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

// ---- flow control ----

// creditLocked grants back what the handler consumed once it reaches half
// a window, so a slow handler back-pressures the client and WINDOW_UPDATE
// frames stay few. It returns the increments to send (0: none).
func (c *Conn) creditLocked(s *Stream) (ws, wc uint32) {
	if s != nil && !s.recvEnded && !s.closed && s.recvUnacked >= int64(c.cfg.InitialWindowSize/2) {
		ws = uint32(s.recvUnacked)
		s.recvWindow += s.recvUnacked
		s.recvUnacked = 0
	}
	return ws, c.connCreditLocked()
}

func (c *Conn) connCreditLocked() uint32 {
	if c.recvUnacked < int64(c.cfg.ConnWindowSize/2) {
		return 0
	}
	wc := uint32(c.recvUnacked)
	c.recvWindow += c.recvUnacked
	c.recvUnacked = 0
	return wc
}

func (c *Conn) sendWindowUpdates(s *Stream, ws, wc uint32) error {
	if ws == 0 && wc == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if wc > 0 {
		c.fr.WriteWindowUpdate(0, wc)
	}
	if ws > 0 {
		c.mu.Lock()
		closed := s.closed
		c.mu.Unlock()
		if !closed { // no frame but PRIORITY on a closed stream
			c.fr.WriteWindowUpdate(s.id, ws)
		}
	}
	return c.flushLocked()
}

// flushLocked ends a logical write: the buffered frames go out and the
// buffer returns to the pool. A write error is sticky and aborts the
// connection. Needs wmu.
func (c *Conn) flushLocked() error {
	if c.bw == nil {
		return c.werr
	}
	err := c.bw.Flush()
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.bw = nil
	if err != nil && c.werr == nil {
		c.werr = err
		c.abort(fmt.Errorf("h2: write: %w", err))
	}
	if c.werr != nil {
		return c.werr
	}
	return nil
}

func (c *Conn) runHandler(s *Stream) {
	defer c.wg.Done()
	defer c.handlerReturned(s)
	c.h(s)
}

// handlerReturned ends what the handler left open and releases the
// stream's slot.
func (c *Conn) handlerReturned(s *Stream) {
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
	if next != nil {
		// Serve's wg.Wait cannot have returned: this handler still counts.
		c.startHandler(next)
	}
	c.maybeFinish()
}
