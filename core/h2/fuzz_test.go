package h2

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// memTransport serves fixed input, then EOF; writes are dropped.
type memTransport struct {
	mu     sync.Mutex
	in     *bytes.Reader
	closed bool
}

func (m *memTransport) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errors.New("closed")
	}
	return m.in.Read(p)
}

func (m *memTransport) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errors.New("closed")
	}
	return len(p), nil
}

func (m *memTransport) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// FuzzConn_Serve feeds arbitrary frames after the preface: Serve must
// neither panic nor hang, whatever the client sends.
func FuzzConn_Serve(f *testing.F) {
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	seed := func(write func()) {
		buf.Reset()
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		write()
		f.Add(append([]byte(nil), buf.Bytes()...))
	}
	block := func(fields ...hpack.HeaderField) []byte {
		var b bytes.Buffer
		e := hpack.NewEncoder(&b)
		for _, fl := range fields {
			e.WriteField(fl)
		}
		return b.Bytes()
	}
	req := block(get("/x", hf("content-length", "3")...)...)
	seed(func() {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req, EndHeaders: true})
		fr.WriteData(1, true, []byte("abc"))
	})
	seed(func() {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req[:3]})
		fr.WriteContinuation(1, true, req[3:])
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteWindowUpdate(0, 100)
		fr.WritePing(false, [8]byte{1})
	})
	f.Fuzz(func(t *testing.T, frames []byte) {
		in := append([]byte(Preface), frames...)
		c := NewConn(&memTransport{in: bytes.NewReader(in)}, nil, Config{}, func(s *Stream) {
			io.Copy(io.Discard, s)
			s.WriteHeaders(200, nil, false)
			s.Write([]byte("ok"))
			s.Close()
		})
		c.Serve()
	})
}
