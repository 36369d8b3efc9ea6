package stream

import (
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/session"
	"golang.org/x/net/http2/hpack"
)

// The client front: the protocol the client of a stream speaks. The engine
// (route, relay, the reply helpers) decides what the client gets —
// a response head, body chunks, a local reply — and a front writes it in
// its protocol: h1Front as HTTP/1.1 bytes on the client connection,
// h2Front as HEADERS and DATA frames on the client's HTTP/2 stream. The
// engine never tests which protocol it serves; a behaviour that differs
// (connection management, chunked framing, upgrades) is a front method.
//
// The transaction keeps heads as h1.Request and h1.Response: fields as
// name/value slices, which both fronts read and write directly (HPACK
// fields are copied into them once, and out of them once).
type clientFront interface {
	// passChunks reports whether the body of a chunked HTTP/1.1 response
	// goes to the client as received, chunk framing and all (HTTP/1.1),
	// or as its content only (HTTP/2).
	passChunks() bool
	// canUpgrade reports whether a 101 response can turn the stream into
	// a tunnel.
	canUpgrade() bool
	// manageConnection adds what the client connection's management needs
	// to the response head (Connection: close on a stopping proxy, or
	// when the client asked to close) and reports whether the client
	// connection stays open after the response.
	manageConnection(cc *Conn, x *exchange, resp *h1.Response, serverKeep bool) bool
	// writeHead sends a response head (an interim one when 1xx), with
	// body, the first body bytes (as passChunks says), and ends the
	// response when end is set. raw, when not nil, is the head and body
	// as an HTTP/1.1 server sent them, to be sent as they are when the
	// rules changed nothing.
	writeHead(cc *Conn, x *exchange, resp *h1.Response, raw, body []byte, end bool) error
	// writeBody sends body bytes (as passChunks says), and ends the
	// response when end is set. Content from a server that sent no chunk
	// framing (HTTP/2) is framed when the head said chunked.
	writeBody(cc *Conn, x *exchange, p []byte, end bool) error
	// reply sends a reply the proxy made and says what the connection
	// does next.
	reply(cc *Conn, x *exchange, r *localReply) stepResult
	// keepAfterReply prepares the client for a reply instead of a
	// server's response and reports whether its connection can serve
	// another request after it.
	keepAfterReply(cc *Conn, x *exchange) bool
	// readBody reads request body content (io.Reader's contract) once
	// the engine has taken the head (takeHead).
	readBody(cc *Conn, x *exchange, p []byte) (int, error)
	// takeHead makes the request head the transaction's own, before its
	// body is read as content (HTTP/1.1: out of the client buffer).
	takeHead(cc *Conn, x *exchange) error
	// received returns the bytes of the request as the client sent
	// them, for tcp-request content rules; nil when there are none to
	// show (HTTP/2 frames).
	received(cc *Conn) []byte
	// serverConn is where the stream's server connection is kept for
	// whoever must close it from elsewhere: the end of the grace period
	// (the connection's, on HTTP/1.1), a client resetting its stream
	// (the stream's, on HTTP/2).
	serverConn(cc *Conn, x *exchange) *atomic.Pointer[backend.ServerConn]
	// clientErr is why the client can no longer be answered (an HTTP/2
	// stream reset or its connection lost), nil while it can. An
	// HTTP/1.1 client's failures show as failed reads and writes.
	clientErr(x *exchange) error
	// clientDone is closed when clientErr has become non-nil; nil (never
	// ready) when the client's failures show on reads and writes.
	clientDone(x *exchange) <-chan struct{}
	// keepsServerConn reports whether the stream still owns the server
	// connection it tracked (serverConn), so that it may pool it: on
	// HTTP/2 a client reset may have taken and closed it.
	keepsServerConn() bool
	// requestTrailers collects the request's trailer section, once its
	// body has ended, into t.fields.
	requestTrailers(t *trailerView)
	// writeTrailers ends a response whose body has been sent with the
	// trailer section fs.
	writeTrailers(cc *Conn, x *exchange, fs []h1.Field) error
	// version is the HTTP version the client speaks on this stream.
	version(req *h1.Request) (major, minor int)
}

// localReply is an answer the proxy makes itself (error pages, deny,
// return, redirect, services, filters): a value, which the client's front
// encodes.
type localReply struct {
	status   int
	ctype    []byte
	location []byte
	fields   []h1.Field // a service's own fields
	body     []byte
	// page is the canned error page of status (reply.go), HAProxy's:
	// the body and fields it carries, prebuilt for HTTP/1.1.
	page *cannedReply
	// keep: the client connection serves another request after it.
	keep bool
}

