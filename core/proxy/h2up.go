package proxy

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// HTTP/2 to servers (`h2: true`). A server spoken to in HTTP/2 has a pool
// of multiplexed connections (backend.H2Pool): a stream opens an HTTP/2 stream on
// one that can take it, or dials a new one through the same path as
// HTTP/1.1 connections (TCP, PROXY header, TLS with ALPN h2). The
// stream's request — from an HTTP/1.1 or an HTTP/2 client — becomes the
// HTTP/2 request (RFC 9113 §8.3.1); the response head's fields are copied
// into the transaction (h2Response), so the response rules and filters see
// it as any other, and the client's front sends it in the client's
// protocol. maxconn and queues count streams, as for
// HTTP/1.1.

// h2Upstream returns the HTTP/2 pool of srv, nil when srv speaks HTTP/1.1.
func (cc *clientConn) h2Upstream(srv *backend.Server) *backend.H2Pool {
	if cc.l4 == nil || cc.l4.servers == nil {
		return nil
	}
	if ls := cc.l4.servers[srv]; ls != nil {
		return ls.h2
	}
	return nil
}

// maxH2Replays bounds how many times one request goes again after HTTP/2
// servers refused it unprocessed.
const maxH2Replays = 3

// errH2Retry says an HTTP/2 server did not process the request: it goes
// again, on another connection.
var errH2Retry = errors.New("retry on another connection")

// forwardToH2 sends the stream's request to x.up, an HTTP/2 connection to
// the stream's server, and relays the response. A request the server did
// not process — refused by GOAWAY's last stream id or REFUSED_STREAM, or
// meeting a connection that ended before it was sent (RFC 9113 §8.7) —
// goes again on another connection, whatever its method, when all of it
// is still here: it has no body, or it comes from an HTTP/1.1 client whose
// body was read whole, which then stays in the client buffer until the
// exchange ends.
func (cc *clientConn) forwardToH2(x *exchange, be *Backend) stepResult {
	strm := &x.strm
	buffered := -1 // request body bytes sent from the client buffer; -1: streamed
	if !x.streamed() {
		if body, complete, _, err := cc.requestBodyInBuffer(x); err == nil && complete {
			buffered = len(body)
		}
	}
	replay := buffered >= 0 || x.txn.Req.Body == h1.BodyNone
	var bc *bodyCopy // an HTTP/2 client's body, kept as it is sent
	if !replay && x.streamed() {
		bc = &bodyCopy{bp: transport.GetBuf(), ok: true}
		defer transport.PutBuf(bc.bp)
	}
	fresh := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if _, err := cc.connect(x, be, fresh); err != nil {
				return cc.replyError(x, 503)
			}
		}
		res, err := cc.exchangeH2(x, be, replay, buffered, bc)
		if err == errH2Retry && attempt >= maxH2Replays {
			// Refused again and again: the client gets an answer.
			be.ObserveResponseError(x.srv)
			strm.Term.Set(session.CauseServerAbort, session.PhaseConnect)
			res, err = cc.replyError(x, 502), nil
		}
		if err != errH2Retry {
			if !x.streamed() && !x.consumed {
				// An HTTP/1.1 request whose body, if any, was sent from
				// the buffer: it leaves the buffer now that nothing reads
				// it any more.
				cc.buf.Consume(x.txn.Req.HeadLen + max(buffered, 0))
				strm.BytesIn += int64(max(buffered, 0))
				x.consumed = true
			}
			return res
		}
		fresh = true
		strm.Retries++
	}
}

// bodyCopy keeps the request body of an HTTP/2 client as it is read and
// sent, in one pooled buffer, so that a stream the server refuses can be
// sent again. A body larger than the buffer is not kept: the request then
// cannot be replayed (HAProxy, likewise, retries only a request that fits
// in its buffer).
type bodyCopy struct {
	bp *[]byte
	n  int
	ok bool // every body byte read so far is in the copy
}

// add keeps p, or gives up on the copy when it does not fit.
func (b *bodyCopy) add(p []byte) {
	if b == nil || !b.ok {
		return
	}
	if b.n+len(p) > len(*b.bp) {
		b.ok = false
		return
	}
	b.n += copy((*b.bp)[b.n:], p)
}

// canReplay reports whether b holds all of the body read so far.
func (b *bodyCopy) canReplay() bool { return b != nil && b.ok }

