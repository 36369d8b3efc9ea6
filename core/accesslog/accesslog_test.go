package accesslog

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/session"
)

// lockedBuffer is a destination the sink's writer goroutine writes while
// the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func record() *Record {
	return &Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Session: 7, Stream: 9,
		Client: "192.0.2.1:40000", Frontend: "web", Backend: "app", Server: "s1",
		Method: []byte("GET"), URI: []byte("/a\"b\x01"), Status: 201,
		BytesIn: 10, BytesOut: 20, Duration: 1500 * time.Microsecond, TTFB: -1,
		Term: session.Termination{Cause: session.CauseNone}, Retries: 2,
	}
}

func openTo(t *testing.T, format string) (*Log, *lockedBuffer) {
	t.Helper()
	w := &lockedBuffer{}
	l, err := Open(config.AccessLog{Output: "stdout", Format: format}, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, w
}

// TestWrite_JSON: a JSON line decodes to the record's values, with the
// URI's quote and control byte escaped, and no ttfb when none was seen.
func TestWrite_JSON(t *testing.T) {
	l, w := openTo(t, "json")
	l.Write(record())
	l.Flush()
	var got map[string]any
	if err := json.Unmarshal([]byte(w.String()), &got); err != nil {
		t.Fatalf("line %q: %v", w.String(), err)
	}
	want := map[string]any{
		"time": "2026-01-02T03:04:05.006Z", "session_id": 7.0, "stream_id": 9.0,
		"client": "192.0.2.1:40000", "frontend": "web", "backend": "app", "server": "s1",
		"method": "GET", "uri": "/a\"b\x01", "status": 201.0, "bytes_in": 10.0, "bytes_out": 20.0,
		"duration_ms": 1.5, "retries": 2.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if _, ok := got["ttfb_ms"]; ok {
		t.Errorf("ttfb_ms present without a first byte: %v", got["ttfb_ms"])
	}
}

// TestWrite_Text: the text line carries the fields in their order.
func TestWrite_Text(t *testing.T) {
	l, w := openTo(t, "text")
	l.Write(record())
	l.Flush()
	line := w.String()
	for _, part := range []string{"192.0.2.1:40000 [02/Jan/2026:03:04:05.006] web app/s1 201 20 1.500ms ", " sess=7 strm=9 ", `"GET /a\"b\u0001"`} {
		if !strings.Contains(line, part) {
			t.Errorf("line %q lacks %q", line, part)
		}
	}
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Errorf("line %q is not one line", line)
	}
}

// TestOpen_None: output none opens no log, and writing to it is a no-op.
func TestOpen_None(t *testing.T) {
	l, err := Open(config.AccessLog{Output: "none"}, nil)
	if l != nil || err != nil {
		t.Fatalf("Open(none) = %v, %v; want nil, nil", l, err)
	}
	l.Write(record())
}
