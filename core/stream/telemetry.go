package stream

import (
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/telemetry"
	"go.opentelemetry.io/otel/attribute"
)

var (
	hdrTraceparent = []byte("traceparent")
	hdrTracestate  = []byte("tracestate")
)

// traceHTTP starts the server span of an HTTP stream once its request
// head is parsed, continuing the client's trace context, and makes it the
// parent of the stream's plugin calls.
func (cc *Conn) traceHTTP(x *exchange) {
	t := cc.gen.Tracing
	if t == nil {
		return
	}
	cc.startHTTPSpan(t, x, true)
}

func (cc *Conn) startHTTPSpan(t *telemetry.Tracer, x *exchange, parsed bool) {
	r := telemetry.HTTPRequest{
		Method: x.method, Client: cc.conn.Src, Local: cc.conn.Dst,
		TLS:      cc.l4 != nil && cc.l4.TLS != nil,
		Frontend: cc.fe.Name, Session: cc.sess.ID, Stream: x.strm.ID, Minor: 1,
	}
	if parsed {
		req := &x.txn.Req
		r.Path, r.Query, r.Host, r.Minor = req.Path, req.Query, req.Host, req.Minor
		r.TraceParent, _ = h1.Lookup(req.Fields, "traceparent", 1)
		r.TraceState, _ = h1.Lookup(req.Fields, "tracestate", 1)
		r.UserAgent, _ = h1.Lookup(req.Fields, "user-agent", 1)
	}
	t.StartHTTP(&x.tr, x.strm.Start, &r)
	if sp := x.tr.Span(); sp.IsRecording() {
		x.fctx.Span = sp
	}
}

// traceTCP starts the server span of a TCP-mode stream.
func (cc *Conn) traceTCP(x *exchange) {
	t := cc.gen.Tracing
	if t == nil {
		return
	}
	t.StartTCP(&x.tr, x.strm.Start, cc.fe.Name, cc.conn.Src, cc.conn.Dst, cc.sess.ID, x.strm.ID)
	if sp := x.tr.Span(); sp.IsRecording() {
		x.fctx.Span = sp
	}
}

// traceAttempt starts the client span of the first attempt to send the
// request to a server of be and puts its W3C trace context in the
// request (which is then serialised, not forwarded byte for byte).
func (cc *Conn) traceAttempt(x *exchange, be *generation.Backend) {
	if !x.tr.Active() {
		return
	}
	x.tr.StartAttempt(x.method, be.Name)
	x.txn.SetReqHeader(hdrTraceparent, x.tr.TraceParent())
	if ts := x.tr.TraceState(); ts != "" {
		x.txn.SetReqHeader(hdrTracestate, []byte(ts))
	} else {
		x.txn.DelReqHeader(hdrTracestate)
	}
}

// traceRetry ends the attempt that failed on a reused connection, starts
// the next and puts its span id in the request's traceparent, which the
// next attempt's head carries.
func (cc *Conn) traceRetry(x *exchange) {
	if !x.tr.Active() {
		return
	}
	x.tr.EndAttempt(telemetry.AttemptEnd{Server: x.strm.Server, ServerAddr: srvAddr(x), Error: "reused connection closed by the server"})
	x.tr.StartAttempt(x.method, x.strm.Backend)
	x.txn.SetReqHeader(hdrTraceparent, x.tr.TraceParent())
}

// traceConnectRetry records a failed connection that connect retries.
func (cc *Conn) traceConnectRetry(x *exchange, err error) {
	if !x.tr.Active() {
		return
	}
	x.tr.Event("connect failed; retrying", attribute.String(telemetry.AttrServer, x.strm.Server), attribute.String("exception.message", err.Error()))
}

func srvAddr(x *exchange) string {
	if x.obsSrv != nil {
		return x.obsSrv.Addr
	}
	return ""
}

// streamEnded observes the stream's latencies and ends its spans. It runs
// once per stream, after its termination is final and before its log line;
// d is the stream's duration, which its log line reports too.
func (cc *Conn) streamEnded(x *exchange, d time.Duration) {
	cc.fe.Stats.Latency.Total.Observe(d)
	if be := x.obsBe; be != nil {
		be.Stats.Latency.Total.Observe(d)
		if x.ttfb >= 0 {
			be.Stats.Latency.TTFB.Observe(x.ttfb)
		}
		if s := x.obsSrv; s != nil {
			s.Stats.Latency.Total.Observe(d)
			if x.ttfb >= 0 {
				s.Stats.Latency.TTFB.Observe(x.ttfb)
			}
		}
	}
	if t := cc.gen.Tracing; t != nil {
		cc.endTrace(t, x)
	}
}

func (cc *Conn) endTrace(t *telemetry.Tracer, x *exchange) {
	if !x.tr.Active() && cc.fe.HTTP {
		// The request never parsed (400, 408, 431): a span all the same.
		cc.startHTTPSpan(t, x, false)
	}
	strm := &x.strm
	if tid, sid, ok := x.tr.IDs(); ok {
		x.rec.TraceID, x.rec.SpanID, x.rec.Traced = tid, sid, true
	}
	st := strm.Term.State()
	e := telemetry.StreamEnd{
		Backend: strm.Backend, Server: strm.Server, Service: strm.Service,
		BytesIn: strm.BytesIn, BytesOut: strm.BytesOut, Retries: strm.Retries,
		Cause: strm.Term.Cause.String(), Phase: strm.Term.Phase.String(), State: string(st[:]),
		Failed: strm.Term.Cause != session.CauseNone && strm.Term.Cause != session.CauseLocal, // a local answer is no error
	}
	if strm.Txn != nil {
		e.Status = x.txn.Status
	}
	if x.tr.TraceParent() != nil {
		a := telemetry.AttemptEnd{Server: strm.Server, ServerAddr: srvAddr(x)}
		if x.ttfb >= 0 {
			a.Status = x.txn.Status // as relayed (response rules may have set it)
		}
		if serverSide(strm.Term.Cause) {
			a.Error = strm.Term.Cause.String()
		}
		x.tr.EndAttempt(a)
	}
	x.tr.End(e)
}

// serverSide reports whether a termination cause is the server's doing,
// which makes the attempt's client span an error.
func serverSide(c session.Cause) bool {
	switch c {
	case session.CauseServerTimeout, session.CauseServerAbort, session.CauseBadResponse, session.CauseConnectFailed:
		return true
	}
	return false
}

// streamTelemetry is the part of an exchange that telemetry owns.
type streamTelemetry struct {
	tr     telemetry.Stream    // the stream's spans; inactive when not traced
	obsBe  *generation.Backend // the backend and server the stream went to, for their histograms
	obsSrv *backend.Server
}

func (s *streamTelemetry) reset() {
	if s.tr.Active() {
		s.tr.Reset()
	}
	s.obsBe, s.obsSrv = nil, nil
}
