package h2

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawServer speaks HTTP/2 frame by frame to a ClientConn, to send what a
// well-behaved server never would.
type rawServer struct {
	t    testing.TB
	nc   net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

// dialRawServer returns a ClientConn connected to a rawServer that has
// read the client's preface and SETTINGS and sent its own.
func dialRawServer(t testing.TB, cfg ClientConfig, settings ...http2.Setting) (*ClientConn, *rawServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- nc
	}()
	cc := dialClientConn(t, ln.Addr().String(), false, cfg)
	nc := <-accepted
	if nc == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // bounds every test
	rs := &rawServer{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	rs.fr.AllowIllegalWrites = true
	rs.enc = hpack.NewEncoder(&rs.hbuf)
	var pre [len(Preface)]byte
	if _, err := io.ReadFull(nc, pre[:]); err != nil || string(pre[:]) != Preface {
		t.Fatalf("client preface %q, %v", pre, err)
	}
	if f, err := rs.fr.ReadFrame(); err != nil {
		t.Fatal(err)
	} else if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first client frame %v", f)
	}
	if err := rs.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return cc, rs
}

func (rs *rawServer) block(fields []hpack.HeaderField) []byte {
	rs.hbuf.Reset()
	for _, f := range fields {
		rs.enc.WriteField(f)
	}
	return append([]byte(nil), rs.hbuf.Bytes()...)
}

// headers sends a header block in HEADERS and as many CONTINUATION frames
// as 16 KiB frames need.
func (rs *rawServer) headers(id uint32, fields []hpack.HeaderField, endStream bool) {
	b := rs.block(fields)
	const max = 16 << 10
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), max)
		frag := b[:n]
		b = b[n:]
		var err error
		if first {
			err = rs.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(b) == 0})
		} else {
			err = rs.fr.WriteContinuation(id, len(b) == 0, frag)
		}
		if err != nil {
			rs.t.Fatal(err)
		}
	}
}

// next reads frames until want returns true; nil at the end of the
// connection.
func (rs *rawServer) next(want func(http2.Frame) bool) http2.Frame {
	for {
		f, err := rs.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if want(f) {
			return f
		}
	}
}

// request opens a stream and returns it with the id the server saw.
func (rs *rawServer) request(cc *ClientConn, endStream bool) (*ClientStream, uint32) {
	rs.t.Helper()
	s, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/", EndStream: endStream})
	if err != nil {
		rs.t.Fatal(err)
	}
	f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.HeadersFrame); return ok })
	if f == nil || f.Header().StreamID != s.ID() {
		rs.t.Fatalf("server saw %v, want HEADERS on stream %d", f, s.ID())
	}
	return s, s.ID()
}

// outcome reads the response through to the end of the body.
func outcome(s *ClientStream) error {
	for {
		r, err := s.ReadResponse()
		if err != nil {
			return err
		}
		if r.Status >= 200 {
			break
		}
	}
	_, err := io.ReadAll(s)
	return err
}

func hdrs(kv ...string) []hpack.HeaderField { return hf(kv...) }

