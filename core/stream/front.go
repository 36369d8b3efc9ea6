package stream

import (
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/h1"
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
	// framing (HTTP/2) is framed when the head said chunked (x.chunkOut).
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

var (
	theH1Front  clientFront = h1Front{}
	theH2Front  clientFront = h2Front{}
	theTCPFront clientFront = tcpFront{}
)

// tcpFront is the client side of a TCP-mode stream, which speaks no HTTP:
// only the connection-level methods apply, as on HTTP/1.1 (its server
// connection kept on the client connection, failures seen on reads and
// writes).
type tcpFront struct{ h1Front }

// h1Front writes HTTP/1.1 on the client connection.
type h1Front struct{}

func (h1Front) passChunks() bool { return true }

func (h1Front) canUpgrade() bool { return true }

func (h1Front) manageConnection(cc *Conn, x *exchange, resp *h1.Response, serverKeep bool) bool {
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

func (h1Front) writeHead(cc *Conn, x *exchange, resp *h1.Response, raw, body []byte, end bool) error {
	out := raw
	if out == nil || x.txn.RespEdited {
		x.out = h1.AppendResponseHead(x.out[:0], resp)
		// A body of unknown length from a server that does not frame it
		// in chunks (HTTP/2) is framed here.
		x.chunkOut = raw == nil && resp.Body == h1.BodyChunked && resp.Status >= 200
		if x.chunkOut && h1.Count(resp.Fields, "transfer-encoding") == 0 {
			x.out = appendChunkedField(x.out)
		}
		x.out = appendBody(x.out, body, x.chunkOut, end)
		out = x.out
	}
	_, err := cc.c.Write(out)
	if err == nil {
		x.strm.BytesOut += int64(len(out))
		cc.logHead(x, out) // %B counts the head as HAProxy does (accesslog.go)
	}
	return err
}

func (h1Front) writeBody(cc *Conn, x *exchange, p []byte, end bool) error {
	out := p
	if x.chunkOut {
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

func (h1Front) reply(cc *Conn, x *exchange, r *localReply) stepResult {
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

func (h1Front) keepAfterReply(cc *Conn, x *exchange) bool {
	return cc.keepAfterReplyH1(x)
}

// h2Front writes frames on the client's HTTP/2 stream (x.h2).
type h2Front struct{}

func (h2Front) passChunks() bool { return false }

// canUpgrade: an HTTP/2 request asks for no upgrade (core/h2 refuses the
// fields that would), so a 101 is a server's error.
func (h2Front) canUpgrade() bool { return false }

// manageConnection: connection management is HTTP/2's own.
func (h2Front) manageConnection(*Conn, *exchange, *h1.Response, bool) bool { return true }

func (h2Front) writeHead(_ *Conn, x *exchange, resp *h1.Response, _, body []byte, end bool) error {
	if end && resp.Status >= 200 {
		return x.writeH2Response(resp, body)
	}
	if err := x.writeH2Head(resp, false); err != nil {
		return err
	}
	if resp.Status < 200 {
		return nil
	}
	return x.writeH2Body(body, end)
}

func (h2Front) writeBody(_ *Conn, x *exchange, p []byte, end bool) error {
	return x.writeH2Body(p, end)
}

func (h2Front) reply(_ *Conn, x *exchange, r *localReply) stepResult {
	fs := x.h2fields[:0]
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
	err := x.h2.WriteResponse(r.status, fs, body)
	clear(fs)
	x.h2fields = fs[:0]
	if err != nil {
		x.strm.Term.Set(clientCause(err), session.PhaseLast)
		return closeConn
	}
	x.h2ended = true
	x.strm.BytesOut += int64(len(body))
	return closeConn
}

// keepAfterReply: the stream ends with the reply; HTTP/2 needs nothing
// skipped.
func (h2Front) keepAfterReply(*Conn, *exchange) bool { return true }

// readBody reads request body content (without HTTP/1.1 chunk framing)
// from the client connection's buffer, then its socket, once the request
// head has left the buffer (detachRequestHead); io.EOF at the body's end.
func (h1Front) readBody(cc *Conn, x *exchange, p []byte) (int, error) {
	if x.inBody == h1.BodyLength && x.bodyLeft == 0 || x.bodyDone {
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
	if x.inBody == h1.BodyLength {
		n := copy(p, data[:min(int64(len(data)), x.bodyLeft)])
		x.bodyLeft -= int64(n)
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
	x.bodyDone = done
	x.strm.BytesIn += int64(m)
	cc.buf.Consume(m)
	return len(content), nil
}

// readBody reads the request body from the client's stream.
func (h2Front) readBody(_ *Conn, x *exchange, p []byte) (int, error) {
	return x.h2.Read(p)
}

func (h1Front) takeHead(cc *Conn, x *exchange) error { return cc.detachRequestHead(x) }

func (h2Front) takeHead(*Conn, *exchange) error { return nil }

func (h1Front) received(cc *Conn) []byte { return cc.buf.Data() }

func (h2Front) received(*Conn) []byte { return nil }

func (h1Front) serverConn(cc *Conn, _ *exchange) *atomic.Pointer[backend.ServerConn] {
	return &cc.sconn
}

func (h2Front) serverConn(_ *Conn, x *exchange) *atomic.Pointer[backend.ServerConn] {
	return &x.sconn
}

func (h1Front) clientErr(*exchange) error { return nil }

func (h2Front) clientErr(x *exchange) error { return x.h2.Err() }

func (h1Front) clientDone(*exchange) <-chan struct{} { return nil }

func (h2Front) clientDone(x *exchange) <-chan struct{} { return x.h2.Done() }
