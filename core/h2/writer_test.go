package h2

import (
	"fmt"
	"io"
	"strconv"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// streamPattern is the body byte at offset i of the stream asking for
// seed: every stream's body differs, so frames of one stream landing in
// another's body (or out of order) show.
func streamPattern(seed, i int) byte { return byte(seed*31 + i*7 + i/251) }

// TestConn_WriterHammer: many streams of one connection write bodies in
// chunks of varied sizes at once, through send windows small enough that
// writers wait for credit and the connection buffer fills behind flushes;
// every body arrives whole, in order, on its own stream. Run with -race.
func TestConn_WriterHammer(t *testing.T) {
	tests := []struct {
		name string
		cfg  ClientConfig
	}{
		{"small windows", ClientConfig{InitialWindowSize: 65535, ConnWindowSize: 65535}},
		{"large windows", ClientConfig{InitialWindowSize: 1 << 20, ConnWindowSize: 16 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { hammerWriter(t, tt.cfg) })
	}
}

func hammerWriter(t *testing.T, cfg ClientConfig) {
	const streams, size = 32, 200_000
	ts := startServer(t, Config{}, func(s *Stream) {
		seed, _ := strconv.Atoi(s.Request().Path[1:])
		if err := s.WriteHeaders(200, []hpack.HeaderField{{Name: "content-length", Value: strconv.Itoa(size)}}, false); err != nil {
			return
		}
		body := make([]byte, size)
		for i := range body {
			body[i] = streamPattern(seed, i)
		}
		for off, k := 0, 1; off < size; k = k*3%40_000 + 1 {
			n := min(k, size-off)
			if _, err := s.Write(body[off : off+n]); err != nil {
				return
			}
			off += n
		}
		s.Close()
	}, false)
	cc := dialClientConn(t, ts.addr, false, cfg)
	concurrently(t, streams, func(seed int) error { return readPattern(cc, seed, size) })
}

// readPattern fetches /seed and checks its body is size bytes of
// streamPattern(seed, ·).
func readPattern(cc *ClientConn, seed, size int) error {
	s, err := cc.OpenStream(&ClientRequest{Method: "GET", Scheme: "http", Authority: "a", Path: "/" + strconv.Itoa(seed), EndStream: true})
	if err != nil {
		return err
	}
	if _, err := s.ReadResponse(); err != nil {
		return err
	}
	body, err := io.ReadAll(s)
	if err != nil {
		return fmt.Errorf("stream %d: %w", seed, err)
	}
	if len(body) != size {
		return fmt.Errorf("stream %d: %d bytes, want %d", seed, len(body), size)
	}
	for i, b := range body {
		if b != streamPattern(seed, i) {
			return fmt.Errorf("stream %d: byte %d is %d, want %d", seed, i, b, streamPattern(seed, i))
		}
	}
	return nil
}
