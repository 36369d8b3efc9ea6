//go:build linux

package h2

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-proxy/strata/core/transport/park"
)

// parkAfterTest is the park delay of these tests.
const parkAfterTest = 20 * time.Millisecond

// parkedServer is a Conn with a Parker on a TCP connection of 127.0.0.1,
// parked on a watcher of its own as strata's client connections are:
// Serve, then Resume each time the watcher wakes it.
type parkedServer struct {
	c      *Conn
	nc     *net.TCPConn
	w      *park.Watcher
	slot   park.Slot
	parks  atomic.Int32 // times Serve or Resume returned ErrParked
	parked atomic.Bool  // on the watcher now
	wakes  atomic.Int32 // calls of Wake
	done   chan error   // the final result of Serve or Resume
}

// ReadIdle reads with a read deadline timeout away.
func (ps *parkedServer) ReadIdle(p []byte, timeout time.Duration) (int, error) {
	ps.nc.SetReadDeadline(time.Now().Add(timeout))
	n, err := ps.nc.Read(p)
	ps.nc.SetReadDeadline(time.Time{})
	return n, err
}

func (ps *parkedServer) Quiet() bool { return true } // plain TCP: nothing above the socket

func (ps *parkedServer) Wake() {
	ps.wakes.Add(1)
	ps.w.Wake(&ps.slot, nil)
}

// run serves, parking the connection on the watcher whenever the serve
// loop returns ErrParked.
func (ps *parkedServer) run(err error) {
	if err != ErrParked {
		ps.done <- err
		return
	}
	ps.parks.Add(1)
	rc, rerr := ps.nc.SyscallConn()
	if rerr == nil {
		ps.parked.Store(true)
		rerr = ps.w.Park(&ps.slot, rc, time.Time{}, func(error) {
			ps.parked.Store(false)
			ps.run(ps.c.Resume())
		})
	}
	if rerr != nil {
		ps.done <- rerr
		return
	}
	if ps.c.Closing() {
		ps.w.Wake(&ps.slot, nil) // the end was decided before the park
	}
}

// startParkedServer serves with h the one connection a rawClient of the
// test makes to a listener of 127.0.0.1.
func startParkedServer(t *testing.T, h Handler) (*parkedServer, *rawClient) {
	t.Helper()
	w, err := park.New()
	if err != nil {
		t.Skipf("no watcher: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc := dialRaw(t, ln.Addr().String())
	nc, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	ps := &parkedServer{nc: nc, w: w, done: make(chan error, 1)}
	ps.c = NewConn(nc, nil, Config{IdleTimeout: time.Minute}, h)
	ps.c.SetParker(ps, parkAfterTest)
	go ps.run(ps.c.Serve())
	return ps, rc
}

// waitParked waits until the connection has parked more than after
// times and is parked, and returns how many times it has parked. (It may
// park before the client's first request too, when that request is slow
// to come on a busy machine.)
func (ps *parkedServer) waitParked(t *testing.T, after int32) int32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ps.parks.Load() <= after || !ps.parked.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("parked %d times, want more than %d", ps.parks.Load(), after)
		}
		time.Sleep(time.Millisecond)
	}
	return ps.parks.Load()
}

// get sends a GET on stream id with the extra fields and returns the
// response fields (decoded with dec, the client's table), the header block
// sent and the body.
func (rc *rawClient) get(dec *hpack.Decoder, id uint32, extra ...hpack.HeaderField) (fields []hpack.HeaderField, sent []byte, body string) {
	rc.t.Helper()
	sent = rc.block(append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "x"}, {Name: ":path", Value: "/"}}, extra...))
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: sent, EndStream: true, EndHeaders: true}); err != nil {
		rc.t.Fatal(err)
	}
	for {
		switch f := rc.next(func(http2.Frame) bool { return true }).(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				rc.fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			hf, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				rc.t.Fatalf("stream %d: response block: %v", id, err)
			}
			fields = append(fields, hf...)
		case *http2.DataFrame:
			body += string(f.Data())
			if f.StreamEnded() {
				return fields, sent, body
			}
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			rc.t.Fatalf("stream %d: %v", id, f)
		}
	}
}

// fieldHandler answers with the value of the request's x-mark field in a
// response field and as the body.
func fieldHandler(s *Stream) {
	var mark string
	for _, f := range s.Request().Fields {
		if f.Name == "x-mark" {
			mark = f.Value
		}
	}
	if err := s.WriteHeaders(200, []hpack.HeaderField{{Name: "x-mark-seen", Value: mark}}, false); err != nil {
		s.Reset(http2.ErrCodeInternal)
		return
	}
	s.Write([]byte(mark))
	s.Close()
}

