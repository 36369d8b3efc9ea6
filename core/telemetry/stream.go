package telemetry

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys. The HTTP ones follow the OpenTelemetry semantic
// conventions for HTTP (stable since v1.23); strata's own are under
// "strata.".
const (
	AttrMethod       = "http.request.method"
	AttrStatus       = "http.response.status_code"
	AttrResendCount  = "http.request.resend_count"
	AttrRequestSize  = "http.request.size"
	AttrResponseSize = "http.response.size"
	AttrURLPath      = "url.path"
	AttrURLQuery     = "url.query"
	AttrURLScheme    = "url.scheme"
	AttrClientAddr   = "client.address"
	AttrClientPort   = "client.port"
	AttrServerAddr   = "server.address"
	AttrServerPort   = "server.port"
	AttrPeerAddr     = "network.peer.address"
	AttrPeerPort     = "network.peer.port"
	AttrProtoName    = "network.protocol.name"
	AttrProtoVersion = "network.protocol.version"
	AttrTransport    = "network.transport"
	AttrUserAgent    = "user_agent.original"
	AttrErrorType    = "error.type"

	AttrFrontend   = "strata.frontend"
	AttrBackend    = "strata.backend"
	AttrServer     = "strata.server"
	AttrService    = "strata.service"
	AttrSessionID  = "strata.session_id"
	AttrStreamID   = "strata.stream_id"
	AttrTermCause  = "strata.termination.cause"
	AttrTermPhase  = "strata.termination.phase"
	AttrTermState  = "strata.termination.state"
	AttrRetries    = "strata.retries"
	AttrMode       = "strata.mode"
	AttrAttempt    = "strata.attempt"
	AttrPlugin     = "strata.plugin.name"
	AttrPluginKind = "strata.plugin.kind"
	AttrPluginFunc = "strata.plugin.function"
	AttrPluginGen  = "strata.plugin.generation"
	AttrOutcome    = "strata.plugin.outcome"
)

// Stream is the trace state of one stream: its server span and the client
// span of the attempt in progress. The zero value is a stream that is not
// traced. It is owned by the stream's goroutine.
type Stream struct {
	t      *Tracer
	ctx    context.Context // carries span: the parent of attempts and plugin calls
	span   trace.Span
	client trace.Span
	tries  int
	tp     [traceparentLen]byte // the traceparent sent with the current attempt
}

const traceparentLen = 55 // "00-" 32 hex "-" 16 hex "-" 2 hex

// Active reports whether the stream has a span (sampled or not).
func (s *Stream) Active() bool { return s.span != nil }

// Span returns the stream's server span, nil when the stream is not
// traced: what plugin calls take as their parent (fetch.Ctx.Span).
func (s *Stream) Span() trace.Span { return s.span }

// Reset forgets the stream, ending what is still open.
func (s *Stream) Reset() {
	if s.client != nil {
		s.client.End()
	}
	if s.span != nil {
		s.span.End()
	}
	*s = Stream{}
}

// HTTPRequest is what the server span of an HTTP stream says about the
// request; byte slices are read during StartHTTP only.
type HTTPRequest struct {
	Method, Path, Query, Host, UserAgent []byte
	// TraceParent and TraceState are the request's W3C trace-context
	// fields (nil when absent).
	TraceParent, TraceState []byte
	Minor                   int // HTTP/1.Minor
	TLS                     bool
	Client, Local           netip.AddrPort
	Frontend                string
	Session, Stream         uint64
}

// carrier hands the incoming trace context to the propagator.
type carrier struct{ tp, ts string }

func (c *carrier) Get(k string) string {
	switch k {
	case "traceparent":
		return c.tp
	case "tracestate":
		return c.ts
	}
	return ""
}
func (c *carrier) Set(string, string) {}
func (c *carrier) Keys() []string     { return []string{"traceparent", "tracestate"} }

// StartHTTP starts the server span of an HTTP stream that began at start,
// continuing the client's trace when the request carries a valid
// traceparent.
func (t *Tracer) StartHTTP(s *Stream, start time.Time, r *HTTPRequest) {
	ctx := context.Background()
	if len(r.TraceParent) > 0 {
		ctx = t.prop.Extract(ctx, &carrier{tp: string(r.TraceParent), ts: string(r.TraceState)})
	}
	method := string(r.Method)
	name := method + " " + r.Frontend
	if method == "" {
		method, name = "_OTHER", "HTTP "+r.Frontend // the request never parsed
	}
	s.t = t
	s.ctx, s.span = t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	if !s.span.IsRecording() {
		return // not sampled: no attribute is built (the ratio-based sampler needs none)
	}
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs,
		attribute.String(AttrMethod, method),
		attribute.String(AttrURLPath, string(r.Path)),
		attribute.String(AttrURLScheme, scheme(r.TLS)),
		attribute.String(AttrProtoName, "http"),
		attribute.String(AttrProtoVersion, "1."+string(rune('0'+r.Minor))),
		attribute.String(AttrFrontend, r.Frontend),
		attribute.Int64(AttrSessionID, int64(r.Session)),
		attribute.Int64(AttrStreamID, int64(r.Stream)),
	)
	if r.Query != nil {
		attrs = append(attrs, attribute.String(AttrURLQuery, string(r.Query)))
	}
	if len(r.UserAgent) > 0 {
		attrs = append(attrs, attribute.String(AttrUserAgent, string(r.UserAgent)))
	}
	s.span.SetAttributes(appendAddrs(attrs, r.Client, r.Local, r.Host)...)
}

