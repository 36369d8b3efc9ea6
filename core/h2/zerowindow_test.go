package h2

import (
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Zero send windows (RFC 9113 §6.9), the same rules on both sides: an
// empty DATA frame with END_STREAM needs no window; a window left at zero
// for ZeroWindowTimeout ends what it stalls. (TestConn_ZeroWindow and
// TestClientConn_RawFlows/zero_window check the stream window's reset.)

func isEmptyEnd(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == id && d.StreamEnded() && len(d.Data()) == 0
	}
}

func TestZeroWindow_EndStreamNeedsNoWindow(t *testing.T) {
	zero := http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "server ends its response", run: func(t *testing.T) {
			closed := make(chan error, 1)
			ts := startServer(t, Config{ZeroWindowTimeout: time.Hour}, func(s *Stream) {
				err := s.WriteHeaders(200, nil, false)
				if err == nil {
					err = s.Close()
				}
				closed <- err
			}, false)
			rc := dialRaw(t, ts.addr, zero)
			rc.headers(1, get("/"), true)
			rc.next(isEmptyEnd(1))
			if err := <-closed; err != nil {
				t.Fatalf("Close on a zero window: %v", err)
			}
		}},
		{name: "client ends its request", run: func(t *testing.T) {
			cc, rs := dialRawServer(t, ClientConfig{ZeroWindowTimeout: time.Hour}, zero)
			rs.next(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
			s, id := rs.request(cc, false)
			if err := s.CloseWrite(); err != nil {
				t.Fatalf("CloseWrite on a zero window: %v", err)
			}
			if rs.next(isEmptyEnd(id)) == nil {
				t.Fatal("connection ended before the empty DATA with END_STREAM")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestClientConn_ZeroConnWindow: a server that keeps the connection
// window at zero gets the waiting stream reset (CANCEL) and the connection
// drained: GOAWAY(NO_ERROR), no new stream, while a stream receiving its
// response still finishes. (The server side ends the connection instead:
// TestConn_ZeroWindow.)
func TestClientConn_ZeroConnWindow(t *testing.T) {
	cc, rs := dialRawServer(t, ClientConfig{ZeroWindowTimeout: 50 * time.Millisecond},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	rs.next(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
	get, getID := rs.request(cc, true)
	post, postID := rs.request(cc, false)

	if _, err := post.Write(make([]byte, 100_000)); !errors.Is(err, ErrZeroWindow) {
		t.Fatalf("Write beyond the connection window: %v, want ErrZeroWindow", err)
	}
	sent := 0
	f := rs.next(func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok {
			sent += len(d.Data())
		}
		return isRST(postID)(f)
	})
	if f == nil || f.(*http2.RSTStreamFrame).ErrCode != http2.ErrCodeCancel {
		t.Fatalf("server got %v, want RST_STREAM CANCEL on %d", f, postID)
	}
	if sent != 65535 {
		t.Fatalf("%d bytes of DATA sent, want the connection window of 65535", sent)
	}
	f = rs.next(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	if f == nil || f.(*http2.GoAwayFrame).ErrCode != http2.ErrCodeNo {
		t.Fatalf("server got %v, want GOAWAY NO_ERROR", f)
	}
	if cc.CanTakeNewStream() {
		t.Fatal("CanTakeNewStream after the connection window stalled")
	}
	if _, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "https", Authority: "a", Path: "/", EndStream: true}); !errors.Is(err, ErrRetryable) {
		t.Fatalf("OpenStream on a stalled connection: %v, want ErrRetryable", err)
	}

	rs.headers(getID, hdrs(":status", "200"), false)
	rs.fr.WriteData(getID, true, []byte("still served"))
	if r, err := get.ReadResponse(); err != nil || r.Status != 200 {
		t.Fatalf("response on the other stream: %v, %v", r, err)
	}
	if body, err := io.ReadAll(get); err != nil || string(body) != "still served" {
		t.Fatalf("body on the other stream: %q, %v", body, err)
	}
	<-cc.Done() // drained: closed once its last stream ended
	if err := cc.Err(); err != nil {
		t.Fatalf("Err = %v, want a graceful end", err)
	}
}
