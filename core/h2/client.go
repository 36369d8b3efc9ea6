package h2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The client side: the proxy speaking HTTP/2 to a server.
//
// # ClientConn states
//
// open → draining → closing → dead.
//   - open: NewClientConn sent the preface and SETTINGS; OpenStream takes
//     new streams while the server's SETTINGS_MAX_CONCURRENT_STREAMS allows.
//   - draining: Shutdown sent GOAWAY(NO_ERROR), or the server sent
//     GOAWAY(NO_ERROR). No new stream; open ones finish (those above the
//     server's last stream id fail with ErrRetryable at once).
//   - closing: the last stream of a draining connection ended, Close was
//     called, or a connection error (ours: GOAWAY sent; the server's: a
//     GOAWAY with an error code, a read error) failed every open stream. t
//     is closed.
//   - dead: the reader goroutine saw the end; Done is closed.
//
// # Goroutines and ownership
//
//   - The reader goroutine (started by NewClientConn) reads every frame and
//     owns the HPACK decoder and the header block being received. It never
//     holds a lock while it blocks in Read.
//   - Callers open streams and write request bodies and read responses from
//     their own goroutines.
//   - ClientConn.mu guards the stream table, windows and stream state;
//     ClientConn.wmu serialises frame writes (one Framer over a pooled
//     buffered writer, flushed at the end of each logical write), the HPACK
//     encoder and the choice of the next stream id (ids must reach the wire
//     in increasing order). wmu is taken before mu; mu is never held while
//     writing to t.

// Defaults of ClientConfig.
const (
	// 30 s: like the server side's ZeroWindowTimeout, long enough for a
	// busy server, short enough that a server that stopped reading does not
	// pin a client's request forever.
	DefaultClientZeroWindowTimeout = 30 * time.Second
	// maxStreamID is the last stream id (2^31-1); a ClientConn that has
	// used it takes no new stream.
	maxStreamID = 1<<31 - 1
	// maxInterimQueued bounds the interim (1xx) responses received and not
	// yet returned by ReadResponse: memory a hostile server could make a
	// stream hold. Beyond it the stream is reset.
	maxInterimQueued = 8
)

// ClientConfig holds a client connection's limits. Zero values mean the
// default.
type ClientConfig struct {
	// InitialWindowSize is the per-stream receive window advertised in
	// SETTINGS (default 256 KiB; at least 65535, at most 2^31-1). Credit
	// goes back to the server as Read consumes the body, so it bounds the
	// response bytes buffered per stream when the caller does not read.
	InitialWindowSize uint32
	// ConnWindowSize is the connection receive window (default 1 MiB; at
	// least 65535, at most 2^31-1). Connection credit goes back as DATA is
	// received into a stream's buffer (see RATIONALE: "Why does the client
	// credit the connection window on receipt?"), so it bounds the bytes in
	// flight on the connection; memory is bounded by open streams ×
	// InitialWindowSize.
	ConnWindowSize uint32
	// MaxHeaderListSize bounds a response (or trailer) header list: its
	// decoded size per RFC 9113 §6.5.2 (name+value+32 per field) and its
	// compressed size, frame headers included. Default 64 KiB. Advertised
	// in SETTINGS. A decoded list beyond it resets the stream
	// (ErrHeaderListTooLarge); a compressed block or a single field beyond
	// it ends the connection with GOAWAY(ENHANCE_YOUR_CALM) (HPACK bomb,
	// CONTINUATION flood).
	MaxHeaderListSize uint32
	// ZeroWindowTimeout: a Write blocked this long because the server keeps
	// a send window (the stream's or the connection's) at zero resets the
	// stream (CANCEL) and returns an error wrapping ErrZeroWindow. Default
	// 30 s.
	ZeroWindowTimeout time.Duration
}

func (cfg ClientConfig) withDefaults() ClientConfig {
	if cfg.InitialWindowSize == 0 {
		cfg.InitialWindowSize = DefaultInitialWindowSize
	}
	// Below 65535 the server could legally send more than advertised
	// before it sees our SETTINGS; the floor keeps one accounting rule.
	cfg.InitialWindowSize = clampU32(cfg.InitialWindowSize, 65535, maxWindow)
	if cfg.ConnWindowSize == 0 {
		cfg.ConnWindowSize = DefaultConnWindowSize
	}
	cfg.ConnWindowSize = clampU32(cfg.ConnWindowSize, 65535, maxWindow)
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if cfg.ZeroWindowTimeout <= 0 {
		cfg.ZeroWindowTimeout = DefaultClientZeroWindowTimeout
	}
	return cfg
}