// A front is a struct inside the pooled exchange (exchange.h1f, h2f,
// tcpf), holding the stream's state of its protocol, and the engine holds
// it as a clientFront pointing there (exchange.fr): no allocation per
// stream.

// tcpFront is the client side of a TCP-mode stream, which speaks no HTTP:
// only the connection-level methods apply, as on HTTP/1.1 (its server
// connection kept on the client connection, failures seen on reads and
// writes).
type tcpFront struct{ h1Front }

// h1Front writes HTTP/1.1 on the client connection.
type h1Front struct {
	// chunkOut: the body the front is given is framed as chunks
	// (writeHead decides).
	chunkOut bool
	// bodyLeft and bodyDone track a body read as content (readBody);
	// inBody is the client's framing, as the request came.
	bodyLeft int64
	bodyDone bool
	inBody   h1.BodyKind
}

// reset readies the front for the next stream.
func (f *h1Front) reset() { *f = h1Front{} }

func (*h1Front) passChunks() bool { return true }

func (*h1Front) canUpgrade() bool { return true }

func (*h1Front) manageConnection(cc *Conn, x *exchange, resp *h1.Response, serverKeep bool) bool {
	txn := &x.txn
	req := &txn.Req
	keep := req.KeepAlive && serverKeep && resp.Body != h1.BodyUntilClose
	if keep && cc.p.Draining.Load() {
		txn.SetRespHeader([]byte("connection"), []byte("close"))
		keep = false
	}
	if !req.KeepAlive && serverKeep && req.Minor == 1 {
		// The client asked to close; say so, as the server may not have.
		if h1.Count(resp.Fields, "connection") == 0 {
			txn.SetRespHeader([]byte("connection"), []byte("close"))
		}
	}
	return keep
}

func (f *h1Front) writeHead(cc *Conn, x *exchange, resp *h1.Response, raw, body []byte, end bool) error {
	out := raw
	if out == nil || x.txn.RespEdited {
		x.out = h1.AppendResponseHead(x.out[:0], resp)
		// A body of unknown length from a server that does not frame it
		// in chunks (HTTP/2) is framed here.
		f.chunkOut = raw == nil && resp.Body == h1.BodyChunked && resp.Status >= 200
		if f.chunkOut && h1.Count(resp.Fields, "transfer-encoding") == 0 {
			x.out = appendChunkedField(x.out)
		}
		x.out = appendBody(x.out, body, f.chunkOut, end)
		out = x.out
	}
	_, err := cc.c.Write(out)
	if err == nil {
		x.strm.BytesOut += int64(len(out))
		cc.logHead(x, out) // %B counts the head as HAProxy does (accesslog.go)
	}
	return err
}

func (f *h1Front) writeBody(cc *Conn, x *exchange, p []byte, end bool) error {
	out := p
	if f.chunkOut {
		x.out = appendBody(x.out[:0], p, true, end)
		out = x.out
	}
	if len(out) == 0 {
		return nil
	}
	_, err := cc.c.Write(out)
	if err == nil {
		x.strm.BytesOut += int64(len(out))
	}
	return err
}

// appendChunkedField adds "transfer-encoding: chunked" to the HTTP/1.1
// head that ends dst.
func appendChunkedField(dst []byte) []byte {
	return append(dst[:len(dst)-2], "transfer-encoding: chunked\r\n\r\n"...)
}

// appendBody appends p to dst, as one HTTP/1.1 chunk (and the last one
// when end) when chunked.
func appendBody(dst, p []byte, chunked, end bool) []byte {
	if !chunked {
		return append(dst, p...)
	}
	if len(p) > 0 {
		dst = strconv.AppendInt(dst, int64(len(p)), 16)
		dst = append(dst, "\r\n"...)
		dst = append(dst, p...)
		dst = append(dst, "\r\n"...)
	}
	if end {
		dst = append(dst, "0\r\n\r\n"...)
	}
	return dst
}

func (*h1Front) reply(cc *Conn, x *exchange, r *localReply) stepResult {
	var b []byte
	switch {
	case r.page != nil && r.keep:
		b = r.page.keep
	case r.page != nil:
		b = r.page.bytes
	case r.fields != nil:
		b = x.appendFieldsReply(r)
	default:
		x.out = appendReply(x.out[:0], r.status, r.ctype, r.location, r.body, r.keep)
		b = x.out
	}
	if _, err := cc.c.Write(b); err != nil {
		x.strm.Term.Set(clientCause(err), session.PhaseLast)
		return closeConn
	}
	x.strm.BytesOut += int64(len(b))
	cc.logHead(x, b)
	if !r.keep || !cc.drainRequestBody(x) {
		return closeConn
	}
	return keepOpen
}

