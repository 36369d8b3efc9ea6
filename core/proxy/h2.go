package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// HTTP/2 client connections. core/h2 runs the protocol: frames, HPACK,
// flow control and the limits against floods. This file makes each HTTP/2
// stream a strata stream with its own transaction, which goes through
// route() exactly as an HTTP/1.1 request does — the same rules, fetches,
// plugins, filters, backend choice, stick accounting and log line. Its
// HPACK fields are copied into the transaction once (h2Request); the
// response and the proxy's replies go back through the HTTP/2 front
// (front.go), which encodes them as HEADERS and DATA. An HTTP/1.1 server
// gets the request as HTTP/1.1, its body read as content and chunked when
// its length is unknown (forwardH2, RFC 9113 §8.3.1).
//
// The session (the client connection, its TLS state, its session-level
// trackers and variables) exists once and is shared by the streams, which
// run concurrently, each on its own goroutine. They read the session and
// never change it, except its variables, which are locked.

// h2Frontend is what a frontend needs to serve HTTP/2.
type h2Frontend struct {
	cfg       h2.Config
	cleartext bool // h2c with prior knowledge on plain binds
}

// newH2Frontend translates a frontend's h2 settings; errors are counted on
// the frontend's H2Errors.
func newH2Frontend(fc *config.Frontend, fe *Frontend, log *slog.Logger) h2Frontend {
	var h h2Frontend
	c := &h.cfg
	if o := fc.H2; o != nil {
		h.cleartext = o.Cleartext
		c.MaxConcurrentStreams = uint32(o.MaxConcurrentStreams)
		c.InitialWindowSize = uint32(o.InitialWindowSize)
		c.ConnWindowSize = uint32(o.ConnWindowSize)
		c.MaxHeaderListSize = uint32(o.MaxHeaderListSize)
		c.MaxResets = o.MaxResets
		c.MaxControlFrames = o.MaxControlFrames
		c.ZeroWindowTimeout = o.ZeroWindowTimeout
	}
	c.IdleTimeout = fc.Timeouts.HTTPKeepAlive
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.OnProtocolError = func(err error) {
		fe.Stats.H2Errors.Add(1)
		log.Debug("http/2 client error", "frontend", fe.Name, "error", err)
	}
	return h
}

// wantsH2 reports whether the connection speaks HTTP/2: ALPN chose h2, or
// the frontend serves h2c and the client opened with the preface. ok is
// false when the client went away before saying.
func (cc *clientConn) wantsH2() (isH2, ok bool) {
	if t := cc.conn.TLS; t != nil {
		return t.ALPN == "h2", true
	}
	if !cc.fe.h2.cleartext {
		return false, true
	}
	for {
		d := cc.buf.Data()
		n := min(len(d), len(h2.Preface))
		if string(d[:n]) != h2.Preface[:n] {
			return false, true
		}
		if n == len(h2.Preface) {
			return true, true
		}
		if _, err := cc.c.Fill(&cc.buf); err != nil {
			return false, false
		}
	}
}

// serveH2 drives an HTTP/2 client connection until it ends.
func (cc *clientConn) serveH2() {
	fe := cc.fe
	// core/h2 bounds idleness and stalls itself; the socket's read waits
	// for frames with no deadline, while writes keep the client timeout.
	cc.c.ReadDeadline = time.Time{}
	cc.c.ReadTimeout = 0
	cc.c.WriteTimeout = fe.Timeouts.Client
	pre := bytes.Clone(cc.buf.Data())
	cc.buf.Consume(len(pre))
	cc.buf.Release()
	conn := h2.NewConn(cc.c, pre, fe.h2.cfg, cc.serveH2Stream)
	if idleWatcher() != nil {
		conn.SetParker(h2Parker{cc}, parkAfter)
	}
	cc.h2.Store(conn)
	if cc.p.draining.Load() {
		conn.Shutdown()
	}
	cc.h2Served(conn.Serve())
}