// ClientConn is the client side of one HTTP/2 connection to a server.
type ClientConn struct {
	// Immutable after NewClientConn:
	t    Transport
	cfg  ClientConfig
	done chan struct{} // closed by the reader goroutine when the connection is dead

	// fr reads in the reader goroutine; its write methods need wmu.
	fr *http2.Framer

	// Owned by the reader goroutine:
	blockDecoder // response header blocks being received (block.go)
	gotSettings  bool

	// Guarded by wmu: frame writes, the HPACK encoder (its dynamic table
	// must see header blocks in wire order) and stream id allocation.
	wmu        sync.Mutex
	bw         *bufio.Writer // from writerPool during a logical write
	enc        *hpack.Encoder
	hbuf       bytes.Buffer
	werr       error // sticky write error
	goAwaySent bool

	// Guarded by mu. Lock order: wmu before mu; mu is never held while
	// writing to t or waiting for wmu.
	mu                sync.Mutex
	streams           map[uint32]*ClientStream // open and half-closed streams
	nextID            uint32                   // next stream id (changed with wmu held too)
	sendWindow        int64                    // connection send window
	recvWindow        int64                    // what the server may still send
	recvUnacked       int64                    // received, not yet granted back
	peerInitial       int64                    // server's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame      int                      // server's SETTINGS_MAX_FRAME_SIZE
	peerMaxStreams    uint32                   // server's SETTINGS_MAX_CONCURRENT_STREAMS
	peerMaxHeaderList uint32                   // server's SETTINGS_MAX_HEADER_LIST_SIZE, 0: none
	shutdown          bool                     // Shutdown called: draining
	goAway            bool                     // GOAWAY received: draining
	goAwayLast        uint32                   // the lowest last-stream-id received
	closing           bool                     // t is closed or being closed
	dead              bool                     // the reader ended; every write fails
	endErr            error                    // why the connection ended, nil for a graceful end
	idleSince         time.Time                // when the last open stream ended
	recent            [recentClosed]closedRec
	recentNext        int
}

// clientWriter is the Framer's writer: frames go to a pooled buffer flushed
// at the end of each logical write. Used with wmu held.
type clientWriter struct{ c *ClientConn }

func (w clientWriter) Write(p []byte) (int, error) {
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

// NewClientConn starts HTTP/2 over t (a TCP or TLS connection already
// negotiated for h2): it writes the preface and SETTINGS and starts the
// reader goroutine. It does not wait for the server's SETTINGS; until they
// arrive the protocol defaults apply (and 100 concurrent streams). A write
// error is not returned: the connection is then dead (Done closes) and
// OpenStream returns ErrRetryable.
func NewClientConn(t Transport, cfg ClientConfig) *ClientConn {
	cfg = cfg.withDefaults()
	c := &ClientConn{
		t:              t,
		cfg:            cfg,
		done:           make(chan struct{}),
		streams:        make(map[uint32]*ClientStream),
		nextID:         1,
		sendWindow:     65535,
		recvWindow:     int64(cfg.ConnWindowSize),
		peerInitial:    65535,
		peerMaxFrame:   16384,
		peerMaxStreams: DefaultMaxConcurrentStreams,
		idleSince:      time.Now(),
	}
	c.fr = http2.NewFramer(clientWriter{c}, t)
	c.fr.SetMaxReadFrameSize(DefaultMaxFrameSize) // the default we advertise by not sending it
	c.fr.SetReuseFrames()
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.initDecoder(cfg.MaxHeaderListSize)

	c.wmu.Lock()
	io.WriteString(clientWriter{c}, Preface)
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: cfg.InitialWindowSize},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.MaxHeaderListSize},
	)
	if cfg.ConnWindowSize > 65535 {
		c.fr.WriteWindowUpdate(0, cfg.ConnWindowSize-65535)
	}
	c.flushLocked() // an error aborts the connection
	c.wmu.Unlock()

	go c.readLoop()
	return c
}

