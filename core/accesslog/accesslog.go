// Package accesslog writes strata's access-log lines: strata's own line
// (json or text) or a frontend's log_format (core/logfmt), built without
// fmt into pooled buffers and queued in a core/logsink Sink.
//
// Layer: L7 output, below the engine. The engine (core/stream) fills one
// Record per stream as the stream goes (accesslog.go there: timers,
// captures, the log_format fields) and hands it to Write when the stream
// ends; this package knows nothing of connections or streams beyond the
// record.
//
// Goroutines: Write runs on the goroutine that ends the stream and never
// blocks on the destination: the sink's own writer goroutine writes, and a
// slow destination drops lines (counted) rather than stall the stream. A
// Record belongs to its stream's goroutine until Write returns.
package accesslog

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/logfmt"
	"github.com/strata-proxy/strata/core/logsink"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Record is what one access-log line says about a stream.
type Record struct {
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

	// A frontend's log_format renders HX instead (filled by the engine); the
	// HAProxy timers in it are set as the stream reaches them.
	Format *logfmt.Format
	HX     logfmt.Record
	// HTXDelta turns BytesOut into HAProxy's %B (the engine's logHead).
	HTXDelta int64
}

// Log writes access-log lines: strata's own (json or text) or a
// frontend's log_format (core/logfmt). Lines are built without fmt into a
// pooled buffer and queued in a core/logsink Sink, whose writer goroutine
// writes them: a slow destination drops lines (counted) rather than stall
// the stream that logs.
type Log struct {
	json bool
	sink *logsink.Sink
}

// linePool holds the buffers lines are built in.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func New(sink *logsink.Sink, json bool) *Log {
	return &Log{json: json, sink: sink}
}

// Open opens the destination of al, or w when not nil. It returns
// nil when the output is "none".
func Open(al config.AccessLog, w io.Writer) (*Log, error) {
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
	return New(sink, al.Format != "text"), nil
}

// Flush writes every queued line.
func (l *Log) Flush() { l.sink.Flush() }

// Close writes what is queued and closes the destination; it gives up
// on a destination that stays blocked (logsink.ErrBlocked).
func (l *Log) Close() error { return l.sink.Close() }

// Reopen reopens the destination file (SIGUSR1, after logrotate renamed
// it); other outputs have nothing to reopen.
func (l *Log) Reopen() error { return l.sink.Reopen() }

// Write writes one record; nothing on a nil Log (output "none").
func (l *Log) Write(r *Record) {
	if l == nil {
		return
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	switch {
	case r.Format != nil:
		b = r.Format.Append(b, &r.HX)
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

// Gather reports the log's counters (strata_log_*).
func (l *Log) Gather(m *telemetry.Metrics) {
	m.Counter("strata_log_lines_total", "Access-log lines written to their destination.", float64(l.sink.Written()))
	m.Counter("strata_log_dropped_total", "Access-log lines dropped: the queue was full (slow destination) or the write failed.", float64(l.sink.Dropped()))
}

func appendJSONRecord(b []byte, r *Record) []byte {
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
	b = logfmt.AppendJSONString(b, val)
	return append(b, '"')
}

// appendTextRecord writes an HAProxy-like line:
// client [time] frontend backend/server status bytes_out duration_ms state sess=N strm=N [trace_id=… span_id=…] "METHOD URI"
func appendTextRecord(b []byte, r *Record) []byte {
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
		b = logfmt.AppendJSONString(b, r.Method)
		b = append(b, ' ')
		b = logfmt.AppendJSONString(b, r.URI)
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