// TestConn_ParkResume: a connection with no stream parks (Serve returns
// ErrParked); a request on it resumes the serve loop with both HPACK
// tables intact (a field indexed by the first request, sent as an index
// by the second, is decoded; the response's indexed field too); PING and
// SETTINGS are answered from the parked state, after which it parks
// again; Shutdown while parked wakes it, GOAWAY goes out and the
// connection ends when the client closes.
func TestConn_ParkResume(t *testing.T) {
	ps, rc := startParkedServer(t, fieldHandler)
	dec := hpack.NewDecoder(4096, nil)
	mark := hpack.HeaderField{Name: "x-mark", Value: "indexed-once"}

	check := func(id uint32, wantIndexed bool) {
		t.Helper()
		fields, sent, body := rc.get(dec, id, mark)
		if body != mark.Value {
			t.Fatalf("stream %d: the handler saw x-mark %q", id, body)
		}
		// A block that refers to the dynamic table cannot be decoded
		// without it.
		_, err := hpack.NewDecoder(4096, nil).DecodeFull(sent)
		if indexed := err != nil; indexed != wantIndexed {
			t.Fatalf("stream %d: block refers to the dynamic table %v, want %v", id, indexed, wantIndexed)
		}
		seen := ""
		for _, f := range fields {
			if f.Name == "x-mark-seen" {
				seen = f.Value
			}
		}
		if seen != mark.Value {
			t.Fatalf("stream %d: response x-mark-seen %q", id, seen)
		}
	}
	check(1, false)
	n := ps.waitParked(t, 0)
	check(3, true) // decoded from the table the parked Conn kept
	n = ps.waitParked(t, n)

	if err := rc.fr.WritePing(false, [8]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	var pinged, acked bool
	for !pinged || !acked {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for the PING and SETTINGS acks: %v", err)
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			pinged = f.IsAck() && f.Data == [8]byte{1, 2, 3}
		case *http2.SettingsFrame:
			acked = acked || f.IsAck()
		}
	}
	ps.waitParked(t, n)

	ps.c.Shutdown()
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 3 {
				t.Fatalf("GOAWAY %v last stream %d, want NO_ERROR 3", g.ErrCode, g.LastStreamID)
			}
			break
		}
	}
	if ps.wakes.Load() == 0 {
		t.Fatal("Shutdown did not wake the parked connection")
	}
	rc.nc.Close()
	select {
	case err := <-ps.done:
		if err != nil {
			t.Fatalf("the connection ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end after GOAWAY and the client's close")
	}
}

// TestConn_CloseWhileParked: Close of a parked connection wakes it before
// the transport closes, and the serve loop ends with ErrConnClosed.
func TestConn_CloseWhileParked(t *testing.T) {
	ps, rc := startParkedServer(t, fieldHandler)
	rc.get(hpack.NewDecoder(4096, nil), 1)
	ps.waitParked(t, 0)
	ps.c.Close()
	select {
	case err := <-ps.done:
		if !errors.Is(err, ErrConnClosed) {
			t.Fatalf("the connection ended with %v, want ErrConnClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parked connection was not woken by Close")
	}
}

// TestConn_NoParkWithOpenStream: a parked connection woken by a request
// whose handler waits does not park again while the stream is open,
// however long the client is silent; once the stream ends it parks.
func TestConn_NoParkWithOpenStream(t *testing.T) {
	release := make(chan struct{})
	ps, rc := startParkedServer(t, func(s *Stream) {
		if s.ID() == 3 {
			<-release
		}
		fieldHandler(s)
	})
	dec := hpack.NewDecoder(4096, nil)
	rc.get(dec, 1)
	before := ps.waitParked(t, 0)
	var parksWhileOpen atomic.Int32
	go func() {
		time.Sleep(10 * parkAfterTest) // the client is silent meanwhile
		parksWhileOpen.Store(ps.parks.Load())
		close(release)
	}()
	if _, _, body := rc.get(dec, 3, hpack.HeaderField{Name: "x-mark", Value: "late"}); body != "late" {
		t.Fatalf("body %q", body)
	}
	if n := parksWhileOpen.Load(); n != before {
		t.Fatalf("parked %d times while the stream was open", n-before)
	}
	ps.waitParked(t, before)
}