// serveH2Stream runs one HTTP/2 stream, on its own goroutine.
func (cc *clientConn) serveH2Stream(s *h2.Stream) {
	defer func() {
		if r := recover(); r != nil {
			// A bug must cost one stream, never the process (the
			// exchange is dropped rather than pooled in an unknown state).
			cc.p.log.Error("stream handler panicked", "frontend", cc.fe.Name, "stream", s.ID(), "panic", r)
			s.Reset(http2.ErrCodeInternal)
		}
	}()
	x := exchangePool.Get().(*exchange)
	x.h2 = s
	x.fr = theH2Front
	if x.abortServer == nil {
		x.abortServer = x.closeServerConn // bound once per pooled exchange
	}
	s.OnAbort(x.abortServer)
	start := cc.beginStream(x)
	cc.handleH2(x)
	s.OnAbort(nil) // x goes back to the pool: the callback must be done with it
	if !x.h2ended {
		// The response did not end well: the client must not take
		// what it got for a complete response.
		s.Reset(http2.ErrCodeInternal)
	}
	cc.finishStream(x, start)
	x.reset()
	exchangePool.Put(x)
}

// closeServerConn closes the stream's server connection, or resets its
// stream to an HTTP/2 server, when the client resets the stream or the
// connection dies (h2.Stream.OnAbort), so that a reset stream frees its
// server at once rather than at the server's timeout.
func (x *exchange) closeServerConn() {
	if sc := x.sconn.Swap(nil); sc != nil {
		sc.Close()
	}
	if cs := x.upStream.Swap(nil); cs != nil {
		// A reset is written to the server's connection and may wait for
		// it: not under the client connection's lock, which OnAbort holds.
		go cs.Reset(http2.ErrCodeCancel)
	}
}

// ownsServerConn reports whether the stream may still pool its server
// connection: on HTTP/2, closeServerConn may have taken and closed it.
func (x *exchange) ownsServerConn() bool {
	return x.h2 == nil || x.sconn.Swap(nil) != nil
}

// handleH2 makes the stream's request an HTTP/1.1 transaction and routes
// it.
func (cc *clientConn) handleH2(x *exchange) {
	strm := &x.strm
	r := x.h2.Request()
	if r.Method == "CONNECT" {
		// Extended CONNECT and tunnels over HTTP/2 are not served.
		strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
		cc.replyError(x, 501)
		return
	}
	if status := x.h2Request(r); status != 0 {
		strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
		cc.replyError(x, status)
		return
	}
	req := &x.txn.Req
	x.method = append(x.method[:0], req.Method...)
	x.uri = append(x.uri[:0], req.URI...)
	cc.route(x)
}

// h2Request fills the transaction's request from an HTTP/2 request, in
// one slab of storage owned by the exchange. It returns the status of the
// error reply when the request cannot be carried over HTTP/1.1.
func (x *exchange) h2Request(r *h2.Request) int {
	if r.Path == "" || r.Path[0] != '/' && r.Path != "*" || !validTargetBytes(r.Path) {
		return 400
	}
	b := x.slabFor(len(r.Method)+len(r.Path)+len("host")+len(r.Authority), r.Fields)
	add := b.add
	req := &x.txn.Req
	req.Reset()
	req.Minor = 1
	req.KeepAlive = true
	req.Method = add(r.Method)
	req.URI = add(r.Path)
	req.Path = req.URI
	if i := bytes.IndexByte(req.URI, '?'); i >= 0 {
		req.Path, req.Query = req.URI[:i], req.URI[i+1:]
	}
	if r.Authority != "" {
		// An HTTP/1.1 server needs Host; core/h2 made sure a Host field,
		// if any, says the same.
		req.Host = add(r.Authority)
		req.Fields = append(req.Fields, h1.Field{Name: add("host"), Value: req.Host})
	}
	continued := false
	for _, f := range r.Fields {
		switch f.Name {
		case "host":
			continue // carried by :authority
		case "expect":
			// The proxy reads the body from the client itself; it says
			// 100 Continue below rather than make the client wait.
			continued = continued || f.Value == "100-continue"
			continue
		}
		if !h1.ValidFieldName([]byte(f.Name)) || !h1.ValidFieldValue([]byte(f.Value)) {
			return 400
		}
		req.Fields = append(req.Fields, h1.Field{Name: add(f.Name), Value: add(f.Value)})
	}
	switch {
	case r.EndStream:
		req.Body = h1.BodyNone
	case r.ContentLength >= 0:
		req.Body, req.ContentLength = h1.BodyLength, r.ContentLength
	default:
		// A body of unknown length: an HTTP/1.1 server gets it chunked
		// (forwardH2 says so in the head it writes).
		req.Body = h1.BodyChunked
	}
	x.h2buf = *b
	x.strm.BytesIn += int64(len(*b))
	if continued && req.Body != h1.BodyNone {
		x.h2.WriteHeaders(100, nil, false)
	}
	return 0
}

