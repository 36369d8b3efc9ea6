package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2SignalYAML serves cleartext HTTP/2 with prior knowledge in front of
// the upstream up.
func h2SignalYAML(up string) string {
	return `
global:
  grace: 20s
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    timeouts: { client: 30s }
    default_backend: app
backends:
  app:
    timeouts: { connect: 2s, server: 20s }
    servers:
      s1: { address: "` + up + `" }
`
}

// h2Event is what the raw client read: a frame, summed up, or the end of
// the connection (err set).
type h2Event struct {
	frame     string // "headers", "data", "rst", "goaway"
	stream    uint32
	status    string // :status of a HEADERS frame
	endStream bool
	code      http2.ErrCode
	lastID    uint32 // GOAWAY's last-stream-id
	err       error
}

// h2Raw is an HTTP/2 client made of a framer, to see the GOAWAY and the
// RST_STREAM frames Go's transport hides. One goroutine reads frames and
// acknowledges SETTINGS; the test writes requests.
type h2Raw struct {
	c      net.Conn
	wmu    sync.Mutex // guards fr's writing side, enc and block
	fr     *http2.Framer
	enc    *hpack.Encoder
	block  bytes.Buffer
	events chan h2Event
}

func dialH2Raw(t *testing.T, addr string) *h2Raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // a stuck test ends
	r := &h2Raw{c: c, fr: http2.NewFramer(c, c), events: make(chan h2Event, 256)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.block)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go r.read()
	return r
}

// read turns frames into events until the connection ends.
func (r *h2Raw) read() {
	defer close(r.events)
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.events <- h2Event{err: err}
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.wmu.Lock()
				r.fr.WriteSettingsAck()
				r.wmu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			r.events <- h2Event{frame: "headers", stream: f.StreamID, status: f.PseudoValue("status"), endStream: f.StreamEnded()}
		case *http2.DataFrame:
			r.events <- h2Event{frame: "data", stream: f.StreamID, endStream: f.StreamEnded()}
		case *http2.RSTStreamFrame:
			r.events <- h2Event{frame: "rst", stream: f.StreamID, code: f.ErrCode}
		case *http2.GoAwayFrame:
			r.events <- h2Event{frame: "goaway", lastID: f.LastStreamID, code: f.ErrCode}
		}
	}
}

// request opens stream id with method and path; a request with a body
// announces length bytes and leaves the stream open for data.
func (r *h2Raw) request(t *testing.T, id uint32, method, path string, length int) {
	t.Helper()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.block.Reset()
	fields := [][2]string{{":method", method}, {":scheme", "http"}, {":authority", "h2.test"}, {":path", path}}
	if length > 0 {
		fields = append(fields, [2]string{"content-length", strconv.Itoa(length)})
	}
	for _, f := range fields {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.block.Bytes(), EndHeaders: true, EndStream: length == 0})
	if err != nil {
		t.Fatalf("HEADERS on stream %d: %v", id, err)
	}
}

func (r *h2Raw) data(t *testing.T, id uint32, p string, end bool) {
	t.Helper()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if err := r.fr.WriteData(id, end, []byte(p)); err != nil {
		t.Fatalf("DATA on stream %d: %v", id, err)
	}
}

// until returns events until one satisfies stop (returned last) or limit
// passes; it fails the test on the latter.
func (r *h2Raw) until(t *testing.T, limit time.Duration, what string, stop func(h2Event) bool) []h2Event {
	t.Helper()
	var got []h2Event
	timeout := time.After(limit)
	for {
		select {
		case e, ok := <-r.events:
			if !ok {
				t.Fatalf("the connection ended before %s; frames: %+v", what, got)
			}
			got = append(got, e)
			if stop(e) {
				return got
			}
			if e.err != nil {
				t.Fatalf("the connection ended before %s: %v; frames: %+v", what, e.err, got)
			}
		case <-timeout:
			t.Fatalf("no %s after %v; frames: %+v", what, limit, got)
		}
	}
}

// count returns how many requests for uri reached the upstream.
func (u *upstream) count(uri string) int {
	b, _ := os.ReadFile(u.log)
	return bytes.Count(b, []byte(`"uri":"`+uri+`"`))
}