func TestClientConn_MalformedResponses(t *testing.T) {
	bigValue := func() string {
		b := make([]byte, 40<<10)
		rand.Read(b)
		return hex.EncodeToString(b) // 80 KiB that HPACK cannot shrink much
	}
	tests := []struct {
		name string
		send func(rs *rawServer, id uint32)
		// want is what the client's error wraps; nil: a *ResetError of
		// ours with code rst.
		want error
		// What the client sends back: RST_STREAM(rst) when rst != 0,
		// GOAWAY(goAway) when goAway, nothing when neither.
		rst    http2.ErrCode
		goAway bool
		code   http2.ErrCode
	}{
		{name: "uppercase name", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "X-Upper", "1"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "missing :status", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs("x-a", "1"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "connection: keep-alive", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "connection", "keep-alive"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "te in a response", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "te", "trailers"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "two :status", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", ":status", "204"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "request pseudo-header", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", ":path", "/"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "pseudo-header after a regular field", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs("x-a", "1", ":status", "200"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "status 101", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "101"), false)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "status not three digits", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "2000"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "interim with END_STREAM", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "103"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "value with CR", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "x-a", "1\r\nx-b: 2"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "body shorter than content-length", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "content-length", "10"), false)
			rs.fr.WriteData(id, true, []byte("short"))
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "body longer than content-length", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "content-length", "2"), false)
			rs.fr.WriteData(id, false, []byte("too long"))
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "DATA before HEADERS", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteData(id, true, []byte("early"))
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "pseudo-header in trailers", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200"), false)
			rs.headers(id, hdrs(":status", "200"), true)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "trailers without END_STREAM", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200"), false)
			rs.headers(id, hdrs("x-t", "1"), false)
		}, want: ErrMalformedResponse, rst: http2.ErrCodeProtocol},
		{name: "DATA beyond the stream window", send: func(rs *rawServer, id uint32) {
			// The client advertised 256 KiB; 17 frames of 16 KiB are more.
			rs.headers(id, hdrs(":status", "200"), false)
			chunk := make([]byte, 16<<10)
			for range 17 {
				rs.fr.WriteData(id, false, chunk)
			}
		}, rst: http2.ErrCodeFlowControl},
		{name: "huge header block", send: func(rs *rawServer, id uint32) {
			rs.headers(id, hdrs(":status", "200", "x-big", bigValue()), true)
		}, want: ErrHeaderListTooLarge, goAway: true, code: http2.ErrCodeEnhanceYourCalm},
		{name: "CONTINUATION flood", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rs.block(hdrs(":status", "200"))})
			for range 10000 {
				if rs.fr.WriteContinuation(id, false, nil) != nil {
					return // the client hung up: the point
				}
			}
		}, want: ErrHeaderListTooLarge, goAway: true, code: http2.ErrCodeEnhanceYourCalm},
		{name: "PUSH_PROMISE", send: func(rs *rawServer, id uint32) {
			rs.fr.WritePushPromise(http2.PushPromiseParam{StreamID: id, PromiseID: 2, BlockFragment: rs.block(hdrs(":method", "GET")), EndHeaders: true})
		}, want: ErrConnClosed, goAway: true, code: http2.ErrCodeProtocol},
		{name: "DATA on an idle stream", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteData(id+2, false, []byte("x"))
		}, want: ErrConnClosed, goAway: true, code: http2.ErrCodeProtocol},
		{name: "HEADERS on a server stream", send: func(rs *rawServer, id uint32) {
			rs.headers(2, hdrs(":status", "200"), true)
		}, want: ErrConnClosed, goAway: true, code: http2.ErrCodeProtocol},
		{name: "SETTINGS_ENABLE_PUSH 1", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 1})
		}, want: ErrConnClosed, goAway: true, code: http2.ErrCodeProtocol},
		{name: "REFUSED_STREAM", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		}, want: ErrRetryable},
		{name: "GOAWAY below the stream", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteGoAway(id-1, http2.ErrCodeNo, nil) // the streams below it were processed
		}, want: ErrRetryable},
		{name: "GOAWAY with an error", send: func(rs *rawServer, id uint32) {
			rs.fr.WriteGoAway(id, http2.ErrCodeInternal, []byte("bye"))
		}, want: ErrConnClosed},
		{name: "server hangs up", send: func(rs *rawServer, id uint32) {
			rs.nc.Close()
		}, want: ErrConnClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, rs := dialRawServer(t, ClientConfig{})
			s, id := rs.request(cc, true)
			tt.send(rs, id)
			// Every case ends the stream; reading only then keeps the
			// reads from granting window the case means to exceed.
			<-s.Done()
			err := outcome(s)
			if tt.want == nil {
				var re *ResetError
				if !errors.As(err, &re) || re.Remote || re.Code != tt.rst {
					t.Fatalf("client error %v, want our reset %v", err, tt.rst)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("client error %v, want one wrapping %v", err, tt.want)
			}
			if tt.want == ErrMalformedResponse || tt.want == ErrHeaderListTooLarge {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ProtocolError", err)
				}
			}
			if tt.want != ErrRetryable && errors.Is(err, ErrRetryable) {
				t.Fatalf("error %v is retryable", err)
			}
			if tt.want != nil && !errors.Is(s.Err(), tt.want) {
				t.Fatalf("stream Err %v, want one wrapping %v", s.Err(), tt.want)
			}
			switch {
			case tt.rst != 0:
				f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
				if f == nil || f.Header().StreamID != id || f.(*http2.RSTStreamFrame).ErrCode != tt.rst {
					t.Fatalf("server got %v, want RST_STREAM %v on %d", f, tt.rst, id)
				}
				// A stream error leaves the connection up.
				if !cc.CanTakeNewStream() {
					t.Fatal("connection unusable after a stream error")
				}
			case tt.goAway:
				f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
				if f == nil || f.(*http2.GoAwayFrame).ErrCode != tt.code {
					t.Fatalf("server got %v, want GOAWAY %v", f, tt.code)
				}
				<-cc.Done()
				if cc.Err() == nil {
					t.Fatal("connection Err nil after a connection error")
				}
			}
		})
	}
}

