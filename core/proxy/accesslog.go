package proxy

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

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
}

// accessLog writes access-log lines. Lines are built without fmt and
// buffered; a background flush bounds how long a line waits.
type accessLog struct {
	json bool

	mu  sync.Mutex
	w   io.Writer
	buf []byte

	stop chan struct{}
	done chan struct{}
}

func newAccessLog(w io.Writer, json bool) *accessLog {
	l := &accessLog{json: json, w: w, buf: make([]byte, 0, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l
}

func (l *accessLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			l.Flush()
			return
		}
	}
}

// Flush writes buffered lines.
func (l *accessLog) Flush() {
	l.mu.Lock()
	if len(l.buf) > 0 {
		l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
	l.mu.Unlock()
}

// Close flushes and stops the background flush.
func (l *accessLog) Close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// Log writes one record.
func (l *accessLog) Log(r *logRecord) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.json {
		l.buf = appendJSONRecord(l.buf, r)
	} else {
		l.buf = appendTextRecord(l.buf, r)
	}
	if len(l.buf) >= 32<<10 {
		l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
	l.mu.Unlock()
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
