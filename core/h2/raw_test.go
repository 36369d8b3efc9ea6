package h2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawClient speaks HTTP/2 frame by frame, to send what a well-behaved
// client never would.
type rawClient struct {
	t    testing.TB
	nc   net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func dialRaw(t testing.TB, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rc := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	rc.fr.AllowIllegalWrites = true
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // bounds every test
	if _, err := io.WriteString(nc, Preface); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return rc
}

func (rc *rawClient) block(fields []hpack.HeaderField) []byte {
	rc.hbuf.Reset()
	for _, f := range fields {
		rc.enc.WriteField(f)
	}
	return append([]byte(nil), rc.hbuf.Bytes()...)
}

func (rc *rawClient) headers(id uint32, fields []hpack.HeaderField, endStream bool) error {
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.block(fields), EndStream: endStream, EndHeaders: true})
}

// next reads frames until want returns true, and fails the test at the end
// of the connection.
func (rc *rawClient) next(want func(http2.Frame) bool) http2.Frame {
	rc.t.Helper()
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			rc.t.Fatalf("connection ended before the expected frame: %v", err)
		}
		if want(f) {
			return f
		}
	}
}

// goAway reads until GOAWAY and returns its code; ok is false if the
// connection ended first.
func (rc *rawClient) goAway() (code http2.ErrCode, ok bool) {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		if ga, isGA := f.(*http2.GoAwayFrame); isGA {
			return ga.ErrCode, true
		}
	}
}

// watchGoAway reads frames in the background until GOAWAY, then hangs up
// (which also ends a flood being written) and sends its code (0 when the
// connection ended without one).
func (rc *rawClient) watchGoAway() <-chan http2.ErrCode {
	codes := make(chan http2.ErrCode, 1)
	go func() {
		code, _ := rc.goAway()
		rc.nc.Close()
		codes <- code
	}()
	return codes
}

func isRST(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id
	}
}

func get(path string, extra ...hpack.HeaderField) []hpack.HeaderField {
	return append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "example.test"}, {Name: ":path", Value: path},
	}, extra...)
}

func hf(kv ...string) []hpack.HeaderField {
	var out []hpack.HeaderField
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestConn_MalformedRequests(t *testing.T) {
	tests := []struct {
		name   string
		fields []hpack.HeaderField
		body   []byte // sent with END_STREAM when non-nil
		trail  []hpack.HeaderField
	}{
		{name: "uppercase name", fields: get("/", hf("X-Upper", "1")...)},
		{name: "connection field", fields: get("/", hf("connection", "close")...)},
		{name: "transfer-encoding", fields: get("/", hf("transfer-encoding", "chunked")...)},
		{name: "te gzip", fields: get("/", hf("te", "gzip")...)},
		{name: "pseudo after regular", fields: append(hf("accept", "*/*"), get("/")...)},
		{name: "unknown pseudo", fields: get("/", hf(":protocol", "websocket")...)},
		{name: "response pseudo", fields: get("/", hf(":status", "200")...)},
		{name: "duplicate path", fields: append(get("/"), hf(":path", "/b")...)},
		{name: "missing method", fields: hf(":scheme", "http", ":authority", "a", ":path", "/")},
		{name: "missing path", fields: hf(":method", "GET", ":scheme", "http", ":authority", "a")},
		{name: "empty path", fields: get("")},
		{name: "space in path", fields: get("/a b")},
		{name: "CONNECT with path", fields: hf(":method", "CONNECT", ":authority", "a:443", ":path", "/")},
		{name: "host differs", fields: get("/", hf("host", "other.test")...)},
		{name: "leading space in value", fields: get("/", hf("x-a", " v")...)},
		{name: "NUL in value", fields: get("/", hf("x-a", "a\x00b")...)},
		{name: "CR in value", fields: get("/", hf("x-a", "a\rb")...)},
		{name: "content-length mismatch", fields: []hpack.HeaderField{
			{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "a"},
			{Name: ":path", Value: "/"}, {Name: "content-length", Value: "5"},
		}, body: []byte("abc")},
		{name: "pseudo in trailers", fields: get("/"), trail: hf(":path", "/x")},
	}
	var calls atomic.Int32
	var mu sync.Mutex
	var reported []error
	cfg := Config{OnProtocolError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}}
	ts := startServer(t, cfg, func(s *Stream) {
		calls.Add(1)
		okHandler(s)
	}, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			mu.Lock()
			reported = nil
			mu.Unlock()
			rc := dialRaw(t, ts.addr)
			end := tt.body == nil && tt.trail == nil
			if err := rc.headers(1, tt.fields, end); err != nil {
				t.Fatal(err)
			}
			if tt.body != nil {
				rc.fr.WriteData(1, true, tt.body)
			}
			if tt.trail != nil {
				rc.headers(1, tt.trail, true)
			}
			rst := rc.next(isRST(1)).(*http2.RSTStreamFrame)
			if rst.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("RST_STREAM %v, want PROTOCOL_ERROR", rst.ErrCode)
			}
			// The connection lives on: a valid request on it is answered.
			rc.headers(3, get("/"), true)
			rc.next(func(f http2.Frame) bool {
				d, ok := f.(*http2.DataFrame)
				return ok && d.StreamID == 3 && d.StreamEnded()
			})
			// The content-length and trailer cases start the handler (the
			// error comes with the body); the others never do.
			want := int32(1)
			if tt.body != nil || tt.trail != nil {
				want = 2
			}
			if got := calls.Load(); got != want {
				t.Fatalf("handler called %d times, want %d", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			var pe *ProtocolError
			if len(reported) != 1 || !errors.As(reported[0], &pe) || pe.Stream != 1 || !errors.Is(pe, ErrMalformed) {
				t.Fatalf("OnProtocolError got %v, want one malformed error on stream 1", reported)
			}
		})
	}
}