func TestClientConn_HPACKBomb(t *testing.T) {
	cc, rs := dialRawServer(t, ClientConfig{})
	s, id := rs.request(cc, true)
	// One 4 KiB field enters the dynamic table, then each repeat costs a
	// byte on the wire and 4 KiB decoded: 20 of them are 80 KiB.
	fields := hdrs(":status", "200")
	for range 20 {
		fields = append(fields, hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("a", 4000)})
	}
	rs.headers(id, fields, true)
	if err := outcome(s); !errors.Is(err, ErrHeaderListTooLarge) {
		t.Fatalf("client error %v, want ErrHeaderListTooLarge", err)
	}
	f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
	if f == nil || f.Header().StreamID != id {
		t.Fatalf("server got %v, want RST_STREAM on %d", f, id)
	}
	// The block was decoded to the end: the dynamic table is in step and
	// the connection serves the next stream.
	s, id = rs.request(cc, true)
	rs.headers(id, hdrs(":status", "200", "x-bomb", strings.Repeat("a", 4000)), false)
	rs.fr.WriteData(id, true, []byte("ok"))
	r, err := s.ReadResponse()
	if err != nil || r.Status != 200 || field(r.Fields, "x-bomb") != strings.Repeat("a", 4000) {
		t.Fatalf("next response %v, %v", r, err)
	}
	if b, err := io.ReadAll(s); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
}