// exchangeH2 runs one attempt of forwardToH2. It returns errH2Retry when
// the server did not process the request and the request can go again:
// replay, or an HTTP/2 client's body all kept in bc.
func (cc *clientConn) exchangeH2(x *exchange, be *Backend, replay bool, buffered int, bc *bodyCopy) (stepResult, error) {
	strm, txn := &x.strm, &x.txn
	req := &txn.Req
	up, srv := x.up, x.srv
	x.up = nil
	r := h2.ClientRequest{Method: string(req.Method), Scheme: "http", Path: string(req.URI), EndStream: req.Body == h1.BodyNone}
	if ls := cc.l4.servers[srv]; ls.tls != nil {
		r.Scheme = "https"
	}
	if len(req.URI) == 0 || req.URI[0] != '/' && string(req.URI) != "*" {
		// Absolute form from an HTTP/1.1 client: the path goes on, the
		// authority travels as :authority.
		r.Path = string(req.Path)
		if req.Query != nil {
			r.Path += "?" + string(req.Query)
		}
	}
	if host, ok := h1.Lookup(req.Fields, "host", 1); ok {
		r.Authority = string(host)
	}
	// The proxy reads the body from the client itself: no Expect.
	fs := x.h2Fields(req.Fields, "expect")
	r.Fields = fs
	sent0 := time.Now()
	cs, err := up.OpenStream(&r)
	clear(fs)
	if err != nil {
		if errors.Is(err, h2.ErrRetryable) { // nothing was sent
			return keepOpen, errH2Retry
		}
		be.ObserveResponseError(srv)
		strm.Term.Set(session.CauseServerAbort, session.PhaseConnect)
		return cc.replyError(x, 502), nil
	}
	srv.Stats.Streams.Add(1)
	// A client that resets its stream resets this one (closeServerConn).
	x.upStream.Store(cs)
	defer x.upStream.Store(nil)
	if x.fr.clientErr(x) != nil { // reset before closeServerConn could see it
		cs.Reset(http2.ErrCodeCancel)
	}
	// The server timeout bounds each wait for the server: the response
	// head, then every read of the body. When it fires the stream is
	// reset, which fails the wait.
	var timedOut atomic.Bool // per stream: a late timer must not mark the exchange's next one
	if d := be.Timeouts.Server; d > 0 {
		x.upTimer = time.AfterFunc(d, func() {
			timedOut.Store(true)
			cs.Reset(http2.ErrCodeCancel)
		})
		x.upTimeout = d
		defer x.upTimer.Stop()
	}
	x.upTimedOut = &timedOut
	if r.EndStream {
		// nothing to send
	} else if res, ok, refused := cc.sendBodyToH2(x, cs, buffered, bc); !ok {
		if refused {
			return keepOpen, errH2Retry
		}
		return res, nil
	}

	// The response head, after any interim ones.
	var resp *h2.ClientResponse
	for {
		resp, err = cs.ReadResponse()
		if err != nil {
			cs.Reset(http2.ErrCodeCancel)
			if x.endIfClientGone() {
				return closeConn, nil
			}
			if errors.Is(err, h2.ErrRetryable) && (replay || bc.canReplay()) {
				return keepOpen, errH2Retry
			}
			be.ObserveResponseError(srv)
			strm.Term.Set(session.CauseServerAbort, session.PhaseHeaders)
			if timedOut.Load() {
				strm.Term.Set(session.CauseServerTimeout, session.PhaseHeaders)
				return cc.replyError(x, 504), nil
			}
			return cc.replyError(x, 502), nil
		}
		if x.ttfb < 0 {
			x.ttfb = time.Since(sent0)
		}
		if resp.Status >= 200 {
			break
		}
		if resp.Status == 101 {
			cs.Reset(http2.ErrCodeProtocol)
			be.ObserveResponseError(srv)
			strm.Term.Set(session.CauseBadResponse, session.PhaseHeaders)
			return cc.replyError(x, 502), nil
		}
		if err := cc.writeInterim(x, resp); err != nil {
			cs.Reset(http2.ErrCodeCancel)
			strm.Term.Set(clientCause(err), session.PhaseHeaders)
			return closeConn, nil
		}
	}
	x.h2Response(resp, req)
	if res, replaced := cc.acceptResponse(x, be, srv); replaced {
		cs.Reset(http2.ErrCodeCancel)
		return res, nil
	}
	srv.Stats.CountStatus(resp.Status)
	return cc.relayH2Body(x, cs, resp.EndStream), nil
}

