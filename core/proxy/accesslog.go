package proxy

import (
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/logfmt"
	"github.com/strata-proxy/strata/core/logsink"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/telemetry"
)

// logRecord is what one access-log line says about a stream.
type logRecord struct {
	Time      time.Time
	Session   uint64
	Stream    uint64
	Client    string
	Frontend  string
	Backend   string
	Server    string
	Service   string
	Method    []byte
	URI       []byte
	Status    int
	BytesIn   int64
	BytesOut  int64
	Duration  time.Duration // accept of the request to end of the response
	TTFB      time.Duration // request forwarded to first response byte (-1: none)
	Term      session.Termination
	Retries   int
	TCP       bool
	SessionID uint64
	// The stream's server span (telemetry.go), when it has one.
	TraceID [16]byte
	SpanID  [8]byte
	Traced  bool

	// A frontend's log_format renders hx instead (fillLogFormat); the
	// HAProxy timers in it are set as the stream reaches them.
	format *logfmt.Format
	hx     logfmt.Record
	// htxDelta turns BytesOut into HAProxy's %B (logHead).
	htxDelta int64
}

// accessLog writes access-log lines: strata's own (json or text) or a
// frontend's log_format (core/logfmt). Lines are built without fmt into a
// pooled buffer and queued in a core/logsink Sink, whose writer goroutine
// writes them: a slow destination drops lines (counted) rather than stall
// the stream that logs.
type accessLog struct {
	json bool
	sink *logsink.Sink
}

// linePool holds the buffers lines are built in.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func newAccessLog(sink *logsink.Sink, json bool) *accessLog {
	return &accessLog{json: json, sink: sink}
}

// openAccessLog opens the destination of al, or w when not nil. It returns
// nil when the output is "none".
func openAccessLog(al config.AccessLog, w io.Writer) (*accessLog, error) {
	if w == nil && al.Output == "none" {
		return nil, nil
	}
	o := logsink.Options{Output: al.Output, Writer: w, QueueBytes: al.QueueSize}
	if al.IsSyslog() {
		o.Syslog = logsink.Syslog{Format: al.Syslog.Format, Facility: 16, Severity: 6, Tag: al.Syslog.Tag}
		if f, ok := logsink.Facilities[al.Syslog.Facility]; ok {
			o.Syslog.Facility = f
		}
		if sev, ok := logsink.Severities[al.Syslog.Level]; ok {
			o.Syslog.Severity = sev
		}
	}
	sink, err := logsink.New(o)
	if err != nil {
		return nil, err
	}
	return newAccessLog(sink, al.Format != "text"), nil
}

// buildLogFormat compiles a frontend's log_format (checked when the
// configuration was loaded).
func buildLogFormat(fc *config.Frontend) (*logfmt.Format, []config.Capture, []config.Capture) {
	var f *logfmt.Format
	if fc.LogFormat != "" {
		f, _ = logfmt.Parse(fc.LogFormat)
	}
	return f, fc.CaptureRequestHeaders, fc.CaptureResponseHeaders
}

// buildUniqueID compiles a frontend's unique_id_format.
func buildUniqueID(fc *config.Frontend) (*logfmt.Format, []byte) {
	if fc.UniqueIDFormat == "" {
		return nil, nil
	}
	f, _ := logfmt.Parse(fc.UniqueIDFormat)
	var h []byte
	if fc.UniqueIDHeader != "" {
		h = []byte(fc.UniqueIDHeader)
	}
	return f, h
}

// Flush writes every queued line.
func (l *accessLog) Flush() { l.sink.Flush() }

// Close writes what is queued and closes the destination; it gives up
// on a destination that stays blocked (logsink.ErrBlocked).
func (l *accessLog) Close() error { return l.sink.Close() }

// Log writes one record.
func (l *accessLog) Log(r *logRecord) {
	if l == nil {
		return
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	switch {
	case r.format != nil:
		b = r.format.Append(b, &r.hx)
	case l.json:
		b = appendJSONRecord(b, r)
	default:
		b = appendTextRecord(b, r)
	}
	l.sink.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		linePool.Put(bp)
	}
}