// TestClientConn_RawFlows covers what the Go server does not show: a HEAD
// response's content-length, RST_STREAM(NO_ERROR) after a complete
// response, interim responses beyond the queue, frames crossing our reset,
// the server's SETTINGS applied to OpenStream and Write.
func TestClientConn_RawFlows(t *testing.T) {
	t.Run("HEAD with content-length", func(t *testing.T) {
		cc, rs := dialRawServer(t, ClientConfig{})
		s, err := cc.OpenStream(&ClientRequest{Method: "HEAD", Scheme: "https", Authority: "a", Path: "/", EndStream: true})
		if err != nil {
			t.Fatal(err)
		}
		rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.HeadersFrame); return ok })
		rs.headers(s.ID(), hdrs(":status", "200", "content-length", "1234"), true)
		r, err := s.ReadResponse()
		if err != nil || r.ContentLength != 1234 || !r.EndStream {
			t.Fatalf("HEAD response %+v, %v", r, err)
		}
		if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("HEAD body: %d, %v", n, err)
		}
	})

	t.Run("RST_STREAM NO_ERROR after the response", func(t *testing.T) {
		cc, rs := dialRawServer(t, ClientConfig{})
		s, id := rs.request(cc, false)
		rs.headers(id, hdrs(":status", "413"), false)
		rs.fr.WriteData(id, true, []byte("too big"))
		rs.fr.WriteRSTStream(id, http2.ErrCodeNo)
		r, err := s.ReadResponse()
		if err != nil || r.Status != 413 {
			t.Fatalf("response %v, %v", r, err)
		}
		<-s.Done()
		if s.Err() != nil {
			t.Fatalf("Err = %v, want a normal end", s.Err())
		}
		if _, err := s.Write([]byte("rest")); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("Write after the early end: %v", err)
		}
		if b, err := io.ReadAll(s); err != nil || string(b) != "too big" {
			t.Fatalf("body %q, %v", b, err)
		}
	})

	t.Run("interim responses not read", func(t *testing.T) {
		cc, rs := dialRawServer(t, ClientConfig{})
		s, id := rs.request(cc, true)
		for range maxInterimQueued + 1 {
			rs.headers(id, hdrs(":status", "103", "link", "</a.css>"), false)
		}
		f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
		if f == nil || f.Header().StreamID != id {
			t.Fatalf("server got %v, want RST_STREAM on %d", f, id)
		}
		if _, err := s.ReadResponse(); !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("ReadResponse: %v", err)
		}
	})

	t.Run("frames crossing our reset", func(t *testing.T) {
		cc, rs := dialRawServer(t, ClientConfig{})
		s, id := rs.request(cc, true)
		s.Reset(http2.ErrCodeCancel)
		var re *ResetError
		if err := s.Err(); !errors.As(err, &re) || re.Remote || re.Code != http2.ErrCodeCancel {
			t.Fatalf("Err after Reset = %v", err)
		}
		rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
		rs.headers(id, hdrs(":status", "200"), false) // ignored, and decoded
		rs.fr.WriteData(id, true, []byte("late"))
		s, id = rs.request(cc, true)
		rs.headers(id, hdrs(":status", "204"), true)
		if err := outcome(s); err != nil {
			t.Fatalf("next stream: %v", err)
		}
	})

	t.Run("server SETTINGS", func(t *testing.T) {
		// Frames of at most 16 KiB, windows of 10 bytes, a 200-byte header
		// list, one stream.
		cc, rs := dialRawServer(t, ClientConfig{},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 200},
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1})
		rs.next(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
		long := []hpack.HeaderField{{Name: "x-long", Value: strings.Repeat("v", 200)}}
		if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/", Fields: long}); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("OpenStream beyond SETTINGS_MAX_HEADER_LIST_SIZE: %v", err)
		}
		s, id := rs.request(cc, false)
		if cc.CanTakeNewStream() {
			t.Fatal("CanTakeNewStream true at SETTINGS_MAX_CONCURRENT_STREAMS 1")
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := s.Write([]byte("0123456789abcdefghij"))
			if err == nil {
				err = s.CloseWrite()
			}
			wrote <- err
		}()
		var got []byte
		for len(got) < 20 {
			f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok })
			if f == nil {
				t.Fatal("connection ended")
			}
			d := f.(*http2.DataFrame).Data()
			if len(d) > 10 {
				t.Fatalf("DATA of %d bytes beyond a window of 10", len(d))
			}
			got = append(got, d...)
			rs.fr.WriteWindowUpdate(id, uint32(len(d)))
		}
		if string(got) != "0123456789abcdefghij" {
			t.Fatalf("server got %q", got)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("zero window", func(t *testing.T) {
		cc, rs := dialRawServer(t, ClientConfig{ZeroWindowTimeout: 50 * time.Millisecond},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		rs.next(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
		s, id := rs.request(cc, false)
		if _, err := s.Write([]byte("x")); !errors.Is(err, ErrZeroWindow) {
			t.Fatalf("Write on a zero window: %v", err)
		}
		f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
		if f == nil || f.Header().StreamID != id || f.(*http2.RSTStreamFrame).ErrCode != http2.ErrCodeCancel {
			t.Fatalf("server got %v, want RST_STREAM CANCEL", f)
		}
	})

	t.Run("PING", func(t *testing.T) {
		_, rs := dialRawServer(t, ClientConfig{})
		data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
		rs.fr.WritePing(false, data)
		f := rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.PingFrame); return ok })
		if f == nil || !f.(*http2.PingFrame).IsAck() || f.(*http2.PingFrame).Data != data {
			t.Fatalf("server got %v, want the PING ack", f)
		}
	})
}