// StartTCP starts the server span of a TCP-mode stream.
func (t *Tracer) StartTCP(s *Stream, start time.Time, frontend string, client, local netip.AddrPort, sess, strm uint64) {
	s.t = t
	s.ctx, s.span = t.tr.Start(context.Background(), "tcp "+frontend, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	if !s.span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		attribute.String(AttrMode, "tcp"),
		attribute.String(AttrTransport, "tcp"),
		attribute.String(AttrFrontend, frontend),
		attribute.Int64(AttrSessionID, int64(sess)),
		attribute.Int64(AttrStreamID, int64(strm)),
	)
	s.span.SetAttributes(appendAddrs(attrs, client, local, nil)...)
}

func scheme(tls bool) string {
	if tls {
		return "https"
	}
	return "http"
}

func appendAddrs(attrs []attribute.KeyValue, client, local netip.AddrPort, host []byte) []attribute.KeyValue {
	if client.IsValid() {
		attrs = append(attrs,
			attribute.String(AttrClientAddr, client.Addr().String()), attribute.Int(AttrClientPort, int(client.Port())),
			attribute.String(AttrPeerAddr, client.Addr().String()), attribute.Int(AttrPeerPort, int(client.Port())))
	}
	// server.address is the host the client asked for when it said (the
	// Host field), else the address it connected to.
	if h, port, ok := splitHost(host); ok {
		attrs = append(attrs, attribute.String(AttrServerAddr, h))
		if port > 0 {
			attrs = append(attrs, attribute.Int(AttrServerPort, port))
		} else if local.IsValid() {
			attrs = append(attrs, attribute.Int(AttrServerPort, int(local.Port())))
		}
	} else if local.IsValid() {
		attrs = append(attrs, attribute.String(AttrServerAddr, local.Addr().String()), attribute.Int(AttrServerPort, int(local.Port())))
	}
	return attrs
}

// splitHost splits a Host field value into host and port (0 when absent).
func splitHost(h []byte) (string, int, bool) {
	if len(h) == 0 {
		return "", 0, false
	}
	i := len(h) - 1
	for i >= 0 && h[i] >= '0' && h[i] <= '9' {
		i--
	}
	if i >= 0 && i < len(h)-1 && h[i] == ':' && (h[0] != '[' || h[i-1] == ']') {
		port := 0
		for _, c := range h[i+1:] {
			port = port*10 + int(c-'0')
			if port > 65535 {
				return string(h), 0, true
			}
		}
		return string(h[:i]), port, true
	}
	return string(h), 0, true
}