func TestConn_HostBecomesAuthority(t *testing.T) {
	got := make(chan Request, 1)
	ts := startServer(t, Config{}, func(s *Stream) {
		got <- *s.Request()
		okHandler(s)
	}, false)
	rc := dialRaw(t, ts.addr)
	rc.headers(1, hf(":method", "GET", ":scheme", "http", ":path", "/p?q", "host", "h.test", "cookie", "a=1", "accept", "*/*", "cookie", "b=2"), true)
	req := <-got
	if req.Authority != "h.test" || req.Path != "/p?q" || req.ContentLength != -1 || !req.EndStream {
		t.Fatalf("request %+v", req)
	}
	want := hf("host", "h.test", "cookie", "a=1; b=2", "accept", "*/*")
	if len(req.Fields) != len(want) {
		t.Fatalf("fields %v, want %v", req.Fields, want)
	}
	for i := range want {
		if req.Fields[i] != want[i] {
			t.Fatalf("fields %v, want %v", req.Fields, want)
		}
	}
}

func TestConn_RapidReset(t *testing.T) {
	const maxStreams = 10
	var live, peak atomic.Int32
	release := make(chan struct{})
	cfg := Config{MaxConcurrentStreams: maxStreams, MaxResets: 100}
	ts := startServer(t, cfg, func(s *Stream) {
		n := live.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer live.Add(-1)
		<-s.Done()
		<-release // a handler slow to notice the reset
		s.Reset(http2.ErrCodeCancel)
	}, false)
	rc := dialRaw(t, ts.addr)
	codes := rc.watchGoAway()
	for i := range 5000 {
		id := uint32(2*i + 1)
		if rc.headers(id, get("/"), false) != nil || rc.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break // the server hung up
		}
	}
	if code := <-codes; code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
	}
	if p := peak.Load(); p > maxStreams+handlerSlack {
		t.Fatalf("%d handlers ran at once, want at most %d", p, maxStreams+handlerSlack)
	}
	close(release)
	if err := ts.serveErrs(t, 1)[0]; !errors.Is(err, ErrTooManyResets) {
		t.Fatalf("Serve = %v, want ErrTooManyResets", err)
	}
}

// countingConn counts the bytes the server read before it wrote GOAWAY.
type countingConn struct {
	net.Conn
	read      atomic.Int64
	atGoAway  atomic.Int64
	sawGoAway atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	for b := p; len(b) >= 9; {
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if http2.FrameType(b[3]) == http2.FrameGoAway && !c.sawGoAway.Swap(true) {
			c.atGoAway.Store(c.read.Load())
		}
		if 9+length > len(b) {
			break
		}
		b = b[9+length:]
	}
	return c.Conn.Write(p)
}

func (c *countingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// startCountingServer serves one connection through a countingConn.
func startCountingServer(t *testing.T, cfg Config, h Handler) (addr string, cc chan *countingConn, errs chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc, errs = make(chan *countingConn, 1), make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			errs <- err
			return
		}
		c := &countingConn{Conn: nc}
		cc <- c
		errs <- NewConn(c, nil, cfg, h).Serve()
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), cc, errs
}

