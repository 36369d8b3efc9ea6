package h2

import (
	"errors"
	"fmt"
	"io"
	"strings"
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
//   - draining: Shutdown sent GOAWAY(NO_ERROR) (also sent when the server
//     kept the connection send window at zero for ZeroWindowTimeout), or
//     the server sent GOAWAY(NO_ERROR). No new stream; open ones finish (those above the
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
//     ClientConn.wmu serialises the buffering of frames (writer.go), the
//     HPACK encoder and the choice of the next stream id (ids must reach
//     the wire in increasing order). wmu is taken before mu; neither is
//     held while writing to t.

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
	// stream (CANCEL) and returns an error wrapping ErrZeroWindow; when it
	// is the connection's, the connection drains too (GOAWAY(NO_ERROR), no
	// new stream). Default 30 s.
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
	// The frame writer, the stream table, flow control (link.go). Its mu
	// guards the fields below marked so; wmu is taken before mu.
	link[*ClientStream]

	// Immutable after NewClientConn:
	cfg  ClientConfig
	done chan struct{} // closed by the reader goroutine when the connection is dead

	// Owned by the reader goroutine:
	gotSettings bool

	// Guarded by mu:
	nextID            uint32    // next stream id (changed with wmu held too: ids reach the wire in order)
	peerMaxStreams    uint32    // server's SETTINGS_MAX_CONCURRENT_STREAMS
	peerMaxHeaderList uint32    // server's SETTINGS_MAX_HEADER_LIST_SIZE, 0: none
	goAway            bool      // GOAWAY received: draining
	goAwayLast        uint32    // the lowest last-stream-id received
	idleSince         time.Time // when the last open stream ended
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
		cfg:            cfg,
		done:           make(chan struct{}),
		nextID:         1,
		peerMaxStreams: DefaultMaxConcurrentStreams,
		idleSince:      time.Now(),
	}
	c.init(t, t, c, cfg.InitialWindowSize, cfg.ConnWindowSize, cfg.ZeroWindowTimeout)
	c.fr.SetMaxReadFrameSize(DefaultMaxFrameSize) // the default we advertise by not sending it
	c.initDecoder(cfg.MaxHeaderListSize, false, "response ")

	c.lockW()
	io.WriteString(linkWriter[*ClientStream]{&c.link}, Preface)
	c.prefaceSent = true
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: cfg.InitialWindowSize},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.MaxHeaderListSize},
	)
	if cfg.ConnWindowSize > 65535 {
		c.fr.WriteWindowUpdate(0, cfg.ConnWindowSize-65535)
	}
	c.unlockW() // an error aborts the connection

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
	c.shutdownGracefully()
}

// lastPeerStreamLocked: a client's GOAWAY names the last server-initiated
// stream: none.
func (c *ClientConn) lastPeerStreamLocked() uint32 { return 0 }

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
	close(c.done)
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
	if c.isClosing() {
		return nil
	}
	if id, code, reason, se, ok := c.readErrorCode(err); ok {
		c.mu.Lock()
		idle := se && c.idleLocked(id)
		c.mu.Unlock()
		switch {
		case idle: // no RST_STREAM on an idle stream (§5.1)
			return c.connError(http2.ErrCodeProtocol, reason+" on a stream the client did not open", nil)
		case se:
			return c.streamError(id, code, reason, nil)
		}
		return c.connError(code, reason, nil)
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: server closed the connection", ErrConnClosed)
	default:
		return fmt.Errorf("%w: read: %w", ErrConnClosed, err)
	}
}

// otherFrame acts on the frames the link leaves to the side.
func (c *ClientConn) otherFrame(f http2.Frame) error {
	if _, ok := f.(*http2.PushPromiseFrame); ok {
		// We sent SETTINGS_ENABLE_PUSH=0 (RFC 9113 §6.6, §8.4).
		return c.connError(http2.ErrCodeProtocol, "PUSH_PROMISE with push disabled", nil)
	}
	// PRIORITY (advisory, deprecated by RFC 9113, and about streams the
	// server sends on), PRIORITY_UPDATE and unknown types: ignored.
	return nil
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
	return c.applySettings(f)
}