// StartAttempt starts the client span of an attempt to send the request
// to a server of backend (the server is not chosen yet: EndAttempt says
// which), and prepares the traceparent that goes with it (TraceParent).
func (s *Stream) StartAttempt(method []byte, backend string) {
	if s.span == nil {
		return
	}
	if s.client != nil {
		s.client.End()
	}
	name := "HTTP"
	if len(method) > 0 {
		name = string(method)
	}
	tries := s.tries
	s.tries++
	_, s.client = s.t.tr.Start(s.ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	s.fillTraceParent(s.client.SpanContext())
	if !s.client.IsRecording() {
		return
	}
	s.client.SetAttributes(attribute.String(AttrBackend, backend), attribute.Int(AttrAttempt, tries))
	if len(method) > 0 {
		s.client.SetAttributes(attribute.String(AttrMethod, name))
	}
	if tries > 0 {
		s.client.SetAttributes(attribute.Int(AttrResendCount, tries))
	}
}

// TraceParent returns the W3C traceparent value of the current attempt
// (its client span as parent), nil when there is none. Valid until the
// next StartAttempt or Reset.
func (s *Stream) TraceParent() []byte {
	if s.client == nil {
		return nil
	}
	return s.tp[:]
}

// TraceState returns the tracestate to send with the request ("" when
// none).
func (s *Stream) TraceState() string {
	if s.client == nil {
		return ""
	}
	return s.client.SpanContext().TraceState().String()
}

const hexDigits = "0123456789abcdef"

func (s *Stream) fillTraceParent(sc trace.SpanContext) {
	b := s.tp[:0]
	b = append(b, "00-"...)
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	b = append(b, '-')
	appendHex(b, []byte{byte(sc.TraceFlags())})
}

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// PatchTraceParent rewrites, in the serialised request head, the
// traceparent value that an earlier attempt put there with this attempt's
// (same length, so in place), for a request sent again. It reports
// whether it found one.
func (s *Stream) PatchTraceParent(head []byte) bool {
	if s.client == nil {
		return false
	}
	const key = "\r\ntraceparent: "
	for i := 0; i+len(key)+traceparentLen <= len(head); i++ {
		if head[i] == '\r' && string(head[i:i+len(key)]) == key {
			copy(head[i+len(key):], s.tp[:])
			return true
		}
		if i > 0 && head[i] == '\r' && head[i-1] == '\n' {
			break // the end of the head
		}
	}
	return false
}

// Event adds an event to the stream's span (a retried connection, say).
func (s *Stream) Event(name string, attrs ...attribute.KeyValue) {
	if s.span != nil {
		s.span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	Server     string
	ServerAddr string // host:port
	Status     int    // 0: no response
	Error      string // "" when the attempt succeeded
}

// EndAttempt ends the current attempt's client span.
func (s *Stream) EndAttempt(e AttemptEnd) {
	c := s.client
	if c == nil {
		return
	}
	s.client = nil
	if !c.IsRecording() {
		c.End()
		return
	}
	if e.Server != "" {
		c.SetAttributes(attribute.String(AttrServer, e.Server))
	}
	if e.ServerAddr != "" {
		if ap, err := netip.ParseAddrPort(e.ServerAddr); err == nil {
			c.SetAttributes(attribute.String(AttrServerAddr, ap.Addr().String()), attribute.Int(AttrServerPort, int(ap.Port())))
		} else if h, port, ok := splitHost([]byte(e.ServerAddr)); ok {
			c.SetAttributes(attribute.String(AttrServerAddr, h), attribute.Int(AttrServerPort, port))
		}
	}
	if e.Status != 0 {
		c.SetAttributes(attribute.Int(AttrStatus, e.Status))
	}
	switch {
	case e.Error != "":
		c.SetAttributes(attribute.String(AttrErrorType, e.Error))
		c.SetStatus(codes.Error, e.Error)
	case e.Status >= 400:
		// Client spans: 4xx and 5xx are errors (semantic conventions).
		c.SetAttributes(attribute.String(AttrErrorType, itoa3(e.Status)))
		c.SetStatus(codes.Error, "")
	}
	c.End()
}

func itoa3(n int) string {
	if n < 100 || n > 999 {
		return "_OTHER"
	}
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// StreamEnd is how a stream ended.
type StreamEnd struct {
	Backend, Server, Service string
	Status                   int // HTTP status sent to the client; 0 in TCP mode or when none
	BytesIn, BytesOut        int64
	Retries                  int
	Cause, Phase, State      string // termination cause, phase and two-letter state
	Failed                   bool   // the cause is an error (not "none")
}

// End ends the stream's spans with what the stream did.
func (s *Stream) End(e StreamEnd) {
	sp := s.span
	if sp == nil {
		return
	}
	if s.client != nil {
		st := ""
		if e.Failed {
			st = e.Cause
		}
		s.EndAttempt(AttemptEnd{Server: e.Server, Error: st})
	}
	s.span = nil
	if !sp.IsRecording() {
		sp.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	if e.Status != 0 {
		attrs = append(attrs, attribute.Int(AttrStatus, e.Status))
	}
	attrs = append(attrs,
		attribute.Int64(AttrRequestSize, e.BytesIn), attribute.Int64(AttrResponseSize, e.BytesOut),
		attribute.String(AttrTermCause, e.Cause), attribute.String(AttrTermPhase, e.Phase), attribute.String(AttrTermState, e.State),
		attribute.Int(AttrRetries, e.Retries))
	if e.Backend != "" {
		attrs = append(attrs, attribute.String(AttrBackend, e.Backend))
	}
	if e.Server != "" {
		attrs = append(attrs, attribute.String(AttrServer, e.Server))
	}
	if e.Service != "" {
		attrs = append(attrs, attribute.String(AttrService, e.Service))
	}
	sp.SetAttributes(attrs...)
	// Server spans: 5xx and streams that broke are errors; 4xx is the
	// client's business (semantic conventions).
	switch {
	case e.Status >= 500:
		sp.SetAttributes(attribute.String(AttrErrorType, itoa3(e.Status)))
		sp.SetStatus(codes.Error, e.Cause)
	case e.Failed && e.Status == 0:
		sp.SetAttributes(attribute.String(AttrErrorType, e.Cause))
		sp.SetStatus(codes.Error, e.Cause)
	}
	sp.End()
}

// IDs returns the trace and span ids of the stream's server span; ok is
// false when the stream is not traced. Call before End.
func (s *Stream) IDs() (tid [16]byte, sid [8]byte, ok bool) {
	if s.span == nil {
		return tid, sid, false
	}
	sc := s.span.SpanContext()
	return sc.TraceID(), sc.SpanID(), sc.IsValid()
}

// AppendHex appends the lowercase hex form of b (trace and span ids in
// log lines).
func AppendHex(dst, b []byte) []byte { return appendHex(dst, b) }

// LogAttrs returns the slog attributes that tie a log record to span: the
// same trace_id and span_id keys as the access log. None when span is nil
// or invalid.
func LogAttrs(span trace.Span) []slog.Attr {
	if span == nil {
		return nil
	}
	sc := span.SpanContext()
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}