// TestRun_H2GracefulStop sends SIGTERM to the strata process while one
// HTTP/2 connection has streams in flight: the client gets GOAWAY(NO_ERROR)
// naming the last stream strata accepted, a stream opened after it is
// refused (REFUSED_STREAM, never reaches the server), every stream in
// flight completes with 200 on the same connection, the connection then
// ends, and strata exits 0.
//
// Besides the streams on /delay/2s, stream 1 is a POST whose body the
// client finishes only after the refusal: it holds the connection in its
// draining state for as long as the test needs, so that the new stream
// is refused by the draining connection rather than racing its end.
func TestRun_H2GracefulStop(t *testing.T) {
	up := startUpstream(t, "s1")
	p := startStrata(t, h2SignalYAML(up.addr), false)
	r := dialH2Raw(t, p.web)

	const held, delay, body = "/held", "/delay/2s", "0123456789"
	r.request(t, 1, "POST", held, len(body))
	r.data(t, 1, body[:5], false)
	inFlight := []uint32{1}
	for id := uint32(3); id <= 9; id += 2 {
		r.request(t, id, "GET", delay, 0)
		inFlight = append(inFlight, id)
	}
	lastOpened := inFlight[len(inFlight)-1]
	testsupport.WaitFor(t, 20*time.Second, "every stream at the server", func() bool {
		return up.count(held) == 1 && up.count(delay) == len(inFlight)-1
	})

	p.signal(t, syscall.SIGTERM)
	seen := r.until(t, 10*time.Second, "GOAWAY", func(e h2Event) bool { return e.frame == "goaway" })
	g := seen[len(seen)-1]
	if g.code != http2.ErrCodeNo || g.lastID != lastOpened {
		t.Fatalf("GOAWAY %v with last-stream-id %d, want NO_ERROR and %d", g.code, g.lastID, lastOpened)
	}

	// A new stream on the draining connection.
	const after = "/after-goaway"
	newID := lastOpened + 2
	r.request(t, newID, "GET", after, 0)
	seen = append(seen, r.until(t, 10*time.Second, "an answer to the stream opened after GOAWAY", func(e h2Event) bool {
		return e.stream == newID
	})...)
	if e := seen[len(seen)-1]; e.frame != "rst" || e.code != http2.ErrCodeRefusedStream {
		t.Errorf("the stream opened after GOAWAY got %s %v, want RST_STREAM REFUSED_STREAM", e.frame, e.code)
	}

	// The held stream completes; then every stream ends and the
	// connection closes.
	r.data(t, 1, body[5:], true)
	seen = append(seen, r.until(t, 30*time.Second, "the end of the connection", func(e h2Event) bool { return e.err != nil })...)
	if err := seen[len(seen)-1].err; !errors.Is(err, io.EOF) {
		t.Errorf("the connection ended with %v, want EOF", err)
	}
	type result struct {
		status string
		ended  bool
		reset  http2.ErrCode
		frames int
	}
	res := map[uint32]*result{}
	goaways := 0
	for _, e := range seen {
		if e.frame == "goaway" {
			goaways++
			if e.lastID != lastOpened {
				t.Errorf("a GOAWAY with last-stream-id %d, want %d", e.lastID, lastOpened)
			}
		}
		if e.stream == 0 {
			continue
		}
		s := res[e.stream]
		if s == nil {
			s = &result{reset: ^http2.ErrCode(0)}
			res[e.stream] = s
		}
		s.frames++
		switch e.frame {
		case "headers":
			if s.status == "" {
				s.status = e.status
			}
		case "rst":
			s.reset = e.code
		}
		s.ended = s.ended || e.endStream
	}
	if goaways != 1 {
		t.Errorf("%d GOAWAY frames, want one", goaways)
	}
	for _, id := range inFlight {
		s := res[id]
		if s == nil || s.status != "200" || !s.ended || s.reset != ^http2.ErrCode(0) {
			t.Errorf("stream %d in flight at SIGTERM: %+v, want 200 to the end without reset", id, s)
		}
	}
	if s := res[newID]; s == nil || s.status != "" || s.frames != 1 {
		t.Errorf("stream %d opened after GOAWAY: %+v, want only its refusal", newID, s)
	}
	if up.count(after) != 0 {
		t.Errorf("the stream opened after GOAWAY reached the server")
	}

	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.stderr.String())
	}
	if s := p.stderr.String(); !strings.Contains(s, "draining in-flight streams") || !strings.Contains(s, "msg=stopped") {
		t.Errorf("log:\n%s", s)
	}
	checkH2StopLog(t, p.stdout.String(), len(inFlight))
}

// checkH2StopLog checks the access log: n streams served with 200 and
// ended normally, all on one client connection; none killed.
func checkH2StopLog(t *testing.T, log string, n int) {
	t.Helper()
	sessions := map[any]bool{}
	ok := 0
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("access log line %q: %v", l, err)
			continue
		}
		sessions[m["session_id"]] = true
		if m["status"] == float64(200) && m["termination_cause"] == "none" {
			ok++
		} else {
			t.Errorf("access log: %v", m)
		}
	}
	if ok != n || len(sessions) != 1 {
		t.Errorf("access log: %d streams served on %d sessions, want %d on one:\n%s", ok, len(sessions), n, log)
	}
}