// CanTakeNewStream reports whether OpenStream would send a new stream now:
// the connection is not closing or draining, and its open streams are
// fewer than the server's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its
// SETTINGS arrive).
func (c *ClientConn) CanTakeNewStream() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canTakeLocked() == nil
}

func (c *ClientConn) canTakeLocked() error {
	switch {
	case c.closing || c.dead:
		return fmt.Errorf("%w: connection closed", ErrRetryable)
	case c.goAway:
		return fmt.Errorf("%w: server sent GOAWAY", ErrRetryable)
	case c.shutdown:
		return fmt.Errorf("%w: connection shutting down", ErrRetryable)
	case c.nextID > maxStreamID:
		return fmt.Errorf("%w: stream ids exhausted", ErrRetryable)
	case len(c.streams) >= int(c.peerMaxStreams):
		return fmt.Errorf("%w: server's limit of %d concurrent streams reached", ErrRetryable, c.peerMaxStreams)
	}
	return nil
}

// ActiveStreams is the number of open (or half-closed) streams.
func (c *ClientConn) ActiveStreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

// Idle is how long the connection has had no open stream (0 while it has
// one), for a pool to close connections idle too long.
func (c *ClientConn) Idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.streams) > 0 {
		return 0
	}
	return time.Since(c.idleSince)
}

// Done is closed once the connection is dead: the reader goroutine has
// ended and every stream still open has failed.
func (c *ClientConn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended: nil while it lives or after a
// graceful end (Shutdown, or the server's GOAWAY(NO_ERROR) once the last
// stream ended), else an error wrapping ErrConnClosed, a *ProtocolError
// (our connection error), a *GoAwayError (the server's) or the transport's.
func (c *ClientConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// Close aborts the connection: every open stream fails with ErrConnClosed
// and t is closed; Done closes once the reader goroutine has seen it.
// Idempotent; it returns t.Close's error the first time.
func (c *ClientConn) Close() error {
	c.mu.Lock()
	first := !c.closing
	c.closing = true
	if c.endErr == nil && len(c.streams) > 0 {
		c.endErr = ErrConnClosed
	}
	c.closeAllLocked(ErrConnClosed)
	c.mu.Unlock()
	err := c.t.Close()
	if !first {
		return nil
	}
	return err
}

// Shutdown ends the connection gracefully: GOAWAY(NO_ERROR), no new
// stream, open streams finish, then t closes. Safe from any goroutine,
// idempotent; it does not wait (see Done).
func (c *ClientConn) Shutdown() {
	c.wmu.Lock()
	c.mu.Lock()
	if c.shutdown || c.closing {
		c.mu.Unlock()
		c.wmu.Unlock()
		return
	}
	c.shutdown = true
	c.mu.Unlock()
	if !c.goAwaySent {
		// A client's GOAWAY names the last server-initiated stream: none.
		c.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		c.goAwaySent = true
		c.flushLocked()
	}
	c.wmu.Unlock()
	c.maybeFinish()
}

// maybeFinish closes a draining connection once no stream is open. Called
// without mu.
func (c *ClientConn) maybeFinish() {
	c.mu.Lock()
	done := (c.shutdown || c.goAway) && len(c.streams) == 0 && !c.closing
	if done {
		c.closing = true
	}
	c.mu.Unlock()
	if done {
		c.t.Close()
	}
}

// ---- the reader goroutine ----

func (c *ClientConn) readLoop() {
	err := c.readFrames()
	c.teardown(err)
}

func (c *ClientConn) readFrames() error {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if err = c.readError(err); err != nil {
				return err
			}
			if c.isClosing() {
				return nil
			}
			continue
		}
		if !c.gotSettings {
			// RFC 9113 §3.4: the server's preface is a SETTINGS frame.
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return c.connError(http2.ErrCodeProtocol, "first frame is not SETTINGS", nil)
			}
			c.gotSettings = true
		}
		if err := c.processFrame(f); err != nil {
			return err
		}
	}
}

