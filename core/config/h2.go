package config

import (
	"math"
	"time"
)

// FrontendH2 is `frontends.NAME.h2`: how the frontend serves HTTP/2. Over
// TLS a client gets HTTP/2 when the frontend's tls.alpn offers h2; in
// clear, only when Cleartext is on. Zero values leave the engine's
// defaults (core/h2), each of which bounds a known attack.
type FrontendH2 struct {
	Path string
	// Cleartext serves HTTP/2 with prior knowledge (h2c) on the
	// frontend's plain binds: a connection that opens with the HTTP/2
	// preface is HTTP/2, any other is HTTP/1.1 (`h2c`; default false).
	Cleartext bool
	// MaxConcurrentStreams bounds the streams a client may have open on
	// one connection (`max_concurrent_streams`; default 100).
	MaxConcurrentStreams int
	// InitialWindowSize is the receive window of each stream
	// (`initial_window_size`; default 256k), ConnWindowSize the one of the
	// connection (`connection_window_size`; default 1m). Together they
	// bound the request body a client may have buffered in strata.
	InitialWindowSize int64
	ConnWindowSize    int64
	// MaxHeaderListSize bounds a request's header list, decoded, and its
	// compressed header block (`max_header_list_size`; default 64k):
	// HPACK bombs and CONTINUATION floods end there.
	MaxHeaderListSize int64
	// MaxResets is how many streams a client may reset (or have reset by
	// strata for a protocol error) in 10 s before strata ends the connection with ENHANCE_YOUR_CALM
	// (`max_resets`; the rapid reset attack, CVE-2023-44487).
	MaxResets int
	// MaxControlFrames is how many SETTINGS, PING, PRIORITY and empty
	// DATA frames a client may send in 10 s (`max_control_frames`).
	MaxControlFrames int
	// ZeroWindowTimeout is how long a client may keep a response stalled
	// with a zero flow-control window (`zero_window_timeout`; default 30s).
	ZeroWindowTimeout time.Duration
}

func (d *decoder) frontendH2(o *object, mode Mode) *FrontendH2 {
	v, p := o.get("h2")
	if v == nil {
		return nil
	}
	if _, ok := v.(map[string]any); !ok {
		d.errorf(p, "write a mapping such as { h2c: true, max_concurrent_streams: 100 }", "expected a mapping, got %s", describe(v))
		return nil
	}
	if mode == ModeTCP {
		d.errorf(p, "set mode: http or remove h2 (a TCP frontend does not parse HTTP)", "h2 in a TCP frontend")
		return nil
	}
	c := d.object(p, v)
	h := &FrontendH2{Path: p}
	h.Cleartext = c.boolean("h2c", false)
	h.MaxConcurrentStreams = c.integer("max_concurrent_streams", 0, 1, 1<<20)
	h.InitialWindowSize = c.size("initial_window_size", 0, 65535, math.MaxInt32)
	h.ConnWindowSize = c.size("connection_window_size", 0, 65535, math.MaxInt32)
	h.MaxHeaderListSize = c.size("max_header_list_size", 0, 4<<10, 16<<20)
	h.MaxResets = c.integer("max_resets", 0, 1, math.MaxInt32)
	h.MaxControlFrames = c.integer("max_control_frames", 0, 1, math.MaxInt32)
	h.ZeroWindowTimeout, _ = c.duration("zero_window_timeout", 0, time.Second)
	c.done()
	return h
}
