package stream

import (
	"net/netip"
	"time"

	"github.com/strata-proxy/strata/core/accesslog"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/logfmt"
)

// startLog readies the log state of a new stream: HAProxy timers not
// reached, captures empty.
func (cc *Conn) startLog(x *exchange) {
	x.rec.HX.TR, x.rec.HX.Tw, x.rec.HX.Tc = -1, -1, -1
	x.uid = x.uid[:0]
	// No captures until the request is parsed: HAProxy prints none for a
	// request it could not read.
	x.caps.req.Reset(0)
	x.caps.res.Reset(0)
}

// logCaptures are a stream's captured headers (capture_request_headers,
// capture_response_headers), kept across streams for their storage.
type logCaptures struct {
	req, res logfmt.Captures
}

// captureRequest takes the request's captured headers (before any rule
// runs, as HAProxy does) and the start of the HAProxy timers: the request
// head is complete.
func (cc *Conn) captureRequest(x *exchange) {
	if cc.fe.LogsTimers() {
		x.rec.HX.TR = time.Since(x.strm.Start)
	}
	req := &x.txn.Req
	switch major, minor := x.fr.version(req); {
	case major == 2:
		x.rec.HX.Version = "HTTP/2.0"
	case minor == 0:
		x.rec.HX.Version = "HTTP/1.0"
	default:
		x.rec.HX.Version = "HTTP/1.1"
	}
	x.caps.req.Reset(len(cc.fe.CaptureReq))
	x.caps.res.Reset(len(cc.fe.CaptureRes))
	for i, c := range cc.fe.CaptureReq {
		if v, ok := h1.Lookup(req.Fields, c.Name, -1); ok {
			x.caps.req.Set(i, v, c.Len)
		}
	}
}

// captureResponse takes the response's captured headers, before the
// response rules run.
func (cc *Conn) captureResponse(x *exchange) {
	for i, c := range cc.fe.CaptureRes {
		if v, ok := h1.Lookup(x.txn.Resp.Fields, c.Name, -1); ok {
			x.caps.res.Set(i, v, c.Len)
		}
	}
}

// logHead notes an HTTP/1.1 response head sent to the client (b starts
// with it) for %B: HAProxy 2.6 counts a head as its internal HTX form
// takes it, not as the bytes on the wire — a 20-byte start-line block
// plus the version, status and reason; each field's name and value (none
// for Connection, which its HTTP/1 codec consumes and writes back itself);
// one byte for the end of the head. Only frontends with a log_format pay
// for the scan. The HTTP/1.1 front calls it; HTTP/2 heads are not
// counted this way.
func (cc *Conn) logHead(x *exchange, b []byte) {
	if cc.fe.LogFormat == nil {
		return
	}
	x.rec.HTXDelta += accesslog.HeadDelta(b)
}

// uniqueID returns the stream's unique id, made on first use from
// unique_id_format (HAProxy makes it when first needed too); nil when the
// frontend has none.
func (cc *Conn) uniqueID(x *exchange) []byte {
	f := cc.fe.UniqueID
	if f == nil {
		return nil
	}
	if len(x.uid) == 0 {
		cc.fillLogBasics(x)
		x.uid = f.AppendValue(x.uid[:0], &x.rec.HX)
	}
	return x.uid
}

// addUniqueID adds the unique_id_header to the request for the server.
func (cc *Conn) addUniqueID(x *exchange) {
	if h := cc.fe.UniqueIDHeader; h != nil {
		x.txn.AddReqHeader(h, cc.uniqueID(x))
	}
}

// fillLogBasics sets what the record knows from the start of the stream.
func (cc *Conn) fillLogBasics(x *exchange) {
	h := &x.rec.HX
	h.Accept, h.Start = cc.sess.Start, x.strm.Start
	h.Client, h.Local = cc.conn.Src, cc.conn.Dst
	h.Frontend, h.TLS = cc.fe.Name, cc.conn.TLS != nil
	h.Counter = x.strm.ID
	h.Method, h.URI = x.method, x.uri
}

// fillLogFormat completes the record of a stream of a frontend with a
// log_format: what HAProxy's variables need beyond strata's own line.
func (cc *Conn) fillLogFormat(x *exchange, r *accesslog.Record) {
	fe := cc.fe
	r.Format = fe.LogFormat
	h := &r.HX
	h.UniqueID = cc.uniqueID(x)
	cc.fillLogBasics(x)
	h.Backend, h.Server, h.Service = r.Backend, r.Server, r.Service
	h.HTTP, h.Method, h.URI, h.Status = !r.TCP, r.Method, r.URI, r.Status
	h.BytesIn, h.BytesOut = r.BytesIn, r.BytesOut+r.HTXDelta
	if !r.TCP && len(r.Method) == 0 {
		// HAProxy's HTTP/1 codec answers a request it cannot parse by
		// itself, outside the stream, whose %B stays 0.
		h.BytesOut = 0
	}
	h.Tr, h.Ta, h.Tt = r.TTFB, r.Duration, time.Since(cc.sess.Start)
	if r.TCP {
		h.Tt = r.Duration
	}
	h.Term = r.Term.State()
	h.ActConn, h.FeConn = cc.p.Slots.Cur.Load(), fe.Cur.Load()
	h.BeConn, h.BeQueue, h.SrvConn, h.SrvQueue = 0, 0, 0, 0
	h.ServerAt = netip.AddrPort{}
	if be := cc.gen.Backend(r.Backend); be != nil {
		h.BeConn, h.BeQueue = be.Cur(), be.QueueLen()
	}
	if srv := x.obsSrv; srv != nil {
		h.SrvConn, h.SrvQueue = srv.Cur.Load(), srv.QueueLen()
		h.ServerAt, _ = netip.ParseAddrPort(srv.Addr)
	}
	h.Retries = r.Retries
	h.ReqCaptures, h.ResCaptures = x.caps.req.Values(), x.caps.res.Values()
	if t := cc.conn.TLS; t != nil {
		h.TLSVersion, h.TLSCipher, h.SNI, h.Resumed = t.Version, t.CipherSuite, t.SNI, t.Resumed
	}
	h.TraceID, h.SpanID, h.Traced = r.TraceID, r.SpanID, r.Traced
}