// slab is storage that field copies are cut from. It is sized before the
// first copy, so the slices handed out never move.
type slab []byte

// add copies s into the slab and returns the copy.
func (b *slab) add(s string) []byte {
	i := len(*b)
	*b = append(*b, s...)
	return (*b)[i:len(*b):len(*b)]
}

// slabFor returns the exchange's scratch as a slab with room for extra
// bytes and every name and value of fields.
func (x *exchange) slabFor(extra int, fields []hpack.HeaderField) *slab {
	for _, f := range fields {
		extra += len(f.Name) + len(f.Value)
	}
	if cap(x.h2buf) < extra {
		x.h2buf = make([]byte, 0, extra)
	}
	b := slab(x.h2buf[:0])
	return &b
}

// validTargetBytes reports whether a request target has no byte that
// would break an HTTP/1.1 request line.
func validTargetBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// forwardH2 sends a request whose body is read as content — an HTTP/2
// stream's, or one that filters see — to a server of be over HTTP/1.1,
// and relays the response.
func (cc *clientConn) forwardH2(x *exchange, be *Backend) stepResult {
	strm, req := &x.strm, &x.txn.Req
	cc.traceAttempt(x, be) // traceparent (telemetry.go)
	x.out = h1.AppendRequestHead(x.out[:0], req)
	if req.Body == h1.BodyChunked && h1.Count(req.Fields, "transfer-encoding") == 0 {
		x.out = appendChunkedField(x.out)
	}
	// A request without a body is all here to be sent again; a body is
	// kept as it is read while it fits in one buffer (bodyCopy).
	replayable := req.Body == h1.BodyNone
	var bc *bodyCopy
	if !replayable {
		bc = &bodyCopy{bp: transport.GetBuf(), ok: true}
		defer transport.PutBuf(bc.bp)
	}
	cc.fillKey(x, be)
	fresh := false
	for {
		sc, err := cc.connect(x, be, fresh)
		if err != nil {
			return cc.replyError(x, 503)
		}
		if sc == nil { // an HTTP/2 server
			return cc.forwardToH2(x, be)
		}
		if _, err := sc.Write(x.out); err != nil {
			sc.Close()
			if x.endIfClientGone() {
				return closeConn
			}
			// A server cannot act on a partial head, and the body read so
			// far is kept (or there is none): a pooled connection the
			// server closed is replaced, whatever the request.
			if sc.Reused && !fresh && (replayable || bc.canReplay()) {
				fresh = true
				strm.Retries++
				continue
			}
			be.ObserveResponseError(sc.Srv)
			strm.Term.Set(session.CauseServerAbort, session.PhaseConnect)
			return cc.replyError(x, 502)
		}
		if req.Body != h1.BodyNone {
			res, ok, retry := cc.sendH2Body(x, sc, bc, !fresh)
			if retry {
				fresh = true
				strm.Retries++
				continue
			}
			if !ok {
				return res
			}
		}
		res, retry := cc.relayResponse(x, be, sc, !fresh && (replayable || bc.canReplay()), true, 0, 0)
		if retry {
			fresh = true
			strm.Retries++
			continue
		}
		return res
	}
}

