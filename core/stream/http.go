package stream

import (
	"io"
	"strconv"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/accesslog"
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// exchange is the per-stream state of an HTTP/1.1 client connection: the
// stream, its transaction and their scratch. It comes from a pool when a
// request starts and goes back when the response is done, so an idle
// keep-alive connection holds none of it.
type exchange struct {
	// Owned by the stream's goroutine (the connection's on HTTP/1.1 and
	// in TCP mode, the stream's own on HTTP/2), as is everything not
	// listed under a later heading.
	strm  session.Stream
	txn   session.Txn
	fctx  fetch.Ctx
	out   []byte // serialised heads and local replies
	name  []byte // dynamic target names
	chunk h1.ChunkedScanner
	rec   accesslog.Record
	caps  logCaptures // headers captured for the log
	uid   []byte      // the request's unique id (unique_id_format), once made
	noLog bool        // a monitor_uri probe: no access-log line, as HAProxy

	method, uri []byte // copies kept for the log after the request head is gone
	ttfb        time.Duration
	consumed    bool // the request has been removed from the client buffer
	// A reply the proxy made before the request body arrived: the body
	// is drained after it (drainRequestBody); drainLeft is what a
	// Content-Length body still has to come.
	drain     bool
	drainLeft int64

	// The server choice: what the balancer reads, the stream's place in a
	// queue, and the server whose slot the stream holds (nil when none).
	key  backend.Key
	wait backend.Waiter
	srv  *backend.Server

	// svc is the StreamService the stream used, ended with the stream
	// (plugin_service.go).
	svc generation.StreamService

	// fr is the client's front (front.go): one of h1f, h2f and tcpf,
	// which hold its per-stream state of the wire.
	fr   clientFront
	h1f  h1Front
	h2f  h2Front
	tcpf tcpFront

	// The server side of the attempt in progress (server.go): one of the
	// connectors, which hold its state of the wire, in use through a
	// connector pointing here. bodyCopy keeps a request body read as
	// content for a replay. dechunk is scratch for a chunked body's
	// content (an HTTP/1.1 client's body to a connector that does not
	// pass framing, an HTTP/1.1 server's to a front that does not).
	h1s      h1Server
	h2s      h2Server
	bodyCopy bodyCopy
	dechunk  []byte

	streamTelemetry // spans and the objects whose latency is observed (telemetry.go)

	// Two fields above are shared with the HTTP/2 frame loop, both
	// atomic: h2f.sconn and h2s.live, which its OnAbort callback
	// (clientAborted) takes when the client resets the stream or its
	// connection dies (front.go, server_h2.go).

	// The filter chain's state (filter.go): nil, and fltState unused, for
	// a stream without filters. Filters may call Resume, Reply and Close
	// from any goroutine: those touch fltState only under its lock.
	flt      *filterRun
	fltState filterRun
}

// stepResult says what the connection does after a stream.
type stepResult uint8

const (
	keepOpen  stepResult = iota // serve the next request
	closeConn                   // close the client connection
)

// serveHTTP drives an HTTP/1.1 client connection: one stream after another
// until the client or a rule closes it.
func (cc *Conn) serveHTTP() {
	fe := cc.fe
	first := cc.sess.Streams.Load() == 0 // false when a parked connection resumes (idle.go)
	if cc.conn.TLS != nil && cc.conn.TLS.ALPN == "h2" {
		cc.serveH2()
		return
	}
	for {
		if cc.buf.Len() == 0 {
			// Only a connection between requests is idle: graceful stop
			// closes those (after the upgrade linger), while a connection
			// that has not sent its first request yet gets it served, with
			// "Connection: close" when the proxy is draining. Closing it
			// unread would fail a request the client has already sent.
			if !first {
				cc.Idle.Store(true)
			}
			var err error
			if first {
				cc.c.ReadDeadline = cc.sess.Start.Add(fe.Timeouts.HTTPRequest)
				_, err = cc.c.Fill(&cc.buf)
			} else if err = cc.waitRequest(fe.Timeouts.HTTPKeepAlive); err == errParked {
				return // the watcher gives the connection a goroutine again (idle.go)
			}
			cc.Idle.Store(false)
			if err != nil {
				// The client closed or went quiet between requests: no
				// stream was born, nothing to log (HAProxy's dontlognull).
				if first {
					cc.trackNoRequest(err) // HAProxy's stick counters see a request anyway
				}
				return
			}
		}
		if first && fe.H2.Cleartext {
			isH2, ok := cc.wantsH2()
			if !ok {
				cc.trackNoRequest(io.EOF)
				return
			}
			if isH2 {
				cc.serveH2()
				return
			}
		}
		if g := cc.p.Gen.Load(); g != cc.gen {
			cc.moveTo(g) // a reload happened: the next stream runs on the new configuration (reload.go)
			fe = cc.fe
		}
		first = false
		x := exchangePool.Get().(*exchange)
		x.fr = &x.h1f
		res := cc.serveStream(x)
		x.reset()
		exchangePool.Put(x)
		if res == closeConn {
			return
		}
	}
}

func (x *exchange) reset() {
	x.strm.Reset()
	x.txn.Reset()
	x.chunk.Reset()
	x.out = x.out[:0]
	x.name = x.name[:0]
	x.method = x.method[:0]
	x.uri = x.uri[:0]
	x.rec = accesslog.Record{}
	x.fctx.Reset()
	x.ttfb = -1
	x.noLog = false
	x.consumed = false
	x.drain, x.drainLeft = false, 0
	x.key = backend.Key{}
	x.srv = nil
	x.svc = nil
	x.fr = nil
	x.h1f.reset()
	x.h2f.reset()
	x.tcpf.reset()
	x.h1s = h1Server{}
	x.h2s.end(x)
	x.streamTelemetry.reset()
	if cap(x.out) > 64<<10 {
		x.out = nil
	}
	if cap(x.dechunk) > 64<<10 {
		x.dechunk = nil
	}
}

// serveStream runs one stream: parse, rules, backend, forward, log.
func (cc *Conn) serveStream(x *exchange) stepResult {
	fe, txn := cc.fe, &x.txn
	cc.beginStream(x)
	cc.c.ReadDeadline = x.strm.Start.Add(fe.Timeouts.HTTPRequest)
	cc.c.ReadTimeout = fe.Timeouts.Client
	cc.c.WriteTimeout = fe.Timeouts.Client

	res := cc.handle(x)

	if res == closeConn || !txn.Req.KeepAlive {
		res = closeConn
	}
	cc.finishStream(x)
	return res
}

// beginStream starts an HTTP stream on the session; its start time is
// x.strm.Start.
func (cc *Conn) beginStream(x *exchange) {
	fe := cc.fe
	start := time.Now()
	strm := &x.strm
	strm.ID = session.NextID()
	strm.Sess = &cc.sess
	strm.Start = start
	strm.Txn = &x.txn
	x.ttfb = -1
	cc.startLog(x)
	cc.sess.Streams.Add(1)
	fe.Stats.Streams.Add(1)
	fe.Stats.CurStreams.Add(1)
}

// endStream settles the termination of a stream that has ended, HTTP or
// TCP, and ends what it used: its service, its trackers.
func (cc *Conn) endStream(x *exchange) {
	strm := &x.strm
	cc.endService(x)
	if strm.Term.Cause == session.CauseNone {
		strm.Term.Phase = session.PhaseDone
	} else if cc.p.killed() {
		// Whatever broke the stream, the end of the grace period did it.
		strm.Term.Cause = session.CauseKilled
	}
	cc.trackStreamEnd(x)
}

// countStream adds an ended stream to its frontend's and backend's
// counters; status is its HTTP status, 0 for none (TCP, no answer).
func (cc *Conn) countStream(x *exchange, status int) {
	fe, strm := cc.fe, &x.strm
	fe.Stats.CurStreams.Add(-1)
	fe.Stats.Term[strm.Term.Cause].Add(1)
	fe.Stats.BytesIn.Add(strm.BytesIn)
	fe.Stats.BytesOut.Add(strm.BytesOut)
	if status != 0 {
		fe.Stats.CountStatus(status)
	}
	if be := cc.gen.Backend(strm.Backend); be != nil {
		be.Stats.Streams.Add(1)
		be.Stats.Term[strm.Term.Cause].Add(1)
		be.Stats.BytesIn.Add(strm.BytesIn)
		be.Stats.BytesOut.Add(strm.BytesOut)
		if status != 0 {
			be.Stats.CountStatus(status)
		}
	}
}

// finishStream counts and logs a stream that has ended.
func (cc *Conn) finishStream(x *exchange) {
	fe, strm, txn := cc.fe, &x.strm, &x.txn
	start := strm.Start
	cc.endStream(x)
	x.endFilters() // Log, then Done (filter.go)
	d := time.Since(start)
	cc.streamEnded(x, d) // latencies, spans (telemetry.go)
	cc.countStream(x, txn.Status)
	if cc.p.Alog == nil || x.noLog {
		return
	}
	r := &x.rec
	r.Time = start
	r.Session = cc.sess.ID
	r.Stream = strm.ID
	r.Client = cc.clientAddr
	r.Frontend = fe.Name
	r.Backend = strm.Backend
	r.Server = strm.Server
	r.Service = strm.Service
	r.Method = x.method
	r.URI = x.uri
	r.Status = txn.Status
	r.BytesIn = strm.BytesIn
	r.BytesOut = strm.BytesOut
	r.Duration = d
	r.TTFB = x.ttfb
	r.Term = strm.Term
	r.Retries = strm.Retries
	if fe.LogFormat != nil {
		cc.fillLogFormat(x, r)
	}
	cc.p.Alog.Write(r)
}

// handle parses the request and decides who answers it.
func (cc *Conn) handle(x *exchange) stepResult {
	fe, strm, txn := cc.fe, &x.strm, &x.txn
	req := &txn.Req

	// The request head.
	for {
		err := h1.ParseRequest(req, cc.buf.Data(), &fe.Limits)
		if err == nil {
			break
		}
		if he, ok := err.(*h1.Error); ok {
			strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
			return cc.replyError(x, he.Status)
		}
		if cc.buf.Full() {
			strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
			return cc.replyError(x, 431)
		}
		if _, err := cc.c.Fill(&cc.buf); err != nil {
			if transport.IsTimeout(err) {
				strm.Term.Set(session.CauseClientTimeout, session.PhaseRequest)
				return cc.replyError(x, 408)
			}
			strm.Term.Set(session.CauseClientAbort, session.PhaseRequest)
			return closeConn
		}
	}
	x.method = append(x.method[:0], req.Method...)
	x.uri = append(x.uri[:0], req.URI...)
	strm.BytesIn += int64(req.HeadLen)
	return cc.route(x)
}

// route runs a parsed request through the rules and hands it to whoever
// answers it: a service, a server of the chosen backend, or the proxy
// itself. HTTP/1.1 and HTTP/2 streams share it from here on.
func (cc *Conn) route(x *exchange) stepResult {
	fe, strm, txn := cc.fe, &x.strm, &x.txn
	ctx := &x.fctx
	ctx.Reset()
	ctx.Conn, ctx.Sess, ctx.Strm, ctx.Proc = &cc.conn, &cc.sess, strm, cc.gen.Proc
	// Captures for the log, before any rule (accesslog.go).
	cc.captureRequest(x)
	cc.traceHTTP(x) // the stream's span, parent of its plugin calls (telemetry.go)
	x.startFilters(cc, fe)

	// tcp-request content sees the stream without its transaction.
	if fe.TCPContent != nil {
		ctx.Layers = abi.LayerConn | abi.LayerSess | abi.LayerStrm
		if !cc.tcpContentRules(x, x.fr.received(cc)) {
			return closeConn
		}
	}
	cc.trackRequest(x) // the request counts from here on, denied or not (stick.go)
	ctx.Layers = generation.LayersHTTP
	ctx.Txn = txn

	if res, done := cc.monitor(x); done { // monitor_uri, before any rule (monitor.go)
		return res
	}
	// Frontend http-request rules and filters, then its use_service and
	// use_backend.
	if res, done := cc.applyRequestRules(x, fe.HTTPRequest); done {
		return res
	}
	if res, done := cc.requestHeaders(x, fe.Filters); done {
		return res
	}
	if res, done := cc.useService(x, fe.UseService, fe.ServiceEntries); done {
		return res
	}
	be, svc := cc.selectBackend(x)
	if res, done := cc.endFailed(x, session.PhaseRequest, false); done {
		return res
	}
	if svc { // a routing target chose a service
		if res, done := cc.useService(x, nil, nil); done {
			return res
		}
		be = fe.Default
	}
	if be == nil {
		strm.Term.Set(session.CauseNoServer, session.PhaseConnect) // HAProxy: SC, as for a backend without a server
		return cc.replyError(x, 503)
	}
	strm.Backend = be.Name
	if res, done := cc.applyRequestRules(x, be.HTTPRequest); done {
		return res
	}
	if len(be.Filters) > 0 {
		x.useFilters(cc)
		x.flt.be = be.Filters
		if res, done := cc.requestHeaders(x, be.Filters); done {
			return res
		}
	}
	if res, done := cc.useService(x, be.UseService, be.ServiceEntries); done {
		return res
	}
	cc.addForwardingFields(x, be)
	cc.addUniqueID(x) // accesslog.go
	if res, done := cc.primeRequestBody(x); done {
		return res
	}
	res := cc.forward(x, be)
	cc.releaseServer(x, be)
	return res
}

// applyRequestRules runs an http-request rule set and answers the request
// when a rule decides so.
func (cc *Conn) applyRequestRules(x *exchange, set *rules.Set) (stepResult, bool) {
	if set == nil {
		return keepOpen, false
	}
	return cc.answerRules(x, set.Eval(&x.fctx), session.PhaseRequest, 403)
}

// answerVerdict answers the client when rule verdict v says so, in phase:
// deny and reject with v's status (default denyStatus) and body, when
// there is one, return with its status (default 200) and body, redirect
// with its location (default 302) and body. It reports false for a
// verdict that lets the message through.
func (cc *Conn) answerVerdict(x *exchange, v rules.Verdict, phase session.Phase, denyStatus int) (stepResult, bool) {
	status := v.Status
	switch v.Kind {
	case rules.Deny, rules.Reject:
		x.strm.Term.Set(session.CauseDenied, phase)
		if status == 0 {
			status = denyStatus
		}
		if v.Kind == rules.Reject {
			return cc.replyError(x, status), true
		}
		if v.Body == nil && v.ContentType == nil {
			return cc.replyDenied(x, status), true
		}
		return cc.replyLocal(x, status, v.ContentType, nil, v.Body), true
	case rules.Return:
		// The proxy answered by itself: HAProxy's LR, not a denial.
		x.strm.Term.Set(session.CauseLocal, phase)
		if status == 0 {
			status = 200
		}
		return cc.replyLocal(x, status, v.ContentType, nil, v.Body), true
	case rules.Redirect:
		x.strm.Term.Set(session.CauseLocal, phase)
		if status == 0 {
			status = 302
		}
		return cc.replyLocal(x, status, v.ContentType, v.Location, v.Body), true
	}
	return keepOpen, false
}

// addForwardingFields adds X-Forwarded-For and Forwarded when configured.
func (cc *Conn) addForwardingFields(x *exchange, be *generation.Backend) {
	ff := be.ForwardFor
	if ff == nil {
		ff = cc.fe.ForwardFor
	}
	src := cc.conn.Src.Addr()
	if generation.ForwardForApplies(ff, src) {
		name := ff.Header
		if name == "" {
			name = "x-forwarded-for"
		}
		v := src.Unmap().AppendTo(x.name[:0])
		x.txn.AddReqHeader([]byte(name), v)
		x.name = v[:0]
	}
	if be.Forwarded || cc.fe.Forwarded {
		v := append(x.name[:0], "for="...)
		a := src.Unmap()
		if a.Is6() {
			v = append(v, "\"["...)
			v = a.AppendTo(v)
			v = append(v, "]\""...)
		} else {
			v = a.AppendTo(v)
		}
		if cc.conn.TLS != nil {
			v = append(v, ";proto=https"...)
		} else {
			v = append(v, ";proto=http"...)
		}
		x.txn.AddReqHeader([]byte("forwarded"), v)
		x.name = v[:0]
	}
}

// requestBodyInBuffer returns the part of the request body already read,
// whether the whole body is there, and how many body bytes are still
// expected for a Content-Length body. A bad chunked body is reported before
// anything reaches a server: what the client has sent of it so far is read
// first, without waiting, as HAProxy parses all it has received before it
// forwards a head (a malformed chunk size gets 400, the server nothing).
func (cc *Conn) requestBodyInBuffer(x *exchange) (body []byte, complete bool, remaining int64, err error) {
	req := &x.txn.Req
	rest := cc.buf.Data()[req.HeadLen:]
	switch req.Body {
	case h1.BodyLength:
		n := int64(len(rest))
		if n > req.ContentLength {
			n = req.ContentLength
		}
		return rest[:n], n == req.ContentLength, req.ContentLength - n, nil
	case h1.BodyChunked:
		x.chunk.Reset()
		n, done, err := x.chunk.Scan(rest)
		if err == nil && !done {
			// The error, if any, is met again by the body's streaming.
			if k, _ := cc.c.FillReady(&cc.buf); k > 0 {
				rest = cc.buf.Data()[req.HeadLen:]
				var m int
				m, done, err = x.chunk.Scan(rest[n:])
				n += m
			}
		}
		if err != nil {
			return nil, false, 0, err
		}
		return rest[:n], done, 0, nil
	}
	return nil, true, 0, nil
}

// acceptResponse is what the engine does with a server's final response
// head, whichever connector brought it into the transaction: the backend
// observes its status, the trackers count it, the response filters and
// rules run. replaced is true when one of them answered instead; the
// caller then drops the server's response.
func (cc *Conn) acceptResponse(x *exchange, be *generation.Backend, srv *backend.Server) (res stepResult, replaced bool) {
	status := x.txn.Resp.Status
	be.ObserveResponse(srv, status)
	cc.trackResponse(x, status)
	if res, replaced := cc.applyResponseRules(x, be); replaced {
		return res, true
	}
	x.txn.Status = x.txn.Resp.Status
	return keepOpen, false
}

// applyResponseRules runs the response rule sets on the response head:
// the backend's first, then the frontend's (HAProxy). replaced is true
// when a rule (or a failing plugin) answered instead of the server; the
// caller then drops the server's response.
func (cc *Conn) applyResponseRules(x *exchange, be *generation.Backend) (res stepResult, replaced bool) {
	cc.captureResponse(x) // for the log, before any rule (accesslog.go)
	fe, ctx := cc.fe, &x.fctx
	for i, set := range [...]*rules.Set{be.HTTPResponse, fe.HTTPResponse, be.HTTPAfter, fe.HTTPAfter} {
		if i < 2 && x.flt != nil {
			// Each section's filters before its http_response rules.
			feChain, beChain := x.flt.sections()
			chain := beChain
			if i == 1 {
				chain = feChain
			}
			if res, done := cc.responseHeaders(x, chain); done {
				return res, true
			}
		}
		if set == nil {
			continue
		}
		// Deny's default status here is HAProxy's for http-response
		// deny: 502, the server's response being the thing refused.
		if res, done := cc.answerRules(x, set.Eval(ctx), session.PhaseHeaders, 502); done {
			return res, true
		}
	}
	return keepOpen, false
}

// replyError answers the client with a canned error page and closes.
func (cc *Conn) replyError(x *exchange, status int) stepResult {
	x.txn.Status = status
	r := localReply{status: status, page: errorPage(status)}
	x.fr.reply(cc, x, &r)
	return closeConn
}

// replyLocal answers the client from the proxy (deny with a body, return,
// redirect, services). The connection stays open when the request can be
// skipped (keepAfterReply).
func (cc *Conn) replyLocal(x *exchange, status int, ctype, location, body []byte) stepResult {
	r := localReply{status: status, ctype: ctype, location: location, body: body}
	r.keep = x.fr.keepAfterReply(cc, x)
	x.txn.Status = status
	return x.fr.reply(cc, x, &r)
}

// replyDenied answers a denied request with the proxy's error page for
// status. Unlike the other error pages it keeps the connection open when
// the request can be skipped, as HAProxy 2.6 does: a rate-limited client
// is not made to reconnect (and handshake again) for every request.
func (cc *Conn) replyDenied(x *exchange, status int) stepResult {
	r := localReply{status: status, page: errorPage(status)}
	r.keep = x.fr.keepAfterReply(cc, x)
	x.txn.Status = status
	return x.fr.reply(cc, x, &r)
}

// replyHeaders answers with a service reply that carries its own fields.
func (cc *Conn) replyHeaders(x *exchange, sr *generation.Reply) stepResult {
	r := localReply{status: sr.Status, ctype: sr.ContentType, fields: sr.Headers, body: sr.Body}
	if r.fields == nil {
		r.fields = []h1.Field{}
	}
	r.keep = x.fr.keepAfterReply(cc, x)
	x.txn.Status = sr.Status
	return x.fr.reply(cc, x, &r)
}

// maxDrain bounds the request body the proxy reads and drops after
// answering early (one buffer, HAProxy's tune.bufsize): a larger body
// costs less to cut by closing than to receive.
const maxDrain = transport.DefaultBufSize

// keepAfterReplyH1 prepares an HTTP/1.1 connection for a reply the proxy makes
// instead of a server, and reports whether the connection can serve
// another request after it. A request read whole is dropped from the
// buffer. A body still on its way is drained after the reply when it is
// small (at most maxDrain bytes still to come) and the client is sending
// it; otherwise the reply says "connection: close": a large body, one the
// client waits to be asked for (Expect: 100-continue), a client that asked
// to close, a proxy that is stopping.
func (cc *Conn) keepAfterReplyH1(x *exchange) bool {
	req := &x.txn.Req
	if req.HeadLen == 0 || !req.KeepAlive || cc.p.Draining.Load() {
		return false // the head was never parsed or is already gone, or the connection ends anyway
	}
	body, complete, remaining, err := cc.requestBodyInBuffer(x)
	if err != nil {
		return false
	}
	if !complete && (req.ExpectContinue || req.Body == h1.BodyLength && remaining > maxDrain) {
		return false
	}
	cc.buf.Consume(req.HeadLen + len(body))
	x.consumed = true
	if !complete {
		x.drain = true
		x.drainLeft = remaining
	}
	return true
}

// drainRequestBody reads and drops the rest of a request body the proxy
// answered before it arrived (keepAfterReply), within the frontend's
// http-request timeout and maxDrain bytes. It reports whether the
// connection is ready for the next request.
func (cc *Conn) drainRequestBody(x *exchange) bool {
	if !x.drain {
		return true
	}
	x.txn.ForgetRequest() // the buffer the head was read into is reused
	req := &x.txn.Req
	cc.c.ReadDeadline = time.Now().Add(cc.fe.Timeouts.HTTPRequest)
	budget := maxDrain
	for {
		if cc.buf.Len() == 0 {
			if _, err := cc.c.Fill(&cc.buf); err != nil {
				return false
			}
		}
		data := cc.buf.Data()
		n, done := len(data), false
		if req.Body == h1.BodyLength {
			if int64(n) >= x.drainLeft {
				n, done = int(x.drainLeft), true
			}
			x.drainLeft -= int64(n)
		} else {
			var err error
			if n, done, err = x.chunk.Scan(data); err != nil {
				return false
			}
		}
		if budget -= n; budget < 0 {
			return false
		}
		x.strm.BytesIn += int64(n)
		cc.buf.Consume(n)
		if done {
			return true
		}
	}
}

// itoa appends the decimal form of n to dst.
func itoa(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }
