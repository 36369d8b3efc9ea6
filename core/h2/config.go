package h2

import "time"

// Defaults, each bounding one cost a client can impose.
const (
	// 100 is the floor RFC 9113 §6.5.2 recommends and what browsers expect;
	// it bounds handler goroutines (and backend requests) per connection.
	DefaultMaxConcurrentStreams = 100
	// 256 KiB per stream lets one stream fill a ~20 Mbit/s × 100 ms path
	// while bounding what a handler that stops reading keeps buffered.
	DefaultInitialWindowSize = 256 << 10
	// 1 MiB per connection bounds the request-body bytes buffered for all
	// streams of one connection together.
	DefaultConnWindowSize = 1 << 20
	// 16 KiB is the protocol minimum and what the read buffer is sized for.
	DefaultMaxFrameSize = 16 << 10
	// 64 KiB of decoded fields (RFC 9113 §6.5.2: name+value+32 each) is
	// four times what browsers send in practice; it bounds the memory of
	// one header block (HPACK bomb) and of CONTINUATION accumulation.
	DefaultMaxHeaderListSize = 64 << 10
	// 200 resets per 10 s: a browser navigating away cancels at most a
	// page's worth of streams (tens) at once, whereas a rapid-reset attack
	// (CVE-2023-44487) needs thousands per second to hurt; 20/s on average
	// makes the attack cost the client one connection per 200 requests.
	DefaultMaxResets   = 200
	DefaultResetWindow = 10 * time.Second
	// 1000 control frames per 10 s: keep-alive PINGs, a handful of
	// SETTINGS and PRIORITY per page load stay far below; floods that make
	// the server write (PING, SETTINGS: CVE-2019-9512/9515) or spin
	// (empty DATA, PRIORITY, unknown frames: CVE-2019-9513/9518) do not.
	DefaultMaxControlFrames = 1000
	DefaultControlWindow    = 10 * time.Second
	// 30 s with a window stuck at zero: long enough for a slow reader on a
	// bad network, short enough that a client cannot pin a handler (and its
	// backend connection) forever by never sending WINDOW_UPDATE.
	DefaultZeroWindowTimeout = 30 * time.Second
)

// handlerSlack is how many handler goroutines may run beyond
// MaxConcurrentStreams: streams the client sees as closed (it reset them, or
// the response is complete) whose handler has not returned yet. While the
// slack is used up, a new stream is accepted but its handler waits for one
// to return, which is what bounds goroutines under rapid reset. Small and
// constant, as goroutines must stay bounded.
const handlerSlack = 16