func TestConn_HeaderBlockFloods(t *testing.T) {
	const limit = DefaultMaxHeaderListSize
	tests := []struct {
		name string
		frag func(rc *rawClient) []byte // each CONTINUATION payload
	}{
		{"empty CONTINUATION frames", func(*rawClient) []byte { return nil }},
		{"indexed fields (HPACK bomb)", func(*rawClient) []byte { return bytes.Repeat([]byte{0x82}, 1000) }},
		{"long literal", func(*rawClient) []byte {
			return []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called atomic.Bool
			addr, cc, errs := startCountingServer(t, Config{}, func(s *Stream) { called.Store(true); okHandler(s) })
			rc := dialRaw(t, addr)
			codes := rc.watchGoAway()
			first := rc.block(get("/"))
			if tt.name == "long literal" {
				// A literal field whose value length says 1 MiB: the
				// rest comes in CONTINUATION frames.
				first = append(first, 0x00, 0x01, 'x', 0x7f, 0x81, 0xff, 0x3f)
			}
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true})
			for range 100_000 {
				if rc.fr.WriteContinuation(1, false, tt.frag(rc)) != nil {
					break
				}
			}
			if code := <-codes; code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
			}
			c := <-cc
			if err := <-errs; !errors.Is(err, ErrHeaderListTooLarge) {
				t.Fatalf("Serve = %v, want ErrHeaderListTooLarge", err)
			}
			// Read before GOAWAY: preface, SETTINGS, then at most one
			// header block's worth and one frame.
			if n := c.atGoAway.Load(); n > limit+DefaultMaxFrameSize+1024 {
				t.Fatalf("server read %d bytes before GOAWAY, want at most %d", n, limit+DefaultMaxFrameSize+1024)
			}
			if called.Load() {
				t.Fatal("handler ran")
			}
		})
	}
}

func TestConn_ControlFloods(t *testing.T) {
	tests := []struct {
		name string
		send func(rc *rawClient, i int) error
	}{
		{"PING", func(rc *rawClient, i int) error { return rc.fr.WritePing(false, [8]byte{byte(i)}) }},
		{"SETTINGS", func(rc *rawClient, i int) error { return rc.fr.WriteSettings() }},
		{"PRIORITY", func(rc *rawClient, i int) error {
			return rc.fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: 0, Weight: 1})
		}},
		{"empty DATA", func(rc *rawClient, i int) error {
			if i == 0 {
				rc.headers(1, append(get("/"), hpack.HeaderField{Name: ":method", Value: "POST"})[1:], false)
			}
			return rc.fr.WriteData(1, false, nil)
		}},
		{"unknown frame type", func(rc *rawClient, i int) error { return rc.fr.WriteRawFrame(0xee, 0, 0, []byte("x")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{MaxControlFrames: 100}, okHandler, false)
			rc := dialRaw(t, ts.addr)
			codes := rc.watchGoAway()
			for i := range 10_000 {
				if tt.send(rc, i) != nil {
					break
				}
			}
			if code := <-codes; code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
			}
			if err := ts.serveErrs(t, 1)[0]; !errors.Is(err, ErrControlFlood) {
				t.Fatalf("Serve = %v, want ErrControlFlood", err)
			}
		})
	}
}

func TestConn_ZeroWindow(t *testing.T) {
	tests := []struct {
		name     string
		settings []http2.Setting
		size     int
		conn     bool // the connection window is the one left at zero
	}{
		{"stream window", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}, 100, false},
		{"connection window", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}, 100_000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			werr := make(chan error, 1)
			ts := startServer(t, Config{ZeroWindowTimeout: 100 * time.Millisecond}, func(s *Stream) {
				s.WriteHeaders(200, nil, false)
				_, err := s.Write(make([]byte, tt.size))
				werr <- err
				s.Reset(http2.ErrCodeInternal)
			}, false)
			rc := dialRaw(t, ts.addr, tt.settings...)
			rc.headers(1, get("/"), true)
			if err := <-werr; !errors.Is(err, ErrZeroWindow) {
				t.Fatalf("Write = %v, want ErrZeroWindow", err)
			}
			if tt.conn {
				if code, ok := rc.goAway(); !ok || code != http2.ErrCodeEnhanceYourCalm {
					t.Fatalf("GOAWAY %v (seen %t), want ENHANCE_YOUR_CALM", code, ok)
				}
				return
			}
			if rst := rc.next(isRST(1)).(*http2.RSTStreamFrame); rst.ErrCode != http2.ErrCodeCancel {
				t.Fatalf("RST_STREAM %v, want CANCEL", rst.ErrCode)
			}
		})
	}
}

func TestConn_IdleTimeout(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 50 * time.Millisecond}, okHandler, false)
	rc := dialRaw(t, ts.addr)
	rc.headers(1, get("/"), true)
	rc.next(func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamEnded() })
	if code, ok := rc.goAway(); !ok || code != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v (seen %t), want NO_ERROR", code, ok)
	}
	rc.nc.Close()
	if err := ts.serveErrs(t, 1)[0]; !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("Serve = %v, want ErrIdleTimeout", err)
	}
}

