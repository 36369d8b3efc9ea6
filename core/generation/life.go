package generation

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/stick"
)

// Life is a generation's life in a proxy: serving, replaced, closed.
type Life struct {
	// Refs counts the connections running on the generation, plus one
	// while it is the proxy's current generation. It starts at 0 (built,
	// not serving) and once back at 0 stays there: the generation is
	// closed.
	Refs    atomic.Int64
	Current atomic.Bool // the proxy's current generation
	// Set before the generation serves, then immutable:
	L4      *L4
	Number  uint64
	Loaded  time.Time
	Flushes *Flushes // the proxy's: Shutdown waits for the tracer's last export

	mu      sync.Mutex
	onClose []func() // guarded by mu
	closed  bool     // guarded by mu
}

// Acquire takes a reference on g, unless g is closed.
func (g *Generation) Acquire() bool {
	for {
		n := g.Life.Refs.Load()
		if n <= 0 {
			return false
		}
		if g.Life.Refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference; the last one closes g.
func (g *Generation) Release() {
	if g.Life.Refs.Add(-1) == 0 {
		g.Close()
		g.runOnClose()
	}
}

// OnClose registers f to run once the generation is closed: when it has
// been replaced and its last connection has ended, or when the proxy
// stops. A plugin loaded for this generation only is closed this way. f
// runs at once when the generation is closed already.
func (g *Generation) OnClose(f func()) {
	g.Life.mu.Lock()
	if g.Life.closed {
		g.Life.mu.Unlock()
		f()
		return
	}
	g.Life.onClose = append(g.Life.onClose, f)
	g.Life.mu.Unlock()
}

func (g *Generation) runOnClose() {
	g.Life.mu.Lock()
	fs := g.Life.onClose
	g.Life.onClose, g.Life.closed = nil, true
	g.Life.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Number is the generation's sequence number in its proxy: 1 for the
// first, one more at each reload. 0 before it serves.
func (g *Generation) Number() uint64 { return g.Life.Number }

// Loaded is when the generation started serving.
func (g *Generation) Loaded() time.Time { return g.Life.Loaded }

// Connections returns the number of client connections running on g.
func (g *Generation) Connections() int64 {
	n := g.Life.Refs.Load()
	if g.Life.Current.Load() {
		n-- // the proxy's own reference
	}
	return max(n, 0)
}

// StickStore returns the store holding g's stick tables, or nil when g
// has none.
func (g *Generation) StickStore() *stick.Store {
	if g.Stick == nil {
		return nil
	}
	return g.Stick.store
}