// readError turns a Framer read error into a stream error (nil: go on) or
// the error that ends the reader (nil too once the connection is closing:
// the end was decided elsewhere).
func (c *ClientConn) readError(err error) error {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case c.isClosing():
		return nil
	case errors.As(err, &se):
		reason := "invalid frame"
		if se.Cause != nil {
			reason = se.Cause.Error()
		}
		c.mu.Lock()
		idle := c.idleLocked(se.StreamID)
		c.mu.Unlock()
		if idle { // no RST_STREAM on an idle stream (§5.1)
			return c.connError(http2.ErrCodeProtocol, reason+" on a stream the client did not open", nil)
		}
		c.streamError(se.StreamID, se.Code, reason, nil)
		return nil
	case errors.As(err, &ce):
		reason := "invalid frame"
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		return c.connError(http2.ErrCode(ce), reason, nil)
	case errors.Is(err, http2.ErrFrameTooLarge):
		return c.connError(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE", nil)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: server closed the connection", ErrConnClosed)
	default:
		return fmt.Errorf("%w: read: %w", ErrConnClosed, err)
	}
}

func (c *ClientConn) processFrame(f http2.Frame) error {
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
		if f.IsAck() {
			return nil // we send no PING: an unsolicited ack is ignored
		}
		c.wmu.Lock()
		c.fr.WritePing(true, f.Data)
		err := c.flushLocked()
		c.wmu.Unlock()
		return err
	case *http2.GoAwayFrame:
		return c.onGoAway(f)
	case *http2.PushPromiseFrame:
		// We sent SETTINGS_ENABLE_PUSH=0 (RFC 9113 §6.6, §8.4).
		return c.connError(http2.ErrCodeProtocol, "PUSH_PROMISE with push disabled", nil)
	default:
		// PRIORITY (advisory, deprecated by RFC 9113, and about streams
		// the server sends on), PRIORITY_UPDATE and unknown types: ignored.
		return nil
	}
}

// idleLocked says whether id names a stream never opened: even ids (push
// is disabled, so the server opens none) and ids not yet used. Any frame
// on such a stream is a connection error (RFC 9113 §5.1).
func (c *ClientConn) idleLocked(id uint32) bool {
	return id%2 == 0 || id >= c.nextID
}

func (c *ClientConn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if s.ID == http2.SettingEnablePush && s.Val != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol) // §6.5.2: a server must not enable push
		}
		return s.Valid()
	})
	if err != nil {
		var ce http2.ConnectionError
		errors.As(err, &ce)
		return c.connError(http2.ErrCode(ce), "invalid SETTINGS value", nil)
	}
	// Values apply in order (RFC 9113 §6.5.3); wmu is held until the ACK
	// is written so no frame sent under the new values precedes it.
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
		case http2.SettingMaxConcurrentStreams:
			c.peerMaxStreams = st.Val
		case http2.SettingMaxHeaderListSize:
			c.peerMaxHeaderList = st.Val
		case http2.SettingInitialWindowSize:
			// §6.9.2: the change applies to every open stream's send
			// window, which may go negative.
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
	err = c.flushLocked()
	c.wmu.Unlock()
	return err
}

func (c *ClientConn) onHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	c.mu.Lock()
	idle := c.idleLocked(id)
	c.mu.Unlock()
	if idle {
		return c.connError(http2.ErrCodeProtocol, "HEADERS on a stream the client did not open", nil)
	}
	c.hb = headerBlock{
		streamID:  id,
		endStream: f.StreamEnded(),
		selfDep:   f.HasPriority() && f.Priority.StreamDep == id,
		fields:    c.hb.fields[:0],
	}
	c.dec.SetEmitEnabled(true)
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded(), f.Length)
}

// feedBlock decodes one fragment of a response header block. A decoded
// list over the limit fails only its stream (endBlock), as the server is
// one the configuration chose.
func (c *ClientConn) feedBlock(frag []byte, end bool, frameLen uint32) error {
	done, berr := c.decode(frag, end, frameLen)
	if berr != nil {
		return c.connError(berr.code, "response "+berr.reason, berr.err)
	}
	if !done {
		return nil
	}
	err := c.endBlock()
	c.recycle()
	return err
}