// settingLocked applies the server's settings only a client acts on.
func (c *ClientConn) settingLocked(st http2.Setting) {
	switch st.ID {
	case http2.SettingMaxConcurrentStreams:
		c.peerMaxStreams = st.Val
	case http2.SettingMaxHeaderListSize:
		c.peerMaxHeaderList = st.Val
	}
}

// newBlock: a server sends HEADERS only on streams the client opened.
func (c *ClientConn) newBlock(id uint32) error {
	c.mu.Lock()
	idle := c.idleLocked(id)
	c.mu.Unlock()
	if idle {
		return c.connError(http2.ErrCodeProtocol, "HEADERS on a stream the client did not open", nil)
	}
	return nil
}

// endBlock acts on a complete header block: a response (interim or
// final), trailers, or a block on a stream that cannot take one. A
// decoded response header list over the limit fails only its stream, as
// the server is one the configuration chose.
func (c *ClientConn) endBlock(hb *headerBlock) error {
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
		c.onTrailers(s, hb)
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

func (c *ClientConn) onTrailers(s *ClientStream, hb *headerBlock) {
	cl := s.contentLength // set by this goroutine
	if s.noBody {
		cl = -1
	}
	if reason := c.trailersReceived(s, hb, cl); reason != "" {
		c.streamError(s.id, http2.ErrCodeProtocol, reason, ErrMalformedResponse)
	}
}

func (c *ClientConn) onData(f *http2.DataFrame) error {
	id, n := f.StreamID, int64(f.Length)
	data := f.Data()
	c.mu.Lock()
	// The connection window is credited on receipt, whatever becomes of
	// the bytes: stream windows bound what is buffered.
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
			ws = c.streamCreditLocked(&s.streamFlow)
		}
	}
	c.mu.Unlock()
	var sf *streamFlow // nil unless ws > 0
	if ws > 0 {
		sf = &s.streamFlow
	}
	if err := c.sendWindowUpdates(sf, ws, wc); err != nil {
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
	c.mu.Unlock()
	if f.ErrCode != http2.ErrCodeNo {
		c.abort(ge)
		return ge
	}
	c.maybeFinish()
	return nil
}

// ---- errors, resets, ending ----

// streamError resets stream id with code (a stream error detected here);
// the connection goes on (nil).
func (c *ClientConn) streamError(id uint32, code http2.ErrCode, reason string, sentinel error) error {
	c.resetStream(id, nil, code, &ProtocolError{Stream: id, Code: code, Reason: reason, Err: sentinel})
	return nil
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
	c.lockW()
	c.fr.WriteGoAway(0, code, []byte(reason))
	c.goAwaySent = true
	c.drainLocked() // before t closes
	c.werr = ErrConnClosed
	c.unlockW()
	c.t.Close()
	return pe
}

// drainedLocked: a read error after a drain with no stream left is the
// graceful end.
func (c *ClientConn) drainedLocked() bool {
	return len(c.streams) == 0 && (c.shutdown || c.goAway)
}

// streamClosedLocked is told by the link that s closed.
func (c *ClientConn) streamClosedLocked(_ *ClientStream, wasOpen bool, _ error) {
	if wasOpen && len(c.streams) == 0 {
		c.idleSince = time.Now()
	}
}

// controlFrame: a PING or a frame on a closed stream costs nothing; the
// server is one the configuration chose (see RATIONALE: "Why does the
// client not rate-limit control frames like the server?").
func (c *ClientConn) controlFrame() error { return nil }

// report: the client side has no protocol error counter.
func (c *ClientConn) report(error) {}

// connStalled: the server keeps the connection window at zero, so no
// request body can go out on the connection any more: the stream waiting
// is reset (CANCEL) and the connection drains as after Shutdown (GOAWAY,
// no new stream), so that the streams receiving their responses finish
// and a pool opens another connection for new requests.
func (c *ClientConn) connStalled(s *ClientStream, pe *ProtocolError) {
	c.resetStream(s.id, s, http2.ErrCodeCancel, pe)
	c.Shutdown()
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