// writeInterim relays a 1xx response to the client.
func (cc *clientConn) writeInterim(x *exchange, r *h2.ClientResponse) error {
	x.h2Response(r, &x.txn.Req)
	return x.fr.writeHead(cc, x, &x.txn.Resp, nil, nil, false)
}

// h2Response makes an HTTP/2 response head the transaction's HTTP/1.1
// one, in one slab of storage owned by the exchange, framed for the
// client: an HTTP/1.1 client gets a body of unknown length chunked.
func (x *exchange) h2Response(r *h2.ClientResponse, req *h1.Request) {
	b := x.slabFor(0, r.Fields)
	add := b.add
	resp := &x.txn.Resp
	resp.Reset()
	resp.Minor, resp.Status, resp.KeepAlive = 1, r.Status, true
	for _, f := range r.Fields {
		resp.Fields = append(resp.Fields, h1.Field{Name: add(f.Name), Value: add(f.Value)})
	}
	switch {
	case r.Status < 200:
		resp.Body = h1.BodyNone
	case r.EndStream || string(req.Method) == "HEAD" || r.Status == 204 || r.Status == 304:
		resp.Body = h1.BodyNone
	case r.ContentLength >= 0:
		resp.Body, resp.ContentLength = h1.BodyLength, r.ContentLength
	case x.fr.passChunks() && req.Minor == 1:
		resp.Body = h1.BodyChunked // the HTTP/1.1 front frames it (front.go)
	default:
		// An HTTP/1.0 client learns the end from the close.
		resp.Body = h1.BodyUntilClose
		resp.KeepAlive = false
	}
	x.h2buf = *b
}