// endBlock acts on a complete header block: a response (interim or
// final), trailers, or a block on a stream that cannot take one.
func (c *ClientConn) endBlock() error {
	hb := &c.hb
	id := hb.streamID
	c.mu.Lock()
	s := c.streams[id]
	if s == nil {
		how := c.closedHowLocked(id)
		c.mu.Unlock()
		switch how {
		case closedByPeer:
			c.streamError(id, http2.ErrCodeStreamClosed, "HEADERS on a stream the server reset", nil)
		case closedNormal:
			// §5.1: a frame after the server's END_STREAM.
			return c.connError(http2.ErrCodeStreamClosed, "HEADERS on a closed stream", nil)
		}
		return nil // we reset it (frames crossing our RST_STREAM are ignored), or too old to tell
	}
	recvEnded, final := s.recvEnded, s.finalRecv
	c.mu.Unlock()
	switch {
	case recvEnded:
		c.streamError(id, http2.ErrCodeStreamClosed, "HEADERS after END_STREAM", nil)
		return nil
	case hb.selfDep:
		c.streamError(id, http2.ErrCodeProtocol, "stream depends on itself", nil)
		return nil
	case hb.tooLarge:
		c.streamError(id, http2.ErrCodeCancel, "response header list too large", ErrHeaderListTooLarge)
		return nil
	case final:
		c.onTrailers(s)
		return nil
	}
	resp, reason := buildResponse(hb.fields, hb.endStream)
	if reason != "" {
		c.streamError(id, http2.ErrCodeProtocol, reason, ErrMalformedResponse)
		return nil
	}
	c.mu.Lock()
	if resp.Status < 200 {
		if len(s.resps) >= maxInterimQueued {
			c.mu.Unlock()
			c.streamError(id, http2.ErrCodeCancel, "too many interim responses not read", ErrMalformedResponse)
			return nil
		}
	} else {
		s.finalRecv = true
		s.contentLength = resp.ContentLength
		s.noBody = s.head || resp.Status == 204 || resp.Status == 304
		if resp.EndStream && !s.noBody && resp.ContentLength > 0 {
			c.mu.Unlock()
			c.streamError(id, http2.ErrCodeProtocol, "no body but content-length", ErrMalformedResponse)
			return nil
		}
	}
	s.resps = append(s.resps, resp)
	if resp.EndStream {
		c.endRecvLocked(s)
	}
	s.cond.Broadcast()
	c.mu.Unlock()
	c.maybeFinish()
	return nil
}

func (c *ClientConn) onTrailers(s *ClientStream) {
	hb := &c.hb
	if !hb.endStream {
		c.streamError(s.id, http2.ErrCodeProtocol, "trailers without END_STREAM", ErrMalformedResponse)
		return
	}
	if reason := checkTrailers(hb.fields); reason != "" {
		c.streamError(s.id, http2.ErrCodeProtocol, reason, ErrMalformedResponse)
		return
	}
	c.mu.Lock()
	if cl := s.contentLength; cl >= 0 && !s.noBody && cl != s.recvd {
		c.mu.Unlock()
		c.streamError(s.id, http2.ErrCodeProtocol, "body shorter than content-length", ErrMalformedResponse)
		return
	}
	s.trailers = append([]hpack.HeaderField(nil), hb.fields...)
	c.endRecvLocked(s)
	c.mu.Unlock()
	c.maybeFinish()
}

