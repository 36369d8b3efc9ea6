package stream

import (
	"errors"
	"io"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// connector is the server end of one attempt of a stream. Its methods
// run on the stream's goroutine, in this order: sendHead, sendBody (when
// the request has a body), readHead (until a final head), startBody,
// readBody (until done), then finish; or abort after any failure. Every
// error a method returns is one of the errServer* values: the connector
// says what failed, the engine decides what follows. A client that went
// away meanwhile is the engine's to notice (endIfClientGone).
type connector interface {
	// sendHead sends the request head of x.txn, followed by atHand: body
	// bytes the engine holds already — an HTTP/1.1 client's, as it sent
	// them when passesFraming, their content otherwise.
	sendHead(cc *Conn, x *exchange, atHand []byte) error
	// passesFraming reports whether an HTTP/1.1 client's body goes to
	// the server as the client framed it (chunks and all).
	passesFraming() bool
	// waitsContinue reports whether the request body waits for the
	// server's 100 Continue (the client asked for it, HTTP/1.1 only).
	waitsContinue(x *exchange) bool
	// sendBody sends request body bytes: content when the body is read
	// as content (x.streamed()), else as passesFraming says. end ends the
	// body, with the trailers the filters let through.
	sendBody(cc *Conn, x *exchange, p []byte, end bool) error
	// readHead reads the next response head, interim or final, into
	// x.txn.Resp. raw is the head as an HTTP/1.1 server sent it (for a
	// head the rules leave alone), nil otherwise.
	readHead(cc *Conn, x *exchange) (raw []byte, err error)
	// startBody returns what came with the final head: raw, the head and
	// body bytes as received (nil when not HTTP/1.1), content, what the
	// client gets of those bytes (x.scanChunked), and whether the body
	// is complete.
	startBody(cc *Conn, x *exchange) (raw, content []byte, done bool, err error)
	// readBody returns the next piece of the response body for the
	// client, valid until the next call, and whether it is the last.
	readBody(cc *Conn, x *exchange) (content []byte, done bool, err error)
	// upgrade turns the stream into a tunnel after a 101 response; ok is
	// false when the protocol cannot.
	upgrade(cc *Conn, x *exchange, be *generation.Backend) (res stepResult, ok bool)
	// finish ends an attempt whose exchange completed; reuse says the
	// request went out whole, so that the connection may be pooled.
	finish(x *exchange, reuse bool)
	// abort ends an attempt that failed: the connection is closed, or
	// the stream reset. It may be called more than once.
	abort(x *exchange)
	// cancel ends the attempt in progress, if any, from the client's
	// frame loop (any goroutine) when the client reset its stream; the
	// stream's goroutine then sees failures and calls abort as usual.
	cancel()
}

// What a connector reports when the exchange with the server fails.
// The first three say the request may go again (mayRetry).
var (
	// errServerRefused: the server refused the stream before anything of
	// the request was sent (HTTP/2 GOAWAY, REFUSED_STREAM, a connection
	// that ended before the stream opened; RFC 9113 §8.7).
	errServerRefused = errors.New("request refused by the server")
	// errServerUnprocessed: the server provably did not act on what it
	// got: a reused connection it closed before reading the request, a
	// partial head, an HTTP/2 stream refused after the body started.
	errServerUnprocessed = errors.New("reused connection closed by the server")
	// errServerIdleClosed: a reused connection closed under the request,
	// which the server may have seen: only an idempotent one goes again.
	errServerIdleClosed = errors.New("reused connection closed by the server, request maybe seen")
	// errServerTimeout: the server timeout struck.
	errServerTimeout = errors.New("server timeout")
	// errServerBadResponse: the server's response broke the protocol.
	errServerBadResponse = errors.New("bad response from the server")
	// errServerAbort: any other failure of the server or its connection.
	errServerAbort = errors.New("server connection failed")
)

// MaxH2Replays bounds how many times one request goes again after servers
// refused it unprocessed. Only HTTP/2 servers can refuse it repeatedly: an
// HTTP/1.1 request goes again on a fresh connection, whose failure is
// final.
const MaxH2Replays = 3

// requestBody is what forward knows of the request body across attempts.
type requestBody struct {
	// An HTTP/1.1 client's body that is not read as content: the bytes of
	// it in the client buffer, whether they are all of it, and how many a
	// Content-Length body still has to bring.
	atHand    []byte
	complete  bool
	remaining int64
	// whole: the request can be sent again (its body is all at hand, or
	// kept in copy, or absent).
	whole   bool
	counted bool // atHand is in the stream's BytesIn
	// copy keeps a body read as content for a replay (bodyCopy).
	copy *bodyCopy
}

// replayable reports whether what was sent of the request can be sent
// again.
func (rb *requestBody) replayable(x *exchange) bool {
	if x.streamed() {
		return x.txn.Req.Body == h1.BodyNone || rb.copy.canReplay()
	}
	return rb.whole
}

// forward sends the request to a server of be and relays the response.
// A failed attempt goes again when the request provably did not reach the
// server, or it is idempotent and the reused connection it met closed
// (mayRetry): on HTTP/1.1 once, on a fresh connection to the same server;
// on HTTP/2, refused streams, up to maxH2Replays times. A request whose
// body had to be streamed from the client and was not kept is never sent
// twice.
func (cc *Conn) forward(x *exchange, be *generation.Backend) stepResult {
	strm, req := &x.strm, &x.txn.Req
	var rb requestBody
	headLen := req.HeadLen
	if x.streamed() {
		rb.complete = req.Body == h1.BodyNone
		if !rb.complete {
			// A body read as content is kept as it is read while it fits
			// in one buffer (bodyCopy).
			x.bodyCopy = bodyCopy{bp: transport.GetBuf(), ok: true}
			rb.copy = &x.bodyCopy
			defer x.dropBodyCopy()
		}
	} else {
		var err error
		rb.atHand, rb.complete, rb.remaining, err = cc.requestBodyInBuffer(x)
		if err != nil {
			strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
			return cc.replyError(x, 400)
		}
		rb.whole = rb.complete
	}
	cc.traceAttempt(x, be) // traceparent (telemetry.go)
	cc.fillKey(x, be)
	fresh := false
	for replays := 0; ; replays++ {
		sc, err := cc.connect(x, be, fresh)
		if err != nil {
			return cc.replyError(x, 503)
		}
		res, retry := cc.attempt(x, be, x.connectorFor(sc, be), &rb)
		if !retry {
			if !x.streamed() && !x.consumed {
				// The request, sent from the client buffer, leaves it now
				// that nothing reads it any more.
				cc.buf.Consume(headLen + len(rb.atHand))
				x.consumed = true
			}
			return res
		}
		if replays >= MaxH2Replays {
			// Refused again and again: the client gets an answer.
			be.ObserveResponseError(x.srv)
			strm.Term.Set(session.CauseServerAbort, session.PhaseConnect)
			return cc.replyError(x, 502)
		}
		fresh = true
		strm.Retries++
		cc.traceRetry(x)
	}
}

// connectorFor returns the exchange's connector for the connection connect
// returned: sc for an HTTP/1.1 server, else the HTTP/2 connection connect
// gave the HTTP/2 connector (x.h2s.up). It points into the exchange, so
// it costs no allocation.
func (x *exchange) connectorFor(sc *backend.ServerConn, be *generation.Backend) connector {
	if sc != nil {
		x.h1s = h1Server{sc: sc}
		return &x.h1s
	}
	x.h2s.h2Attempt = h2Attempt{up: x.h2s.up, timeout: be.Timeouts.Server}
	return &x.h2s
}

// cancelServer has the connectors end the attempt in progress when the
// client resets its stream (h2Front's OnAbort: clientAborted); the one not
// in use does nothing.
func (x *exchange) cancelServer() {
	x.h1s.cancel()
	x.h2s.cancel()
}

// attempt runs one exchange with the server: the request, then the
// response. retry says the attempt failed in a way that lets the request
// go again; nothing was answered to the client then.
func (cc *Conn) attempt(x *exchange, be *generation.Backend, cn connector, rb *requestBody) (res stepResult, retry bool) {
	strm, req := &x.strm, &x.txn.Req
	if !x.streamed() && !rb.complete && !rb.counted && req.Body == h1.BodyChunked {
		// The stream may have waited (queue, connect) while the client
		// sent more of a chunked body: look again, a malformed chunk being
		// refused before the head leaves.
		var err error
		if rb.atHand, rb.complete, _, err = cc.requestBodyInBuffer(x); err != nil {
			cn.abort(x)
			strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
			return cc.replyError(x, 400), false
		}
		rb.whole = rb.complete
	}
	atHand, err := x.atHandFor(cn, rb)
	if err != nil {
		cn.abort(x)
		strm.Term.Set(session.CauseBadRequest, session.PhaseData)
		return cc.replyError(x, 400), false
	}
	if err := cn.sendHead(cc, x, atHand); err != nil {
		return cc.serverSendFailed(x, be, cn, rb, err, session.PhaseConnect)
	}
	if !rb.counted {
		strm.BytesIn += int64(len(rb.atHand))
		rb.counted = true
	}
	x.srv.Stats.Streams.Add(1)
	if req.Body != h1.BodyNone && !cn.waitsContinue(x) {
		if res, retry, ok := cc.sendRequestBody(x, be, cn, rb); !ok {
			return res, retry
		}
	}
	return cc.relay(x, be, cn, rb)
}

// atHandFor returns the body bytes at hand as cn takes them with the
// head: as the client framed them, or their content.
func (x *exchange) atHandFor(cn connector, rb *requestBody) ([]byte, error) {
	if len(rb.atHand) == 0 || cn.passesFraming() || x.txn.Req.Body != h1.BodyChunked {
		return rb.atHand, nil
	}
	x.chunk.Reset()
	var err error
	_, _, x.dechunk, err = x.chunk.ScanData(rb.atHand, x.dechunk[:0])
	return x.dechunk, err
}

// sendRequestBody sends the request body that is not at hand yet (or, on
// a retry, what was kept of it) and ends it. ok is false when the stream
// cannot go on; retry then says the request may go again.
func (cc *Conn) sendRequestBody(x *exchange, be *generation.Backend, cn connector, rb *requestBody) (res stepResult, retry, ok bool) {
	var err error
	switch {
	case x.streamed():
		res, retry, ok = cc.sendBodyContent(x, be, cn, rb)
		if !ok {
			return res, retry, false
		}
	case !rb.complete:
		res, retry, ok = cc.sendBodyFromClient(x, be, cn, rb)
		if !ok {
			return res, retry, false
		}
	}
	if err = cn.sendBody(cc, x, nil, true); err != nil {
		res, retry = cc.serverSendFailed(x, be, cn, rb, err, session.PhaseData)
		return res, retry, false
	}
	rb.complete = true
	return keepOpen, false, true
}

// sendBodyContent sends a body read as content (x.readBody: an HTTP/2
// client's, or one the filters see), keeping it in rb.copy; on a retry
// what the copy holds goes first.
func (cc *Conn) sendBodyContent(x *exchange, be *generation.Backend, cn connector, rb *requestBody) (res stepResult, retry, ok bool) {
	strm := &x.strm
	if c := rb.copy; c.canReplay() && c.n > 0 {
		if err := cn.sendBody(cc, x, (*c.bp)[:c.n], false); err != nil {
			res, retry = cc.serverSendFailed(x, be, cn, rb, err, session.PhaseData)
			return res, retry, false
		}
	}
	bp := transport.GetBuf()
	defer transport.PutBuf(bp)
	buf := *bp
	for {
		n, err := x.readBody(cc, buf)
		if n > 0 {
			rb.copy.add(buf[:n])
			if werr := cn.sendBody(cc, x, buf[:n], false); werr != nil {
				res, retry = cc.serverSendFailed(x, be, cn, rb, werr, session.PhaseData)
				return res, retry, false
			}
			strm.BytesIn += int64(n)
		}
		if err == io.EOF {
			return keepOpen, false, true
		}
		if err != nil {
			return cc.clientBodyFailed(x, cn, err), false, false
		}
	}
}

// sendBodyFromClient sends the rest of an HTTP/1.1 client's body from
// the client buffer, then its socket: as framed, or its content, as cn
// says. The request head is gone from the buffer afterwards.
func (cc *Conn) sendBodyFromClient(x *exchange, be *generation.Backend, cn connector, rb *requestBody) (res stepResult, retry, ok bool) {
	strm, req := &x.strm, &x.txn.Req
	if !x.consumed {
		cc.buf.Consume(req.HeadLen + len(rb.atHand))
		x.consumed = true
		x.txn.ForgetRequest()
	}
	cc.c.ReadDeadline = time.Time{}
	framed := cn.passesFraming()
	remaining := rb.remaining
	for done := false; !done; {
		if cc.buf.Len() == 0 {
			if _, err := cc.c.Fill(&cc.buf); err != nil {
				return cc.clientBodyFailed(x, cn, err), false, false
			}
		}
		data := cc.buf.Data()
		n := len(data)
		p := data
		if req.Body == h1.BodyLength {
			if int64(n) >= remaining {
				n, done = int(remaining), true
			}
			remaining -= int64(n)
			p = data[:n]
		} else {
			var err error
			if framed {
				n, done, err = x.chunk.Scan(data)
				p = data[:n]
			} else {
				n, done, x.dechunk, err = x.chunk.ScanData(data, x.dechunk[:0])
				p = x.dechunk
			}
			if err != nil {
				cn.abort(x)
				strm.Term.Set(session.CauseBadRequest, session.PhaseData)
				return cc.replyError(x, 400), false, false
			}
		}
		if len(p) > 0 {
			if err := cn.sendBody(cc, x, p, false); err != nil {
				res, retry = cc.serverSendFailed(x, be, cn, rb, err, session.PhaseData)
				return res, retry, false
			}
		}
		strm.BytesIn += int64(n)
		cc.buf.Consume(n)
	}
	return keepOpen, false, true
}

// relay reads the response head, after any interim ones, runs it through
// acceptResponse and relays the response to the client.
func (cc *Conn) relay(x *exchange, be *generation.Backend, cn connector, rb *requestBody) (res stepResult, retry bool) {
	strm, txn := &x.strm, &x.txn
	req, resp := &txn.Req, &txn.Resp
	srv := x.srv
	sent0 := time.Now()
	for {
		raw, err := cn.readHead(cc, x)
		if err != nil {
			return cc.serverHeadFailed(x, be, cn, rb, err)
		}
		if x.ttfb < 0 {
			x.ttfb = time.Since(sent0)
		}
		if resp.Status >= 200 {
			break
		}
		if resp.Status == 101 {
			if x.fr.canUpgrade() {
				if res, ok := cn.upgrade(cc, x, be); ok {
					return res, false
				}
			}
			cn.abort(x)
			be.ObserveResponseError(srv)
			strm.Term.Set(session.CauseBadResponse, session.PhaseHeaders)
			return cc.replyError(x, 502), false
		}
		// Interim responses go to the client as they are.
		if err := x.sendHead(cc, resp, raw, nil, false); err != nil {
			cn.abort(x)
			strm.Term.Set(clientCause(err), session.PhaseHeaders)
			return closeConn, false
		}
		if resp.Status == 100 && !rb.complete {
			if res, retry, ok := cc.sendRequestBody(x, be, cn, rb); !ok {
				return res, retry
			}
		}
	}
	if !rb.complete {
		// The server answered without waiting for the body it was promised
		// (Expect: 100-continue): the client connection cannot be reused
		// since the body is unread.
		req.KeepAlive = false
	}
	if res, replaced := cc.acceptResponse(x, be, srv); replaced {
		cn.abort(x)
		return res, false
	}
	keep := x.fr.manageConnection(cc, x, resp, resp.KeepAlive)
	raw, content, done, err := cn.startBody(cc, x)
	if err != nil {
		cn.abort(x)
		strm.Term.Set(session.CauseBadResponse, session.PhaseHeaders)
		return cc.replyError(x, 502), false
	}
	// Counted before the client can see the response, so that a client
	// reading the stats after its response finds it counted.
	srv.Stats.CountStatus(resp.Status)
	if err := x.sendHead(cc, resp, raw, content, done); err != nil {
		cn.abort(x)
		strm.Term.Set(clientCause(err), session.PhaseData)
		return closeConn, false
	}
	untilClose := resp.Body == h1.BodyUntilClose
	txn.ForgetResponse()
	for !done {
		if content, done, err = cn.readBody(cc, x); err != nil {
			return cc.serverBodyFailed(x, cn, err), false
		}
		if err := x.sendBody(cc, content, done); err != nil {
			cn.abort(x)
			strm.Term.Set(clientCause(err), session.PhaseData)
			return closeConn, false
		}
	}
	cn.finish(x, rb.complete)
	if !keep || untilClose {
		return closeConn, false
	}
	return keepOpen, false
}

// mayRetry reports whether a request whose attempt failed with err may go
// again: refused unprocessed, or unprocessed and still whole, or met a
// closing reused connection, idempotent (RFC 9110, 9.2.2) and still
// whole.
func (cc *Conn) mayRetry(x *exchange, rb *requestBody, err error) bool {
	switch err {
	case errServerRefused:
		return true
	case errServerUnprocessed:
		return rb.replayable(x)
	case errServerIdleClosed:
		return rb.replayable(x) && isIdempotent(x.method)
	}
	return false
}

// serverSendFailed ends an attempt whose request (head, in phase
// PhaseConnect, or body, PhaseData) the server did not take.
func (cc *Conn) serverSendFailed(x *exchange, be *generation.Backend, cn connector, rb *requestBody, err error, phase session.Phase) (stepResult, bool) {
	cn.abort(x)
	if x.endIfClientGone() {
		return closeConn, false
	}
	if cc.mayRetry(x, rb, err) {
		return keepOpen, true
	}
	if phase == session.PhaseConnect {
		be.ObserveResponseError(x.srv)
	}
	x.strm.Term.Set(session.CauseServerAbort, phase)
	return cc.replyError(x, 502), false
}

// serverHeadFailed ends an attempt that got no response head.
func (cc *Conn) serverHeadFailed(x *exchange, be *generation.Backend, cn connector, rb *requestBody, err error) (stepResult, bool) {
	cn.abort(x)
	if x.endIfClientGone() {
		return closeConn, false
	}
	cause, status := session.CauseServerAbort, 502
	switch {
	case err == errServerBadResponse:
		cause = session.CauseBadResponse
	case err == errServerTimeout:
		cause, status = session.CauseServerTimeout, 504
	case cc.mayRetry(x, rb, err):
		return keepOpen, true
	}
	be.ObserveResponseError(x.srv)
	x.strm.Term.Set(cause, session.PhaseHeaders)
	x.srv.Stats.Term[cause].Add(1)
	return cc.replyError(x, status), false
}

// serverBodyFailed ends a stream whose response body broke off: the
// client must not take a truncated body for a whole one, so an HTTP/1.1
// connection closes and an HTTP/2 stream is reset.
func (cc *Conn) serverBodyFailed(x *exchange, cn connector, err error) stepResult {
	cn.abort(x)
	if x.endIfClientGone() {
		return closeConn
	}
	switch err {
	case errServerTimeout:
		x.strm.Term.Set(session.CauseServerTimeout, session.PhaseData)
	case errServerBadResponse:
		x.strm.Term.Set(session.CauseBadResponse, session.PhaseData)
	default:
		x.strm.Term.Set(session.CauseServerAbort, session.PhaseData)
	}
	return closeConn
}

// clientBodyFailed ends a stream whose request body the client did not
// deliver, or a filter stopped.
func (cc *Conn) clientBodyFailed(x *exchange, cn connector, err error) stepResult {
	cn.abort(x)
	if res, ok := cc.filterBodyFailed(x, err); ok {
		return res
	}
	if transport.IsTimeout(err) {
		// HAProxy's cH: the client timeout struck while waiting for the
		// body, before any response.
		x.strm.Term.Set(session.CauseClientTimeout, session.PhaseHeaders)
		return cc.replyError(x, 408)
	}
	x.strm.Term.Set(session.CauseClientAbort, session.PhaseData)
	return closeConn
}

// isIdempotent reports whether a request with this method may be sent
// again after a failure (RFC 9110, 9.2.2).
func isIdempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// fillKey tells the balancer what it needs of an HTTP stream.
func (cc *Conn) fillKey(x *exchange, be *generation.Backend) {
	k := &x.key
	need := be.Needs()
	if need == 0 {
		return
	}
	if need&backend.NeedSrc != 0 {
		k.Src = cc.conn.Src.Addr()
	}
	if need&backend.NeedPath != 0 {
		k.Path = x.txn.Req.Path
	}
	if need&backend.NeedHeader != 0 {
		k.Hdr, k.HasHdr = h1.Lookup(x.txn.Req.Fields, be.HashHeader, 1)
	}
}

// bodyCopy keeps a request body read as content as it is sent, in one
// pooled buffer, so that a request the server refuses can be sent again.
// A body larger than the buffer is not kept: the request then cannot be
// replayed (HAProxy, likewise, retries only a request that fits in its
// buffer).
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

// dropBodyCopy gives the body copy's buffer back.
func (x *exchange) dropBodyCopy() {
	transport.PutBuf(x.bodyCopy.bp)
	x.bodyCopy = bodyCopy{}
}