// sendH2Body copies the request body from the client's stream to the
// server, chunked when its length is unknown, keeping it in bc. On a retry
// what bc holds goes first. retry reports that the server reset a reused
// connection while the body went out (canRetry: the first attempt) and
// the request can go again.
func (cc *clientConn) sendH2Body(x *exchange, sc *backend.ServerConn, bc *bodyCopy, canRetry bool) (res stepResult, ok, retry bool) {
	strm, req := &x.strm, &x.txn.Req
	chunked := req.Body == h1.BodyChunked
	serverFailed := func(err error) (stepResult, bool, bool) {
		reset := sc.ResetByPeer(err)
		sc.Close()
		if x.endIfClientGone() {
			return closeConn, false, false
		}
		if canRetry && sc.Reused && reset && bc.canReplay() {
			return keepOpen, false, true
		}
		strm.Term.Set(session.CauseServerAbort, session.PhaseData)
		return cc.replyError(x, 502), false, false
	}
	if bc.canReplay() && bc.n > 0 { // a retry: what was read before goes first
		if err := writeChunk(sc, (*bc.bp)[:bc.n], chunked); err != nil {
			return serverFailed(err)
		}
	}
	bp := transport.GetBuf()
	defer transport.PutBuf(bp)
	buf := *bp
	for {
		n, err := x.readBody(cc, buf[chunkRoom:len(buf)-2])
		if n > 0 {
			bc.add(buf[chunkRoom : chunkRoom+n])
			out := buf[chunkRoom : chunkRoom+n]
			if chunked {
				out = frameChunk(buf, n)
			}
			if _, werr := sc.Write(out); werr != nil {
				return serverFailed(werr)
			}
			strm.BytesIn += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			sc.Close()
			if res, ok := cc.filterBodyFailed(x, err); ok {
				return res, false, false
			}
			strm.Term.Set(clientCause(err), session.PhaseData)
			return closeConn, false, false
		}
	}
	if chunked {
		last := lastChunk
		if tr := x.takeRequestTrailers(); len(tr) > 0 {
			last = appendLastChunk(nil, tr)
		}
		if _, err := sc.Write(last); err != nil {
			return serverFailed(err)
		}
	}
	return keepOpen, true, false
}

// writeChunk writes p to sc, as one HTTP/1.1 chunk when chunked.
func writeChunk(sc *backend.ServerConn, p []byte, chunked bool) error {
	if chunked {
		var line [18]byte
		if _, err := sc.Write(append(strconv.AppendInt(line[:0], int64(len(p)), 16), "\r\n"...)); err != nil {
			return err
		}
	}
	if _, err := sc.Write(p); err != nil {
		return err
	}
	if chunked {
		_, err := sc.Write([]byte("\r\n"))
		return err
	}
	return nil
}

// chunkRoom is the room a body buffer keeps before its data for a chunk's
// size line (16 hex digits and CRLF), and 2 bytes after it for its CRLF.
const chunkRoom = 18

// frameChunk makes the n bytes of data at buf[chunkRoom:] one HTTP/1.1
// chunk, in place, and returns it.
func frameChunk(buf []byte, n int) []byte {
	line := strconv.AppendInt(buf[:0:chunkRoom], int64(n), 16)
	line = append(line, '\r', '\n')
	start := chunkRoom - len(line)
	copy(buf[start:], line)
	return append(buf[start:chunkRoom+n], '\r', '\n')
}

// writeH2Head sends a response head on the stream.
func (x *exchange) writeH2Head(resp *h1.Response, endStream bool) error {
	fs := x.h2HeadFields(resp)
	err := x.h2.WriteHeaders(resp.Status, fs, endStream)
	clear(fs)
	if err == nil && endStream {
		x.h2ended = true
	}
	return err
}

// writeH2Response sends a whole response, head and body, on the stream:
// one write when the flow-control windows allow.
func (x *exchange) writeH2Response(resp *h1.Response, body []byte) error {
	fs := x.h2HeadFields(resp)
	err := x.h2.WriteResponse(resp.Status, fs, body)
	clear(fs)
	if err == nil {
		x.h2ended = true
		x.strm.BytesOut += int64(len(body))
	}
	return err
}