// appendFieldsReply serialises a reply that carries its own fields into
// the exchange's scratch.
func (x *exchange) appendFieldsReply(r *localReply) []byte {
	resp := &x.txn.Resp
	resp.Minor, resp.Status, resp.Reason = 1, r.status, nil
	resp.Fields = append(resp.Fields[:0], r.fields...)
	if len(r.ctype) > 0 {
		resp.Fields = append(resp.Fields, h1.Field{Name: []byte("content-type"), Value: r.ctype})
	}
	resp.Fields = append(resp.Fields, h1.Field{Name: []byte("content-length"), Value: itoa(x.name[:0], len(r.body))})
	if !r.keep {
		resp.Fields = append(resp.Fields, h1.Field{Name: []byte("connection"), Value: []byte("close")})
	}
	x.out = h1.AppendResponseHead(x.out[:0], resp)
	x.out = append(x.out, r.body...)
	resp.Fields = resp.Fields[:0]
	return x.out
}

func (*h1Front) keepAfterReply(cc *Conn, x *exchange) bool {
	return cc.keepAfterReplyH1(x)
}

// h2Front writes frames on the client's HTTP/2 stream (h2.go).
type h2Front struct {
	s     *h2.Stream // the client's stream
	ended bool       // the response ended well
	// Scratch: the slab the request's fields are copied into, the
	// fields of a head being written.
	buf    []byte
	fields []hpack.HeaderField
	// sconn is the stream's HTTP/1.1 server connection (serverConn),
	// shared with the frame loop: a client reset takes and closes it
	// (clientAborted). Atomic for that reason.
	sconn atomic.Pointer[backend.ServerConn]
	// abort is the stream's OnAbort callback (clientAborted), bound once
	// per pooled exchange.
	abort func()
}

// reset readies the front for the next stream, keeping its scratch.
func (f *h2Front) reset() {
	f.s, f.ended = nil, false
	f.sconn.Store(nil)
}

func (*h2Front) passChunks() bool { return false }

// canUpgrade: an HTTP/2 request asks for no upgrade (core/h2 refuses the
// fields that would), so a 101 is a server's error.
func (*h2Front) canUpgrade() bool { return false }

// manageConnection: connection management is HTTP/2's own.
func (*h2Front) manageConnection(*Conn, *exchange, *h1.Response, bool) bool { return true }

func (f *h2Front) writeHead(_ *Conn, x *exchange, resp *h1.Response, _, body []byte, end bool) error {
	if end && resp.Status >= 200 {
		return f.writeResponse(x, resp, body)
	}
	if err := f.writeHeadOnly(x, resp, false); err != nil {
		return err
	}
	if resp.Status < 200 {
		return nil
	}
	return f.writeContent(x, body, end)
}

func (f *h2Front) writeBody(_ *Conn, x *exchange, p []byte, end bool) error {
	return f.writeContent(x, p, end)
}