func (c *ClientConn) onData(f *http2.DataFrame) error {
	id, n := f.StreamID, int64(f.Length)
	data := f.Data()
	c.mu.Lock()
	if c.idleLocked(id) {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "DATA on a stream the client did not open", nil)
	}
	if n > c.recvWindow {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeFlowControl, "DATA beyond the connection window", nil)
	}
	// The connection window is credited on receipt, whatever becomes of
	// the bytes: stream windows bound what is buffered.
	c.recvWindow -= n
	c.recvUnacked += n
	wc := c.connCreditLocked()

	var ws uint32
	var code http2.ErrCode
	var reason string
	var sentinel error
	connErr := false
	s := c.streams[id]
	switch {
	case s == nil:
		switch c.closedHowLocked(id) {
		case closedByPeer:
			code, reason = http2.ErrCodeStreamClosed, "DATA on a stream the server reset"
		case closedNormal:
			code, reason, connErr = http2.ErrCodeStreamClosed, "DATA on a closed stream", true
		}
		// else we reset it, or too old to tell: ignored.
	case s.recvEnded:
		code, reason = http2.ErrCodeStreamClosed, "DATA after END_STREAM"
	case !s.finalRecv:
		code, reason, sentinel = http2.ErrCodeProtocol, "DATA before the response HEADERS", ErrMalformedResponse
	case n > s.recvWindow:
		code, reason = http2.ErrCodeFlowControl, "DATA beyond the stream window"
	default:
		s.recvWindow -= n
		if pad := n - int64(len(data)); pad > 0 {
			s.recvUnacked += pad // padding is never read: credit it now
		}
		s.recvd += int64(len(data))
		cl := s.contentLength
		switch {
		case s.noBody && len(data) > 0:
			code, reason, sentinel = http2.ErrCodeProtocol, "DATA in a response without content", ErrMalformedResponse
		case !s.noBody && cl >= 0 && (s.recvd > cl || (f.StreamEnded() && s.recvd != cl)):
			code, reason, sentinel = http2.ErrCodeProtocol, "DATA length differs from content-length", ErrMalformedResponse
		default:
			s.recv.write(data)
			if f.StreamEnded() {
				c.endRecvLocked(s)
			}
			s.cond.Broadcast()
			ws = c.streamCreditLocked(s)
		}
	}
	c.mu.Unlock()
	if err := c.sendWindowUpdates(s, ws, wc); err != nil {
		return err
	}
	switch {
	case connErr:
		return c.connError(code, reason, sentinel)
	case reason != "":
		c.streamError(id, code, reason, sentinel)
	}
	c.maybeFinish()
	return nil
}

func (c *ClientConn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
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
	if c.idleLocked(id) {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE on a stream the client did not open", nil)
	}
	s := c.streams[id]
	if s == nil {
		c.mu.Unlock()
		return nil // closed: RFC 9113 §5.1 lets it through
	}
	s.sendWindow += incr
	if s.sendWindow > maxWindow {
		c.mu.Unlock()
		c.streamError(id, http2.ErrCodeFlowControl, "stream window above 2^31-1", nil)
		return nil
	}
	s.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *ClientConn) onRSTStream(f *http2.RSTStreamFrame) error {
	id := f.StreamID
	c.mu.Lock()
	if c.idleLocked(id) {
		c.mu.Unlock()
		return c.connError(http2.ErrCodeProtocol, "RST_STREAM on a stream the client did not open", nil)
	}
	if s := c.streams[id]; s != nil {
		var err error
		switch {
		case f.ErrCode == http2.ErrCodeNo && s.recvEnded:
			// §8.1: the response is complete and the server does not want
			// the rest of the request body: a normal end.
		case f.ErrCode == http2.ErrCodeRefusedStream:
			err = &ResetError{Code: f.ErrCode, Remote: true, Err: ErrRetryable} // §8.7: not processed
		default:
			err = &ResetError{Code: f.ErrCode, Remote: true}
		}
		c.closeStreamLocked(s, err, closedByPeer)
	}
	c.mu.Unlock()
	c.maybeFinish()
	return nil
}

// onGoAway: no new stream; streams above the last stream id were not
// processed and fail with ErrRetryable; with an error code the connection
// ends and every stream fails, else the others go on (draining).
func (c *ClientConn) onGoAway(f *http2.GoAwayFrame) error {
	c.mu.Lock()
	last := f.LastStreamID
	if c.goAway && last > c.goAwayLast {
		last = c.goAwayLast // a later GOAWAY cannot raise it (§6.8)
	}
	c.goAway, c.goAwayLast = true, last
	ge := &GoAwayError{LastStreamID: last, Code: f.ErrCode, Debug: string(f.DebugData())}
	for id, s := range c.streams {
		if id > last {
			c.closeStreamLocked(s, fmt.Errorf("%w: %w", ErrRetryable, ge), closedByUs)
		}
	}
	if f.ErrCode != http2.ErrCodeNo {
		c.closing = true
		if c.endErr == nil {
			c.endErr = ge
		}
		c.closeAllLocked(ge)
		c.mu.Unlock()
		c.t.Close()
		return ge
	}
	c.mu.Unlock()
	c.maybeFinish()
	return nil
}