// Config holds a connection's limits. Zero values mean the default.
type Config struct {
	// MaxConcurrentStreams is advertised in SETTINGS and enforced on open
	// and half-closed streams (RFC 9113 §5.1.2): HEADERS beyond it get
	// RST_STREAM(REFUSED_STREAM), counted as a control frame (the client
	// ignored the limit), not toward MaxResets. Default 100. With
	// handlerSlack, bounds handler goroutines per connection.
	MaxConcurrentStreams uint32
	// InitialWindowSize is the per-stream receive window advertised
	// (default 256 KiB, at least 65535). Bounds request-body bytes buffered
	// per stream when the handler does not read.
	InitialWindowSize uint32
	// ConnWindowSize is the connection receive window (default 1 MiB, at
	// least 65535). Bounds request-body bytes buffered per connection.
	ConnWindowSize uint32
	// MaxFrameSize is the largest frame accepted (default 16384, the
	// minimum; at most 2^24-1). Bounds the read buffer.
	MaxFrameSize uint32
	// MaxHeaderListSize bounds the decoded size of a header block (RFC 9113
	// §6.5.2: name+value+32 per field) and its compressed size, CONTINUATION
	// frames included. Default 64 KiB. Bounds HPACK bombs and CONTINUATION
	// floods: beyond it the connection ends with GOAWAY(ENHANCE_YOUR_CALM).
	MaxHeaderListSize uint32
	// MaxResets is how many client RST_STREAMs, plus streams this side
	// reset for protocol errors, are tolerated per ResetWindow
	// before GOAWAY(ENHANCE_YOUR_CALM). Default 200 per 10 s. Bounds rapid
	// reset (CVE-2023-44487).
	MaxResets   int
	ResetWindow time.Duration
	// MaxControlFrames is how many SETTINGS, PING, PRIORITY, PRIORITY_UPDATE,
	// unknown-type frames, empty DATA frames without END_STREAM, frames on
	// streams already closed (ignored or answered by RST_STREAM) and
	// streams opened beyond MaxConcurrentStreams (refused) are
	// tolerated per ControlWindow before GOAWAY(ENHANCE_YOUR_CALM). Default
	// 1000 per 10 s. Bounds control-frame floods (CVE-2019-9512/9513/9515/
	// 9518). WINDOW_UPDATE on live streams is not counted: a client
	// downloading a large body legitimately sends many.
	MaxControlFrames int
	ControlWindow    time.Duration
	// IdleTimeout: with no open stream and no frame received for this long,
	// send GOAWAY(NO_ERROR) and close. Default 0: never (the engine handles
	// idle connections).
	IdleTimeout time.Duration
	// ZeroWindowTimeout: a Write blocked this long because the client keeps
	// the stream's send window at zero resets the stream (CANCEL); when the
	// connection window is the one at zero, the connection ends
	// (GOAWAY ENHANCE_YOUR_CALM). Default 30 s. Bounds how long a client can
	// pin a handler by never reading.
	ZeroWindowTimeout time.Duration
	// OnProtocolError, when set, is told of each stream or connection error
	// (a *ProtocolError), for counting. Called from the connection's
	// goroutines: it must not block.
	OnProtocolError func(err error)
}

// withDefaults returns cfg with zero fields set to their default and out of
// range ones clamped.
func (cfg Config) withDefaults() Config {
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if cfg.InitialWindowSize == 0 {
		cfg.InitialWindowSize = DefaultInitialWindowSize
	}
	// Below 65535 the client could legally send more than advertised before
	// it sees our SETTINGS; raising the floor keeps one accounting rule.
	cfg.InitialWindowSize = clampU32(cfg.InitialWindowSize, 65535, 1<<31-1)
	if cfg.ConnWindowSize == 0 {
		cfg.ConnWindowSize = DefaultConnWindowSize
	}
	cfg.ConnWindowSize = clampU32(cfg.ConnWindowSize, 65535, 1<<31-1)
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	cfg.MaxFrameSize = clampU32(cfg.MaxFrameSize, 1<<14, 1<<24-1)
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if cfg.MaxResets <= 0 {
		cfg.MaxResets = DefaultMaxResets
	}
	if cfg.ResetWindow <= 0 {
		cfg.ResetWindow = DefaultResetWindow
	}
	if cfg.MaxControlFrames <= 0 {
		cfg.MaxControlFrames = DefaultMaxControlFrames
	}
	if cfg.ControlWindow <= 0 {
		cfg.ControlWindow = DefaultControlWindow
	}
	if cfg.ZeroWindowTimeout <= 0 {
		cfg.ZeroWindowTimeout = DefaultZeroWindowTimeout
	}
	return cfg
}

func clampU32(v, lo, hi uint32) uint32 {
	return min(max(v, lo), hi)
}

// rateCounter counts events in fixed windows. A fixed window lets a client
// burst up to twice the limit across a window boundary, which is fine for a
// limit meant to catch floods, and costs one clock read per event.
// Owned by the serve loop.
type rateCounter struct {
	start time.Time
	n     int
}

// add counts one event and reports whether the limit is now exceeded.
func (r *rateCounter) add(now time.Time, limit int, window time.Duration) bool {
	if now.Sub(r.start) > window {
		r.start, r.n = now, 0
	}
	r.n++
	return r.n > limit
}