func (f *h2Front) reply(_ *Conn, x *exchange, r *localReply) stepResult {
	fs := f.fields[:0]
	body := r.body
	if p := r.page; p != nil {
		body = p.body
		fs = append(fs, hpack.HeaderField{Name: "content-length", Value: p.length},
			hpack.HeaderField{Name: "cache-control", Value: "no-cache"},
			hpack.HeaderField{Name: "content-type", Value: "text/html"})
	} else {
		for _, f := range r.fields {
			fs = append(fs, hpack.HeaderField{Name: strings.ToLower(string(f.Name)), Value: string(f.Value)})
		}
		if r.fields == nil {
			fs = append(fs, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		}
		if len(r.ctype) > 0 {
			fs = append(fs, hpack.HeaderField{Name: "content-type", Value: string(r.ctype)})
		}
		if r.fields != nil {
			fs = append(fs, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		}
		if len(r.location) > 0 {
			fs = append(fs, hpack.HeaderField{Name: "location", Value: string(r.location)})
		}
		if r.fields == nil && r.status >= 300 {
			fs = append(fs, hpack.HeaderField{Name: "cache-control", Value: "no-cache"})
		}
	}
	if string(x.txn.Req.Method) == "HEAD" || r.status == 204 || r.status == 304 {
		body = nil // as the HTTP/1.1 form would be read (RFC 9110, 6.4.1)
	}
	for _, f := range fs {
		x.strm.BytesOut += int64(len(f.Name) + len(f.Value) + 4)
	}
	err := f.s.WriteResponse(r.status, fs, body)
	clear(fs)
	f.fields = fs[:0]
	if err != nil {
		x.strm.Term.Set(clientCause(err), session.PhaseLast)
		return closeConn
	}
	f.ended = true
	x.strm.BytesOut += int64(len(body))
	return closeConn
}

// keepAfterReply: the stream ends with the reply; HTTP/2 needs nothing
// skipped.
func (*h2Front) keepAfterReply(*Conn, *exchange) bool { return true }

// readBody reads request body content (without HTTP/1.1 chunk framing)
// from the client connection's buffer, then its socket, once the request
// head has left the buffer (detachRequestHead); io.EOF at the body's end.
func (f *h1Front) readBody(cc *Conn, x *exchange, p []byte) (int, error) {
	if f.inBody == h1.BodyLength && f.bodyLeft == 0 || f.bodyDone {
		return 0, io.EOF
	}
	if cc.buf.Len() == 0 {
		cc.c.ReadDeadline = time.Time{}
		if _, err := cc.c.Fill(&cc.buf); err != nil {
			return 0, err
		}
	}
	data := cc.buf.Data()
	if len(data) > len(p) {
		data = data[:len(p)]
	}
	if f.inBody == h1.BodyLength {
		n := copy(p, data[:min(int64(len(data)), f.bodyLeft)])
		f.bodyLeft -= int64(n)
		x.strm.BytesIn += int64(n)
		cc.buf.Consume(n)
		return n, nil
	}
	var m int
	var done bool
	var content []byte
	var err error
	if fr := x.flt; fr != nil && fr.filtersBody {
		// Filters see the trailer section (filter_trailers.go).
		m, done, content, err = x.chunk.ScanDataTrailers(data, p[:0], &fr.reqTr.raw)
	} else {
		m, done, content, err = x.chunk.ScanData(data, p[:0])
	}
	if err != nil {
		return 0, errBadChunk
	}
	f.bodyDone = done
	x.strm.BytesIn += int64(m)
	cc.buf.Consume(m)
	return len(content), nil
}

// readBody reads the request body from the client's stream.
func (f *h2Front) readBody(_ *Conn, _ *exchange, p []byte) (int, error) {
	return f.s.Read(p)
}

// takeHead detaches the request head from the client buffer; the body,
// read as content from here on, is the front's to track.
func (f *h1Front) takeHead(cc *Conn, x *exchange) error {
	req := &x.txn.Req
	f.bodyLeft, f.inBody = req.ContentLength, req.Body
	return cc.detachRequestHead(x)
}

func (*h2Front) takeHead(*Conn, *exchange) error { return nil }

func (*h1Front) received(cc *Conn) []byte { return cc.buf.Data() }

func (*h2Front) received(*Conn) []byte { return nil }

func (*h1Front) serverConn(cc *Conn, _ *exchange) *atomic.Pointer[backend.ServerConn] {
	return &cc.sconn
}

func (f *h2Front) serverConn(*Conn, *exchange) *atomic.Pointer[backend.ServerConn] {
	return &f.sconn
}

func (*h1Front) clientErr(*exchange) error { return nil }

func (f *h2Front) clientErr(*exchange) error { return f.s.Err() }

func (*h1Front) clientDone(*exchange) <-chan struct{} { return nil }

func (f *h2Front) clientDone(*exchange) <-chan struct{} { return f.s.Done() }

// keepsServerConn: nothing but the stream closes an HTTP/1.1 client's
// server connection before the grace period ends.
func (*h1Front) keepsServerConn() bool { return true }

func (f *h2Front) keepsServerConn() bool { return f.sconn.Swap(nil) != nil }

// requestTrailers parses the trailer section the chunked body brought
// (readBody collected it in t.raw).
func (*h1Front) requestTrailers(t *trailerView) {
	t.fields = h1.ParseTrailers(t.raw, t.fields)
}

func (f *h2Front) requestTrailers(t *trailerView) { t.addH2(f.s.Trailers()) }

// writeTrailers sends the trailer section in the last chunk. A response
// the client gets unchunked (an HTTP/1.0 client's) has no place for them:
// they are dropped, and its end is the connection's.
func (f *h1Front) writeTrailers(cc *Conn, x *exchange, fs []h1.Field) error {
	if !f.chunkOut {
		return nil
	}
	x.out = appendLastChunk(x.out[:0], fs)
	_, err := cc.c.Write(x.out)
	if err == nil {
		x.strm.BytesOut += int64(len(x.out))
	}
	return err
}

// writeTrailers sends the trailer section as a trailing HEADERS frame.
func (f *h2Front) writeTrailers(_ *Conn, _ *exchange, fs []h1.Field) error {
	if err := f.s.WriteTrailers(hpackFields(fs)); err != nil {
		return err
	}
	f.ended = true
	return nil
}

func (*h1Front) version(req *h1.Request) (major, minor int) { return 1, req.Minor }

func (*h2Front) version(*h1.Request) (major, minor int) { return 2, 0 }