// ---- errors, resets, ending ----

// streamError resets stream id with code (a stream error detected here).
func (c *ClientConn) streamError(id uint32, code http2.ErrCode, reason string, sentinel error) {
	c.resetStream(id, nil, code, &ProtocolError{Stream: id, Code: code, Reason: reason, Err: sentinel})
}

// connError ends the connection with GOAWAY(code), failing every stream,
// and returns the error for the reader.
func (c *ClientConn) connError(code http2.ErrCode, reason string, sentinel error) error {
	pe := &ProtocolError{Code: code, Reason: reason, Err: sentinel}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return pe
	}
	c.closing = true
	if c.endErr == nil {
		c.endErr = pe
	}
	c.closeAllLocked(pe)
	c.mu.Unlock()
	c.wmu.Lock()
	c.fr.WriteGoAway(0, code, []byte(reason))
	c.goAwaySent = true
	c.flushLocked()
	c.werr = ErrConnClosed
	c.wmu.Unlock()
	c.t.Close()
	return pe
}

// resetStream sends RST_STREAM(code) on id and closes the stream if it is
// open. When only is non-nil, nothing happens unless only is the open
// stream (a caller's Reset of an already closed stream).
func (c *ClientConn) resetStream(id uint32, only *ClientStream, code http2.ErrCode, cause error) {
	c.wmu.Lock()
	c.mu.Lock()
	s := c.streams[id]
	if only != nil && s != only {
		c.mu.Unlock()
		c.wmu.Unlock()
		return
	}
	if s != nil {
		c.closeStreamLocked(s, &ResetError{Code: code, Err: cause}, closedByUs)
	} else {
		c.recordClosedLocked(id, closedByUs)
	}
	dead := c.dead || c.closing
	c.mu.Unlock()
	if !dead {
		c.fr.WriteRSTStream(id, code)
		c.flushLocked()
	}
	c.wmu.Unlock()
	c.maybeFinish()
}