// gather reports the log's counters (strata_log_*).
func (l *accessLog) gather(m *telemetry.Metrics) {
	m.Counter("strata_log_lines_total", "Access-log lines written to their destination.", float64(l.sink.Written()))
	m.Counter("strata_log_dropped_total", "Access-log lines dropped: the queue was full (slow destination) or the write failed.", float64(l.sink.Dropped()))
}

// ReopenLogs reopens the access-log file (SIGUSR1, after logrotate renamed
// it); other outputs have nothing to reopen.
func (p *Proxy) ReopenLogs() error {
	if p.alog == nil {
		return nil
	}
	return p.alog.sink.Reopen()
}

// startLog readies the log state of a new stream: HAProxy timers not
// reached, captures empty.
func (cc *clientConn) startLog(x *exchange) {
	x.rec.hx.TR, x.rec.hx.Tw, x.rec.hx.Tc = -1, -1, -1
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
func (cc *clientConn) captureRequest(x *exchange) {
	x.rec.hx.TR = time.Since(x.strm.Start)
	req := &x.txn.Req
	switch {
	case x.h2 != nil:
		x.rec.hx.Version = "HTTP/2.0"
	case req.Minor == 0:
		x.rec.hx.Version = "HTTP/1.0"
	default:
		x.rec.hx.Version = "HTTP/1.1"
	}
	x.caps.req.Reset(len(cc.fe.captureReq))
	x.caps.res.Reset(len(cc.fe.captureRes))
	for i, c := range cc.fe.captureReq {
		if v, ok := h1.Lookup(req.Fields, c.Name, -1); ok {
			x.caps.req.Set(i, v, c.Len)
		}
	}
}

// captureResponse takes the response's captured headers, before the
// response rules run.
func (cc *clientConn) captureResponse(x *exchange) {
	for i, c := range cc.fe.captureRes {
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
// for the scan.
func (cc *clientConn) logHead(x *exchange, b []byte) {
	if cc.fe.logFormat == nil || x.h2 != nil {
		return
	}
	x.rec.htxDelta += htxHeadDelta(b)
}

// htxHeadDelta returns HAProxy's HTX size of the head at the start of b
// minus its size on the wire.
func htxHeadDelta(b []byte) int64 {
	var htx, wire int64
	first := true
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i == len(b) {
			return 0 // not a whole head: count it as it went
		}
		line := b[:i]
		wire += int64(i + 1)
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) == 0:
			return htx + 1 - wire
		case first:
			// "HTTP/1.1 200 OK": the three parts, without their spaces.
			htx += 20 + int64(len(line)) - int64(min(2, countByte(line, ' ')))
			first = false
		default:
			colon := 0
			for colon < len(line) && line[colon] != ':' {
				colon++
			}
			if colon == len("connection") && asciiEqualFold(line[:colon], "connection") {
				continue
			}
			v := line[min(colon+1, len(line)):]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			htx += int64(colon + len(v))
		}
	}
	return 0
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// uniqueID returns the stream's unique id, made on first use from
// unique_id_format (HAProxy makes it when first needed too); nil when the
// frontend has none.
func (cc *clientConn) uniqueID(x *exchange) []byte {
	f := cc.fe.uniqueID
	if f == nil {
		return nil
	}
	if len(x.uid) == 0 {
		cc.fillLogBasics(x)
		x.uid = f.AppendValue(x.uid[:0], &x.rec.hx)
	}
	return x.uid
}

// addUniqueID adds the unique_id_header to the request for the server.
func (cc *clientConn) addUniqueID(x *exchange) {
	if h := cc.fe.uniqueIDHeader; h != nil {
		x.txn.AddReqHeader(h, cc.uniqueID(x))
	}
}

// fillLogBasics sets what the record knows from the start of the stream.
func (cc *clientConn) fillLogBasics(x *exchange) {
	h := &x.rec.hx
	h.Accept, h.Start = cc.sess.Start, x.strm.Start
	h.Client, h.Local = cc.conn.Src, cc.conn.Dst
	h.Frontend, h.TLS = cc.fe.Name, cc.conn.TLS != nil
	h.Counter = x.strm.ID
	h.Method, h.URI = x.method, x.uri
}

// fillLogFormat completes the record of a stream of a frontend with a
// log_format: what HAProxy's variables need beyond strata's own line.
func (cc *clientConn) fillLogFormat(x *exchange, r *logRecord) {
	fe := cc.fe
	r.format = fe.logFormat
	h := &r.hx
	h.UniqueID = cc.uniqueID(x)
	cc.fillLogBasics(x)
	h.Backend, h.Server, h.Service = r.Backend, r.Server, r.Service
	h.HTTP, h.Method, h.URI, h.Status = !r.TCP, r.Method, r.URI, r.Status
	h.BytesIn, h.BytesOut = r.BytesIn, r.BytesOut+r.htxDelta
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
	h.ActConn, h.FeConn = cc.p.slots.cur.Load(), fe.cur.Load()
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

func appendJSONRecord(b []byte, r *logRecord) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","session_id":`...)
	b = strconv.AppendUint(b, r.Session, 10)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, r.Stream, 10)
	b = appendJSONField(b, "client", []byte(r.Client))
	b = appendJSONField(b, "frontend", []byte(r.Frontend))
	b = appendJSONField(b, "backend", []byte(r.Backend))
	b = appendJSONField(b, "server", []byte(r.Server))
	if r.Service != "" {
		b = appendJSONField(b, "service", []byte(r.Service))
	}
	if r.TCP {
		b = append(b, `,"mode":"tcp"`...)
	} else {
		b = appendJSONField(b, "method", r.Method)
		b = appendJSONField(b, "uri", r.URI)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, r.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, r.BytesOut, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', 3, 64)
	if r.TTFB >= 0 {
		b = append(b, `,"ttfb_ms":`...)
		b = strconv.AppendFloat(b, float64(r.TTFB.Microseconds())/1000, 'f', 3, 64)
	}
	st := r.Term.State()
	b = append(b, `,"termination_state":"`...)
	b = append(b, st[0], st[1])
	b = append(b, `","termination_cause":"`...)
	b = append(b, r.Term.Cause.String()...)
	b = append(b, `","termination_phase":"`...)
	b = append(b, r.Term.Phase.String()...)
	b = append(b, '"')
	if r.Retries > 0 {
		b = append(b, `,"retries":`...)
		b = strconv.AppendInt(b, int64(r.Retries), 10)
	}
	if r.Traced {
		b = append(b, `,"trace_id":"`...)
		b = telemetry.AppendHex(b, r.TraceID[:])
		b = append(b, `","span_id":"`...)
		b = telemetry.AppendHex(b, r.SpanID[:])
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

func appendJSONField(b []byte, key string, val []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = appendJSONString(b, val)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString escapes s for a JSON string body; invalid UTF-8 becomes
// U+FFFD so that a hostile request cannot break the log's syntax.
func appendJSONString(b []byte, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// appendTextRecord writes an HAProxy-like line:
// client [time] frontend backend/server status bytes_out duration_ms state sess=N strm=N [trace_id=… span_id=…] "METHOD URI"
func appendTextRecord(b []byte, r *logRecord) []byte {
	b = append(b, r.Client...)
	b = append(b, " ["...)
	b = r.Time.UTC().AppendFormat(b, "02/Jan/2006:15:04:05.000")
	b = append(b, "] "...)
	b = append(b, r.Frontend...)
	b = append(b, ' ')
	if r.Service != "" {
		b = append(b, "<service:"...)
		b = append(b, r.Service...)
		b = append(b, '>')
	} else {
		b = appendOr(b, r.Backend, "<NOSRV>")
		b = append(b, '/')
		b = appendOr(b, r.Server, "<NOSRV>")
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.BytesOut, 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', 3, 64)
	b = append(b, "ms "...)
	st := r.Term.State()
	b = append(b, st[0], st[1])
	b = append(b, " sess="...)
	b = strconv.AppendUint(b, r.Session, 10)
	b = append(b, " strm="...)
	b = strconv.AppendUint(b, r.Stream, 10)
	if r.Traced {
		b = append(b, " trace_id="...)
		b = telemetry.AppendHex(b, r.TraceID[:])
		b = append(b, " span_id="...)
		b = telemetry.AppendHex(b, r.SpanID[:])
	}
	if !r.TCP {
		b = append(b, ` "`...)
		b = appendJSONString(b, r.Method)
		b = append(b, ' ')
		b = appendJSONString(b, r.URI)
		b = append(b, '"')
	}
	return append(b, '\n')
}

func appendOr(b []byte, s, alt string) []byte {
	if s == "" {
		return append(b, alt...)
	}
	return append(b, s...)
}