// relayH2Body sends the response head to the client, then the body read
// from the server's stream.
func (cc *clientConn) relayH2Body(x *exchange, cs *h2.ClientStream, noBody bool) stepResult {
	strm, resp := &x.strm, &x.txn.Resp
	keep := x.fr.manageConnection(cc, x, resp, true)
	if err := x.sendHead(cc, resp, nil, nil, noBody); err != nil {
		cs.Reset(http2.ErrCodeCancel)
		strm.Term.Set(clientCause(err), session.PhaseData)
		return closeConn
	}
	x.txn.ForgetResponse()
	if noBody {
		cs.Reset(http2.ErrCodeCancel) // a HEAD or 304 body, if the server sends one, is not wanted
		if !keep {
			return closeConn
		}
		return keepOpen
	}
	bp := transport.GetBuf()
	defer transport.PutBuf(bp)
	buf := *bp
	for {
		n, rerr := cs.Read(buf)
		if x.upTimer != nil {
			x.upTimer.Reset(x.upTimeout)
		}
		if n > 0 {
			if werr := x.sendBody(cc, buf[:n], false); werr != nil {
				cs.Reset(http2.ErrCodeCancel)
				strm.Term.Set(clientCause(werr), session.PhaseData)
				return closeConn
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The client must not take a truncated body for a whole one:
			// an HTTP/1.1 connection closes, an HTTP/2 stream is reset.
			if x.endIfClientGone() {
				return closeConn
			}
			if x.upTimedOut.Load() {
				strm.Term.Set(session.CauseServerTimeout, session.PhaseData)
			} else {
				strm.Term.Set(session.CauseServerAbort, session.PhaseData)
			}
			return closeConn
		}
	}
	if x.flt != nil {
		x.flt.respTr.addH2(cs.Trailers()) // for the filters (filter_trailers.go)
	}
	if err2 := x.sendBody(cc, nil, true); err2 != nil {
		strm.Term.Set(clientCause(err2), session.PhaseData)
		return closeConn
	}
	if !keep {
		return closeConn
	}
	return keepOpen
}

// sendBodyToH2 copies the request body from the client — an HTTP/2
// stream, or an HTTP/1.1 connection whose chunked framing is removed —
// to the server's stream, then ends it. buffered >= 0 says the body is
// whole in the client buffer, buffered bytes after the head: it is sent
// from there and left in place for a retry. An HTTP/2 client's body is
// kept in bc as it is read, and what bc holds goes first on a retry.
// refused reports a failure because the server refused the stream
// unprocessed and the request can go again (nothing is answered to the
// client then).
func (cc *clientConn) sendBodyToH2(x *exchange, cs *h2.ClientStream, buffered int, bc *bodyCopy) (res stepResult, ok, refused bool) {
	strm, req := &x.strm, &x.txn.Req
	fail := func(err error, client bool) (stepResult, bool, bool) {
		cs.Reset(http2.ErrCodeCancel)
		if client {
			if res, ok := cc.filterBodyFailed(x, err); ok {
				return res, false, false
			}
			if transport.IsTimeout(err) {
				strm.Term.Set(session.CauseClientTimeout, session.PhaseHeaders) // HAProxy's cH: waiting for the body, before any response
				return cc.replyError(x, 408), false, false
			}
			strm.Term.Set(session.CauseClientAbort, session.PhaseData)
			return closeConn, false, false
		}
		if errors.Is(err, h2.ErrRetryable) && (buffered >= 0 || bc.canReplay()) {
			return keepOpen, false, true
		}
		if x.endIfClientGone() {
			return closeConn, false, false
		}
		strm.Term.Set(session.CauseServerAbort, session.PhaseData)
		return cc.replyError(x, 502), false, false
	}
	if x.streamed() {
		if bc.canReplay() && bc.n > 0 { // a retry: what was read before goes first
			if _, err := cs.Write((*bc.bp)[:bc.n]); err != nil {
				return fail(err, false)
			}
		}
		bp := transport.GetBuf()
		defer transport.PutBuf(bp)
		for {
			n, err := x.readBody(cc, *bp)
			if n > 0 {
				bc.add((*bp)[:n])
				if _, werr := cs.Write((*bp)[:n]); werr != nil {
					return fail(werr, false)
				}
				strm.BytesIn += int64(n)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(err, true)
			}
		}
	} else if buffered >= 0 {
		body := cc.buf.Data()[req.HeadLen : req.HeadLen+buffered]
		content := body
		if req.Body == h1.BodyChunked {
			x.chunk.Reset()
			var err error
			if _, _, x.dechunk, err = x.chunk.ScanData(body, x.dechunk[:0]); err != nil {
				cs.Reset(http2.ErrCodeCancel)
				strm.Term.Set(session.CauseBadRequest, session.PhaseData)
				return cc.replyError(x, 400), false, false
			}
			content = x.dechunk
		}
		if len(content) > 0 {
			if _, err := cs.Write(content); err != nil {
				return fail(err, false)
			}
		}
	} else {
		// The body from the client connection's buffer, then the socket.
		if !x.consumed {
			cc.buf.Consume(req.HeadLen)
			x.consumed = true
			x.txn.ForgetRequest()
		}
		cc.c.ReadDeadline = time.Time{}
		remaining := req.ContentLength
		x.chunk.Reset()
		for done := false; !done; {
			if cc.buf.Len() == 0 {
				if _, err := cc.c.Fill(&cc.buf); err != nil {
					return fail(err, true)
				}
			}
			data := cc.buf.Data()
			var n int
			content := data
			if req.Body == h1.BodyLength {
				n = len(data)
				if int64(n) >= remaining {
					n, done = int(remaining), true
				}
				remaining -= int64(n)
				content = data[:n]
			} else {
				var err error
				n, done, x.dechunk, err = x.chunk.ScanData(data, x.dechunk[:0])
				content = x.dechunk
				if err != nil {
					cs.Reset(http2.ErrCodeCancel)
					strm.Term.Set(session.CauseBadRequest, session.PhaseData)
					return cc.replyError(x, 400), false, false
				}
			}
			if len(content) > 0 {
				if _, err := cs.Write(content); err != nil {
					return fail(err, false)
				}
			}
			strm.BytesIn += int64(n)
			cc.buf.Consume(n)
		}
	}
	if err := closeRequest(cs, x.takeRequestTrailers()); err != nil {
		return fail(err, false)
	}
	return keepOpen, true, false
}

// closeRequest ends a request's body on an HTTP/2 server's stream, with the
// trailer section filters let through when there is one.
func closeRequest(cs *h2.ClientStream, trailers []h1.Field) error {
	if len(trailers) > 0 {
		return cs.WriteTrailers(hpackFields(trailers))
	}
	return cs.CloseWrite()
}