func (c *ClientConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// abort ends the connection after a write error.
func (c *ClientConn) abort(err error) {
	c.mu.Lock()
	c.closing = true
	if c.endErr == nil {
		c.endErr = err
	}
	c.closeAllLocked(err)
	c.mu.Unlock()
	c.t.Close()
}

// teardown runs when the reader ends: the connection is dead, every
// stream still open fails, t closes, Done closes.
func (c *ClientConn) teardown(err error) {
	c.mu.Lock()
	c.closing, c.dead = true, true
	// A read error after a drain with no stream left is the graceful end.
	if c.endErr == nil && err != nil && (len(c.streams) > 0 || !(c.shutdown || c.goAway)) {
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
	c.hb = headerBlock{}
	close(c.done)
}

func (c *ClientConn) closeAllLocked(cause error) {
	if !errors.Is(cause, ErrConnClosed) {
		cause = fmt.Errorf("%w: %w", ErrConnClosed, cause)
	}
	for _, s := range c.streams {
		c.closeStreamLocked(s, cause, closedByUs)
	}
}

// closeStreamLocked moves s to closed: Done closes with err (nil for a
// normal end), waiters wake, an abnormal end drops the unread body.
func (c *ClientConn) closeStreamLocked(s *ClientStream, err error, how closeHow) {
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	if s.inMap {
		delete(c.streams, s.id)
		s.inMap = false
		if len(c.streams) == 0 {
			c.idleSince = time.Now()
		}
	}
	c.recordClosedLocked(s.id, how)
	if err != nil {
		s.recv.release() // the connection window was credited on receipt
	}
	close(s.done)
	s.cond.Broadcast()
}

// endRecvLocked records the server's END_STREAM.
func (c *ClientConn) endRecvLocked(s *ClientStream) {
	s.recvEnded = true
	s.cond.Broadcast()
	if s.sendEnded {
		c.closeStreamLocked(s, nil, closedNormal)
	}
}

func (c *ClientConn) recordClosedLocked(id uint32, how closeHow) {
	c.recent[c.recentNext] = closedRec{id, how}
	c.recentNext = (c.recentNext + 1) % recentClosed
}

func (c *ClientConn) closedHowLocked(id uint32) closeHow {
	for _, r := range c.recent {
		if r.id == id {
			return r.how
		}
	}
	return 0
}

// ---- flow control and writing ----

// streamCreditLocked grants back what the caller consumed of a stream once
// it reaches half a window, so a slow reader back-pressures the server and
// WINDOW_UPDATE frames stay few. It returns the increment to send (0:
// none).
func (c *ClientConn) streamCreditLocked(s *ClientStream) uint32 {
	if !s.inMap || s.recvEnded || s.recvUnacked < int64(c.cfg.InitialWindowSize/2) {
		return 0
	}
	ws := uint32(s.recvUnacked)
	s.recvWindow += s.recvUnacked
	s.recvUnacked = 0
	return ws
}

func (c *ClientConn) connCreditLocked() uint32 {
	if c.recvUnacked < int64(c.cfg.ConnWindowSize/2) {
		return 0
	}
	wc := uint32(c.recvUnacked)
	c.recvWindow += c.recvUnacked
	c.recvUnacked = 0
	return wc
}

func (c *ClientConn) sendWindowUpdates(s *ClientStream, ws, wc uint32) error {
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
		open := s.inMap
		c.mu.Unlock()
		if open {
			c.fr.WriteWindowUpdate(s.id, ws)
		}
	}
	return c.flushLocked()
}

// flushLocked ends a logical write: the buffered frames go out and the
// buffer returns to the pool. A write error is sticky and aborts the
// connection. Needs wmu.
func (c *ClientConn) flushLocked() error {
	if c.bw == nil {
		return c.werr
	}
	err := c.bw.Flush()
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.bw = nil
	if err != nil && c.werr == nil {
		c.werr = fmt.Errorf("%w: write: %w", ErrConnClosed, err)
		c.abort(c.werr)
	}
	return c.werr
}

// writeBlockLocked writes the header block in c.hbuf as HEADERS plus
// CONTINUATION frames of at most maxFrame bytes. Needs wmu.
func (c *ClientConn) writeBlockLocked(id uint32, endStream bool, maxFrame int) {
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

// requestField returns f as sent in a request header (or trailer)
// section, and false when it is dropped: pseudo-header and
// connection-specific fields (host is carried as :authority; te is kept
// only as "trailers" in a header section) and values HTTP/2 cannot carry.
func requestField(f hpack.HeaderField, trailers bool) (hpack.HeaderField, bool) {
	if f.Name == "" || f.Name[0] == ':' || strings.ContainsAny(f.Value, "\x00\r\n") {
		return f, false
	}
	name := strings.ToLower(f.Name) // no copy when already lowercase
	switch {
	case isConnectionSpecific(name) || name == "host":
		return f, false
	case name == "te":
		if trailers || !strings.EqualFold(strings.TrimSpace(f.Value), "trailers") {
			return f, false
		}
		return hpack.HeaderField{Name: "te", Value: "trailers"}, true
	}
	return hpack.HeaderField{Name: name, Value: strings.Trim(f.Value, " \t"), Sensitive: f.Sensitive}, true
}

// headerListSize is the size RFC 9113 §6.5.2 gives a request's header
// list, as the server's SETTINGS_MAX_HEADER_LIST_SIZE counts it.
func headerListSize(r *ClientRequest) uint32 {
	size := len(":method") + len(r.Method) + 32
	if r.Method != "CONNECT" {
		size += len(":scheme") + len(r.Scheme) + 32 + len(":path") + len(r.Path) + 32
	}
	if a := r.authority(); a != "" {
		size += len(":authority") + len(a) + 32
	}
	for _, f := range r.Fields {
		if g, ok := requestField(f, false); ok {
			size += len(g.Name) + len(g.Value) + 32
		}
	}
	return uint32(min(size, maxWindow))
}

// authority is :authority: Authority, else the value of a host field (RFC
// 9113 §8.3.1: a request translated from HTTP/1.1 carries Host there).
func (r *ClientRequest) authority() string {
	if r.Authority != "" {
		return r.Authority
	}
	for _, f := range r.Fields {
		if len(f.Name) == 4 && strings.EqualFold(f.Name, "host") && !strings.ContainsAny(f.Value, "\x00\r\n") {
			return strings.Trim(f.Value, " \t")
		}
	}
	return ""
}
