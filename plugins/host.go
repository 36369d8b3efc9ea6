package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
)

// StickCounters updates stick-counter entries for plugins. The stick-table
// subsystem implements it; reads go through the sample engine
// (sc<N>_<datum>) so that plugins see what rules see. A method returns
// false when slot tracks nothing in ctx.
type StickCounters interface {
	AddGPC(ctx *fetch.Ctx, slot, index int, delta int64) (int64, bool)
	SetGPT(ctx *fetch.Ctx, slot, index int, v int64) bool
}

// HostOptions configure a Host. Only Samples is required.
type HostOptions struct {
	// Logger receives the host's messages and the plugins' log lines and
	// stdout/stderr, with attribute plugin=NAME (default slog.Default()).
	Logger *slog.Logger
	// CacheDir holds compiled modules across restarts; "" keeps them in
	// memory only.
	CacheDir string
	// Samples is the registry plugins evaluate expressions against
	// (sample_eval, sc_get): the same one the rules use.
	Samples *fetch.Registry
	// Counters backs sc_gpc_add and sc_gpt_set (nil: ErrUnsupported).
	Counters StickCounters
	// Body returns the buffered request bytes of a stream for
	// req_body_read (default: Stream.Content).
	Body func(ctx *fetch.Ctx) ([]byte, bool)
	// OnFailClosed is called when a fetch, converter, target or service
	// call fails under on_error fail_closed: the engine ends the stream
	// (500, or reject in TCP) with session.CausePlugin. Actions need no
	// hook: they return the refusing verdict themselves.
	OnFailClosed func(ctx *fetch.Ctx, p *Plugin, err error)
	// LogRate and LogBurst limit the log lines of one plugin (guest log
	// calls and stdout/stderr lines together); defaults 20/s and 100.
	LogRate  float64
	LogBurst int
	// Flavours are the ABIs served besides strata_v1 (Proxy-Wasm): a
	// module one of them claims is loaded as a flavoured plugin.
	Flavours []Flavour
}

// Host runs plugins: it owns the compilation cache shared by every plugin's
// runtime. It is safe for concurrent use; Close it last.
type Host struct {
	// Immutable after NewHost:
	opts   HostOptions
	log    *slog.Logger
	cache  wazero.CompilationCache
	epoch  time.Time
	procs  int
	closed chan struct{}

	mu      sync.Mutex
	plugins map[*Plugin]struct{} // guarded by mu
}

// NewHost returns a host. A CacheDir that cannot be created is an error.
func NewHost(opts HostOptions) (*Host, error) {
	if opts.Samples == nil {
		return nil, fmt.Errorf("%w: HostOptions.Samples is required", ErrConfig)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LogRate <= 0 {
		opts.LogRate = 20
	}
	if opts.LogBurst <= 0 {
		opts.LogBurst = 100
	}
	h := &Host{opts: opts, log: opts.Logger, epoch: time.Now(), procs: runtime.GOMAXPROCS(0),
		closed: make(chan struct{}), plugins: map[*Plugin]struct{}{}}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugins: compilation cache %s: %w", opts.CacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	return h, nil
}

// Close closes every plugin still loaded and the compilation cache.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	ps := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	for _, p := range ps {
		p.Close(ctx)
	}
	return h.cache.Close(ctx)
}

// Plugins returns the plugins loaded and not closed.
func (h *Host) Plugins() []*Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		ps = append(ps, p)
	}
	return ps
}

// Versions lists the ABI majors this host serves.
func (h *Host) Versions() []int { return []int{abi.Version} }

func (h *Host) body(ctx *fetch.Ctx) ([]byte, bool) {
	if h.opts.Body != nil {
		return h.opts.Body(ctx)
	}
	if ctx.Strm == nil {
		return nil, false
	}
	return ctx.Strm.Content, true
}

// monotonic returns nanoseconds since the host started.
func (h *Host) monotonic() int64 { return int64(time.Since(h.epoch)) }

// streamID returns the id logged with a guest line.
func streamID(ctx *fetch.Ctx) uint64 {
	if ctx == nil || ctx.Strm == nil {
		return 0
	}
	return ctx.Strm.ID
}