func TestBuildResponse(t *testing.T) {
	tests := []struct {
		name   string
		fields []hpack.HeaderField
		end    bool
		status int
		cl     int64
		bad    bool
	}{
		{name: "ok", fields: hdrs(":status", "200", "content-type", "text/plain"), status: 200, cl: -1},
		{name: "content-length", fields: hdrs(":status", "200", "content-length", "5", "content-length", "5"), status: 200, cl: 5},
		{name: "interim", fields: hdrs(":status", "103", "link", "</a>"), status: 103, cl: -1},
		{name: "conflicting content-length", fields: hdrs(":status", "200", "content-length", "5", "content-length", "6"), bad: true},
		{name: "negative content-length", fields: hdrs(":status", "200", "content-length", "-1"), bad: true},
		{name: "status 099", fields: hdrs(":status", "099"), bad: true},
		{name: "status 20x", fields: hdrs(":status", "20x"), bad: true},
		{name: "empty name", fields: hdrs(":status", "200", "", "x"), bad: true},
		{name: "keep-alive", fields: hdrs(":status", "200", "keep-alive", "5"), bad: true},
		{name: "transfer-encoding", fields: hdrs(":status", "200", "transfer-encoding", "chunked"), bad: true},
		{name: "upgrade", fields: hdrs(":status", "200", "upgrade", "h2c"), bad: true},
		{name: "proxy-connection", fields: hdrs(":status", "200", "proxy-connection", "x"), bad: true},
		{name: "space in name", fields: hdrs(":status", "200", "x a", "1"), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, reason := buildResponse(tt.fields, tt.end)
			if (reason != "") != tt.bad {
				t.Fatalf("reason %q, want bad=%v", reason, tt.bad)
			}
			if !tt.bad && (r.Status != tt.status || r.ContentLength != tt.cl) {
				t.Fatalf("got %d/%d, want %d/%d", r.Status, r.ContentLength, tt.status, tt.cl)
			}
		})
	}
}

func TestRequestField(t *testing.T) {
	tests := []struct {
		name     string
		in       hpack.HeaderField
		trailers bool
		out      string // "name: value", "" when dropped
	}{
		{name: "lowercased", in: hpack.HeaderField{Name: "X-Foo", Value: " v "}, out: "x-foo: v"},
		{name: "host dropped", in: hpack.HeaderField{Name: "Host", Value: "a"}},
		{name: "connection dropped", in: hpack.HeaderField{Name: "Connection", Value: "close"}},
		{name: "transfer-encoding dropped", in: hpack.HeaderField{Name: "transfer-encoding", Value: "chunked"}},
		{name: "te trailers kept", in: hpack.HeaderField{Name: "TE", Value: "Trailers"}, out: "te: trailers"},
		{name: "te gzip dropped", in: hpack.HeaderField{Name: "te", Value: "gzip"}},
		{name: "te in trailers dropped", in: hpack.HeaderField{Name: "te", Value: "trailers"}, trailers: true},
		{name: "pseudo dropped", in: hpack.HeaderField{Name: ":path", Value: "/x"}},
		{name: "CRLF dropped", in: hpack.HeaderField{Name: "x", Value: "a\r\nb: c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ok := requestField(tt.in, tt.trailers)
			got := ""
			if ok {
				got = g.Name + ": " + g.Value
			}
			if got != tt.out {
				t.Fatalf("got %q, want %q", got, tt.out)
			}
		})
	}
}