func TestConn_ConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	ts := startServer(t, Config{MaxConcurrentStreams: 2}, func(s *Stream) {
		<-release
		okHandler(s)
	}, false)
	defer close(release)
	rc := dialRaw(t, ts.addr)
	for _, id := range []uint32{1, 3, 5} {
		rc.headers(id, get("/"), true)
	}
	if rst := rc.next(isRST(5)).(*http2.RSTStreamFrame); rst.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("RST_STREAM %v, want REFUSED_STREAM", rst.ErrCode)
	}
}

// endOf matches the frame that ends the last response of streams ids
// (in whatever order they end), and fails the test on a RST_STREAM or a
// GOAWAY: the client is compliant and every one of its requests must be
// served.
func endOf(t *testing.T, ids ...uint32) func(http2.Frame) bool {
	left := slices.Clone(ids)
	return func(f http2.Frame) bool {
		t.Helper()
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d: RST_STREAM %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("waiting for streams %v: GOAWAY %v %q", left, f.ErrCode, f.DebugData())
		case *http2.DataFrame:
			if f.StreamEnded() {
				left = slices.DeleteFunc(left, func(id uint32) bool { return id == f.StreamID })
			}
		}
		return len(left) == 0
	}
}

// TestConn_HandlersOutliveStreams: a compliant client opens a stream as
// soon as it reads the end of another, when that stream's handler may not
// have returned yet. The new stream is accepted and waits for a handler
// rather than being refused below the advertised limit; handlers stay
// bounded; a stream reset while it waits never runs; the connection still
// ends gracefully once every handler has returned.
func TestConn_HandlersOutliveStreams(t *testing.T) {
	const maxStreams = 2
	var running, peak atomic.Int32
	var resetRan atomic.Bool
	release := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	defer releaseAll()
	ts := startServer(t, Config{MaxConcurrentStreams: maxStreams, MaxResets: 1}, func(s *Stream) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer running.Add(-1)
		if s.Request().Path == "/reset" {
			resetRan.Store(true)
		}
		okHandler(s)
		<-release // winding down after the response, as a proxy logs
	}, false)
	rc := dialRaw(t, ts.addr)
	id := uint32(1)
	// One stream at a time, each opened once the previous one ended; the
	// last of these finds every handler slot taken by a finished stream.
	for range maxStreams + handlerSlack + 1 {
		rc.headers(id, get("/"), true)
		if id < 2*(maxStreams+handlerSlack) {
			rc.next(endOf(t, id))
		}
		id += 2
	}
	// Both streams are open (the limit), neither has a handler: one is
	// reset while it waits, then another opens in its place.
	waiting, reset, last := id-2, id, id+2
	rc.headers(reset, get("/reset"), true)
	rc.fr.WriteRSTStream(reset, http2.ErrCodeCancel)
	rc.headers(last, get("/"), true)
	// The PING's ack says every frame before it was processed.
	rc.fr.WritePing(false, [8]byte{1})
	rc.next(func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("stream %d: RST_STREAM %v", r.StreamID, r.ErrCode)
		}
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
	releaseAll()
	rc.next(endOf(t, waiting, last))
	if resetRan.Load() {
		t.Error("the handler of a stream reset before it started ran")
	}
	if p := peak.Load(); p > maxStreams+handlerSlack {
		t.Errorf("%d handlers ran at once, want at most %d", p, maxStreams+handlerSlack)
	}
	ts.mu.Lock()
	c := ts.conns[0]
	ts.mu.Unlock()
	c.Shutdown()
	if code, ok := rc.goAway(); !ok || code != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v (seen %t), want NO_ERROR", code, ok)
	}
	rc.nc.Close()
	if err := ts.serveErrs(t, 1)[0]; err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
}

// TestConn_RefusalIsNotAReset: streams refused above the limit are the
// server's doing, not resets by the client: however many, they do not end
// the connection as rapid reset, and the client is served once under the
// limit again.
func TestConn_RefusalIsNotAReset(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts := startServer(t, Config{MaxConcurrentStreams: 1, MaxResets: 1}, func(s *Stream) {
		if s.ID() == 1 {
			<-release
		}
		okHandler(s)
	}, false)
	rc := dialRaw(t, ts.addr)
	rc.headers(1, get("/"), true)
	for id := uint32(3); id <= 11; id += 2 {
		rc.headers(id, get("/"), true)
		if rst := rc.next(isRST(id)).(*http2.RSTStreamFrame); rst.ErrCode != http2.ErrCodeRefusedStream {
			t.Fatalf("stream %d: RST_STREAM %v, want REFUSED_STREAM", id, rst.ErrCode)
		}
	}
	release <- struct{}{}
	rc.next(endOf(t, 1))
	rc.headers(13, get("/"), true)
	rc.next(endOf(t, 13))
}