// h2HeadFields returns the fields of a response head for HTTP/2, in the
// exchange's scratch (cleared by the caller once sent).
func (x *exchange) h2HeadFields(resp *h1.Response) []hpack.HeaderField {
	fs := x.h2Fields(resp.Fields, "")
	for _, f := range fs {
		x.strm.BytesOut += int64(len(f.Name) + len(f.Value) + 4)
	}
	return fs
}

// h2Fields returns HTTP/1.1 fields as HTTP/2 ones, in the exchange's
// scratch (cleared by the caller once sent): names lowercased, without
// the fields a Connection field names (hop-by-hop; core/h2 drops the
// standard ones) and without the field called drop, if any.
func (x *exchange) h2Fields(fields []h1.Field, drop string) []hpack.HeaderField {
	hopByHop := h1.Count(fields, "connection") > 0
	fs := x.h2fields[:0]
	for _, f := range fields {
		if hopByHop && connectionNamed(fields, f.Name) || drop != "" && session.EqualFold(f.Name, []byte(drop)) {
			continue
		}
		fs = append(fs, hpack.HeaderField{Name: x.h2Name(f.Name), Value: string(f.Value)})
	}
	x.h2fields = fs[:0]
	return fs
}

// commonNames are field names HTTP/2 heads carry often, lowercase: a name
// among them costs no allocation (h2Name). The strings must not alias
// reused buffers, as the HPACK encoder's table keeps them.
var commonNames = [...]string{
	"content-length", "content-type", "date", "server", "cache-control",
	"etag", "last-modified", "location", "set-cookie", "vary", "expires",
	"accept-ranges", "content-encoding", "age", "x-forwarded-for", "forwarded",
	"user-agent", "accept", "accept-encoding", "accept-language", "cookie",
	"authorization", "referer", "traceparent", "tracestate",
}

// h2Name returns an HTTP/1.1 field name lowercased, as HTTP/2 writes it.
func (x *exchange) h2Name(name []byte) string {
	for _, c := range commonNames {
		if len(c) == len(name) && session.EqualFold(name, []byte(c)) {
			return c
		}
	}
	x.name = append(x.name[:0], name...)
	for i, c := range x.name {
		if 'A' <= c && c <= 'Z' {
			x.name[i] = c + 'a' - 'A'
		}
	}
	return string(x.name)
}

// connectionNamed reports whether a Connection field lists name.
func connectionNamed(fields []h1.Field, name []byte) bool {
	for _, f := range fields {
		if !session.EqualFold(f.Name, []byte("connection")) {
			continue
		}
		for tok := range bytes.SplitSeq(f.Value, []byte(",")) {
			if session.EqualFold(bytes.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// writeH2Body sends response content on the stream, and ends the stream
// when done.
func (x *exchange) writeH2Body(p []byte, done bool) error {
	if done {
		if err := x.h2.WriteLast(p); err != nil {
			return err
		}
		x.strm.BytesOut += int64(len(p))
		x.h2ended = true
		return nil
	}
	if len(p) > 0 {
		if _, err := x.h2.Write(p); err != nil {
			return err
		}
		x.strm.BytesOut += int64(len(p))
	}
	return nil
}

// scanChunked delimits a piece of a chunked response body: n bytes of p
// belong to it, and content is what the client gets — p[:n] itself for an
// HTTP/1.1 client, which gets the chunks as they are, the chunk data for
// an HTTP/2 one.
func (x *exchange) scanChunked(p []byte) (n int, done bool, content []byte, err error) {
	if x.passChunks() {
		n, done, err = x.chunk.Scan(p)
		return n, done, p[:n], err
	}
	if fr := x.flt; fr != nil && len(fr.started) > 0 {
		// Filters see the trailer section (filter_trailers.go).
		n, done, x.dechunk, err = x.chunk.ScanDataTrailers(p, x.dechunk[:0], &fr.respTr.raw)
		return n, done, x.dechunk, err
	}
	n, done, x.dechunk, err = x.chunk.ScanData(p, x.dechunk[:0])
	return n, done, x.dechunk, err
}