func FuzzBuildResponse(f *testing.F) {
	f.Add(":status\x00200\x00content-length\x005", false)
	f.Add(":status\x00103\x00link\x00</a>", true)
	f.Add("x\x00y\x00:status\x00200", false)
	f.Fuzz(func(t *testing.T, s string, end bool) {
		parts := splitNUL(s)
		var fields []hpack.HeaderField
		for i := 0; i+1 < len(parts); i += 2 {
			fields = append(fields, hpack.HeaderField{Name: parts[i], Value: parts[i+1]})
		}
		r, reason := buildResponse(fields, end)
		if reason != "" {
			return
		}
		if r.Status < 100 || r.Status > 999 || r.Status == 101 || (r.Status < 200 && end) {
			t.Fatalf("accepted status %d (end %v)", r.Status, end)
		}
		for _, f := range r.Fields {
			if checkField(f) != "" || f.Name == "te" {
				t.Fatalf("accepted field %q", f.Name)
			}
		}
	})
}

// gatedTransport serves fixed input once gate is closed, then EOF; writes
// are dropped. The gate lets streams open before the input is read.
type gatedTransport struct {
	memTransport
	gate, closed chan struct{}
	once         sync.Once
}

func (g *gatedTransport) Read(p []byte) (int, error) {
	select {
	case <-g.gate:
	case <-g.closed:
	}
	return g.memTransport.Read(p)
}

func (g *gatedTransport) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.memTransport.Close()
}

// FuzzClientConn feeds arbitrary server frames to a ClientConn with two
// streams open: it must neither panic nor hang, whatever the server sends.
func FuzzClientConn(f *testing.F) {
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	block := func(fields ...hpack.HeaderField) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, fl := range fields {
			enc.WriteField(fl)
		}
		return b.Bytes()
	}
	seed := func(write func()) {
		buf.Reset()
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		write()
		f.Add(append([]byte(nil), buf.Bytes()...))
	}
	seed(func() {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(hdrs(":status", "200", "content-length", "2")...), EndHeaders: true})
		fr.WriteData(1, true, []byte("ok"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(hdrs(":status", "100")...), EndHeaders: true})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(hdrs(":status", "200")...), EndHeaders: true})
		fr.WriteData(3, false, []byte("body"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(hdrs("x-t", "1")...), EndHeaders: true, EndStream: true})
	})
	seed(func() {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(hdrs(":status", "200")...)})
		fr.WriteContinuation(1, true, block(hdrs("x-a", "b")...))
		fr.WriteRSTStream(3, http2.ErrCodeRefusedStream)
		fr.WriteWindowUpdate(0, 100)
		fr.WriteWindowUpdate(3, 100)
		fr.WritePing(false, [8]byte{})
		fr.WriteGoAway(1, http2.ErrCodeNo, nil)
	})
	seed(func() {
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: block(hdrs(":method", "GET")...), EndHeaders: true})
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gatedTransport{memTransport: memTransport{in: bytes.NewReader(data)}, gate: make(chan struct{}), closed: make(chan struct{})}
		cc := NewClientConn(g, ClientConfig{InitialWindowSize: 65535, ConnWindowSize: 65535, MaxHeaderListSize: 4096, ZeroWindowTimeout: time.Second})
		s1, err1 := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/", EndStream: true})
		s3, err3 := cc.OpenStream(&ClientRequest{Method: "POST", Scheme: "https", Authority: "a", Path: "/"})
		if err1 != nil || err3 != nil {
			t.Fatal(err1, err3)
		}
		close(g.gate)
		go func() {
			s3.Write([]byte("request body"))
			s3.CloseWrite()
		}()
		outcome(s1)
		outcome(s3)
		<-cc.Done()
		<-s1.Done()
		<-s3.Done()
	})
}
