package proxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/handover"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
)

// Configuration reload: swapping generations in a running proxy.
//
// This file does the swap; the command (cmd/strata's reload.go) decides
// when, and its composition root (cmd/strata/internal/assemble) builds
// the generation with its plugins: cmd/strata's package doc lays out the
// whole path.
//
// Reload builds the new generation, prepares it completely, then swaps it
// in; any failure before the swap changes nothing and is returned whole
// (config.Errors lists every configuration error with its path):
//
//  1. Build: rules, backends, stick tables (a table whose definition is
//     unchanged is the running one, entries and counters included: the
//     proxy's stick.Store is passed along), and whatever the caller adds
//     through BuildOptions (plugin fetches, actions, services, targets).
//  2. L4: certificates and TLS settings (buildL4).
//  3. Listeners: an address that the new configuration still binds keeps
//     its socket, so no connection is refused (an address with port 0
//     keeps its socket only in the same frontend); new addresses are
//     bound now — a bind failure aborts the reload.
//  4. Servers that stay (same backend, same name, same address) carry
//     their run-time state over: health and check counters always; the
//     operator state and the weight when the runtime API changed them
//     (they differ from what the previous configuration said), so a
//     reload does not undo an operator's choice.
//  5. Swap: the generation starts (health checks, its stick tables become
//     the store's current set), becomes the one new connections get, and
//     every kept listener hands new connections to it. Listeners whose
//     address the new configuration dropped close; the connections they
//     accepted carry on.
//
// Generations and connections. A connection holds a reference on the
// generation it runs on; the proxy holds one on the current generation.
// A generation that has been replaced is closed (health checks stopped,
// idle server connections closed, OnClose functions run: plugins of that
// generation) when its last reference goes.
//
// Keep-alive connections move to the new generation at their next request:
// the stream in progress always finishes on the generation it started on,
// and the next one starts on the current generation. Unlike HAProxy, whose
// old process serves its keep-alive connections until they close, a
// reload therefore takes effect on every HTTP connection at its next
// request, and an old generation does not outlive its last stream by a
// keep-alive timeout. A connection stays where it is (until it closes, as
// in HAProxy) when moving it would change what the session already set
// up: its frontend is gone or changed mode, its TLS or PROXY-protocol
// setting changed, or its session tracks stick-table entries that the new
// generation cannot hold (a table dropped or redefined, another number of
// tracker slots). TCP-mode connections keep their generation: they have
// one stream.
//
// Run-time counters of frontends, backends and servers (stats) start from
// zero in a new generation, as HAProxy's do after a reload; stick tables
// are the counters that carry over.

// Errors of reloads.
var (
	// ErrStopping is returned by Reload once the proxy is stopping.
	ErrStopping = errors.New("proxy: stopping")
)

// binding is what a listener gives the connections it accepts. Immutable.
type binding struct {
	g  *Generation
	fe *Frontend
	l4 *l4Frontend
}

// acquire returns the listener's binding with a reference taken on its
// generation. A reload replaces the binding before it drops the replaced
// generation's reference, so the loop ends at once.
func (l *listener) acquire() *binding {
	for {
		b := l.bind.Load()
		if b.g.acquire() {
			return b
		}
	}
}

// genLife is a generation's life in a proxy: serving, replaced, closed.
type genLife struct {
	// refs counts the connections running on the generation, plus one
	// while it is the proxy's current generation. It starts at 0 (built,
	// not serving) and once back at 0 stays there: the generation is
	// closed.
	refs    atomic.Int64
	current atomic.Bool // the proxy's current generation
	// Set before the generation serves, then immutable:
	l4      *l4Gen
	number  uint64
	loaded  time.Time
	flushes *flushes // the proxy's: Shutdown waits for the tracer's last export

	mu      sync.Mutex
	onClose []func() // guarded by mu
	closed  bool     // guarded by mu
}

// acquire takes a reference on g, unless g is closed.
func (g *Generation) acquire() bool {
	for {
		n := g.life.refs.Load()
		if n <= 0 {
			return false
		}
		if g.life.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes g.
func (g *Generation) release() {
	if g.life.refs.Add(-1) == 0 {
		g.Close()
		g.runOnClose()
	}
}

// OnClose registers f to run once the generation is closed: when it has
// been replaced and its last connection has ended, or when the proxy
// stops. A plugin loaded for this generation only is closed this way. f
// runs at once when the generation is closed already.
func (g *Generation) OnClose(f func()) {
	g.life.mu.Lock()
	if g.life.closed {
		g.life.mu.Unlock()
		f()
		return
	}
	g.life.onClose = append(g.life.onClose, f)
	g.life.mu.Unlock()
}

func (g *Generation) runOnClose() {
	g.life.mu.Lock()
	fs := g.life.onClose
	g.life.onClose, g.life.closed = nil, true
	g.life.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Number is the generation's sequence number in its proxy: 1 for the
// first, one more at each reload. 0 before it serves.
func (g *Generation) Number() uint64 { return g.life.number }

// Loaded is when the generation started serving.
func (g *Generation) Loaded() time.Time { return g.life.loaded }

// Connections returns the number of client connections running on g.
func (g *Generation) Connections() int64 {
	n := g.life.refs.Load()
	if g.life.current.Load() {
		n-- // the proxy's own reference
	}
	return max(n, 0)
}

// StickStore returns the store holding g's stick tables, or nil when g
// has none.
func (g *Generation) StickStore() *stick.Store {
	if g.stick == nil {
		return nil
	}
	return g.stick.store
}

// reloadState is the proxy's reload bookkeeping.
type reloadState struct {
	mu    sync.Mutex   // serialises reloads
	store *stick.Store // the stick tables across generations; guarded by mu
	seq   uint64       // generation numbers; guarded by mu

	// inherited are sockets handed over by the process this one replaces
	// (upgrade.go), by configured address; taken by Start. It has its own
	// lock (a leaf: nothing is locked while it is held).
	inherited handover.Sockets

	status atomic.Pointer[ReloadStatus]
	linger atomic.Int64 // time.Duration: Shutdown's linger for idle connections (upgrade.go)
}

// ReloadStatus is the outcome of the reloads so far, for the runtime API.
type ReloadStatus struct {
	Generation  uint64    `json:"generation"`
	LoadedAt    time.Time `json:"loaded_at"`
	Reloads     int64     `json:"reloads"`
	Failures    int64     `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// adopt makes g the proxy's first generation.
func (p *Proxy) adopt(g *Generation) {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	p.rl.store = g.StickStore()
	if p.rl.store == nil {
		p.rl.store = stick.NewStore()
	}
	p.rl.seq++
	g.life.number = p.rl.seq
	g.life.loaded = time.Now()
	g.life.flushes = &p.flushes
	g.life.refs.Store(1)
	g.life.current.Store(true)
	g.setOwner(p)
	p.gen.Store(g)
	p.rl.status.Store(&ReloadStatus{Generation: g.life.number, LoadedAt: g.life.loaded})
}

// ReloadStatus returns the outcome of the reloads so far.
func (p *Proxy) ReloadStatus() ReloadStatus { return *p.rl.status.Load() }

// Reload builds a generation from cfg and opt and swaps it in (see the top
// of this file). opt.Stick is the proxy's store when left nil, and
// opt.Logger the proxy's logger. On failure nothing changes and the error
// says why: a *config.Errors for configuration errors, each with its path.
// Reloads are serialised.
func (p *Proxy) Reload(cfg *config.Config, opt BuildOptions) (*Generation, error) {
	return p.ReloadWith(func(store *stick.Store) (*Generation, error) {
		if opt.Stick == nil {
			opt.Stick = store
		}
		if opt.Logger == nil {
			opt.Logger = p.log
		}
		return Build(cfg, opt)
	})
}

// ReloadWith is Reload for callers that build the generation themselves
// (with plugins loaded for it, say): build is called with the proxy's
// stick store, which it must pass in BuildOptions.Stick, while reloads are
// serialised, so that no other generation is committed in between.
func (p *Proxy) ReloadWith(build func(store *stick.Store) (*Generation, error)) (*Generation, error) {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	g, err := p.reloadLocked(build)
	st := *p.rl.status.Load()
	if err != nil {
		st.Failures++
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
		p.log.Error("reload failed: the running configuration stays", "generation", st.Generation, "error", err)
	} else {
		st.Reloads++
		st.Generation, st.LoadedAt = g.life.number, g.life.loaded
		p.log.Info("reloaded", "generation", g.life.number, "frontends", len(g.Frontends), "backends", len(g.Backends))
	}
	p.rl.status.Store(&st)
	return g, err
}

func (p *Proxy) reloadLocked(build func(*stick.Store) (*Generation, error)) (*Generation, error) {
	if p.draining.Load() {
		return nil, ErrStopping
	}
	g, err := build(p.rl.store)
	if err != nil {
		return nil, err
	}
	if st := g.StickStore(); st != nil && st != p.rl.store {
		g.Close()
		return nil, errors.New("proxy: the generation was built with another stick store than the proxy's")
	}
	l4, err := buildL4(g, p.log)
	if err != nil {
		g.Close()
		return nil, err
	}

	// Listeners: keep those whose address stays, bind the new ones.
	p.mu.Lock()
	old := map[string][]*listener{}
	for _, l := range p.listeners {
		old[l.addr] = append(old[l.addr], l)
	}
	p.mu.Unlock()
	type bindPlan struct {
		l  *listener
		fe *Frontend
	}
	var plan []bindPlan
	var opened []*listener
	kept := map[*listener]bool{}
	for _, fe := range g.Frontends {
		for _, addr := range fe.Binds {
			if l := reusable(old[addr], kept, fe.Name); l != nil {
				kept[l] = true
				plan = append(plan, bindPlan{l, fe})
				continue
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				for _, l := range opened {
					l.close()
				}
				g.Close()
				return nil, fmt.Errorf("frontend %s: bind %s: %w", fe.Name, addr, err)
			}
			l := newListener(addr, ln.(*net.TCPListener))
			opened = append(opened, l)
			plan = append(plan, bindPlan{l, fe})
		}
	}

	prev := p.gen.Load()
	inheritServers(prev, g)
	inheritSlots(prev, g) // frontends' maxconn counts (maxconn.go)

	// Swap.
	p.rl.seq++
	g.life.number, g.life.loaded, g.life.l4 = p.rl.seq, time.Now(), l4
	g.life.flushes = &p.flushes
	g.life.refs.Store(1)
	g.life.current.Store(true)
	g.setOwner(p)
	g.start()
	p.mu.Lock()
	if p.draining.Load() {
		// Shutdown began while the generation was being prepared.
		p.mu.Unlock()
		for _, l := range opened {
			l.close()
		}
		g.life.current.Store(false)
		g.release()
		return nil, ErrStopping
	}
	p.gen.Store(g)
	var lns []*listener
	for _, b := range plan {
		b.l.bind.Store(&binding{g: g, fe: b.fe, l4: l4.frontend(b.fe)})
		lns = append(lns, b.l)
	}
	var dropped []*listener
	for _, l := range p.listeners {
		if !kept[l] {
			dropped = append(dropped, l)
		}
	}
	p.listeners = lns
	// An HTTP/2 connection stays on its generation for its whole life
	// (its streams run at once; none is "between requests"): GOAWAY asks
	// its client to open the next streams on a new connection, which the
	// new generation serves, and lets the open ones finish.
	for cc := range p.conns {
		cc.goAway()
	}
	// Add before Shutdown can Wait: Shutdown sets draining, then takes
	// p.mu, so it cannot be waiting now.
	p.wg.Add(len(opened))
	p.mu.Unlock()
	for _, l := range opened {
		p.log.Info("listening", "frontend", l.bind.Load().fe.Name, "address", l.ln.Addr().String())
		go p.acceptLoop(l)
	}
	for _, l := range dropped {
		p.log.Info("no longer listening", "address", l.ln.Addr().String())
		l.close()
	}
	prev.life.current.Store(false)
	prev.release() // closed once its last connection ends
	// After the listeners' new bindings: waiting loops see the new limits.
	p.applyMaxConn(g)
	p.applyMetricsExport(g)
	return g, nil
}

// reusable returns the listener of ls (all bound to one configured
// address) that frontend fe may keep: the one fe had, else, when the
// address names a port, any other not kept yet. An address with port 0
// means "a new port" and is kept only by its frontend.
func reusable(ls []*listener, kept map[*listener]bool, fe string) *listener {
	for _, l := range ls {
		if !kept[l] && l.bind.Load().fe.Name == fe {
			return l
		}
	}
	for _, l := range ls {
		if _, port, err := net.SplitHostPort(l.addr); err == nil && port != "0" && !kept[l] {
			return l
		}
	}
	return nil
}

// inheritServers carries the run-time state of the servers of prev that
// g keeps over to g's (see the top of this file).
func inheritServers(prev, g *Generation) {
	for _, be := range g.Backends {
		ob := prev.Backend(be.Name)
		if ob == nil {
			continue
		}
		obc := prev.Config.Backend(be.Name)
		for _, s := range be.Servers {
			os := ob.Server(s.Name)
			if os == nil || os.Addr != s.Addr {
				continue
			}
			configured := backend.StateReady
			if obc != nil && os.Index < len(obc.Servers) && obc.Servers[os.Index].Name == os.Name && obc.Servers[os.Index].Disabled {
				configured = backend.StateMaint
			}
			be.Inherit(s, os, os.State() != configured, os.Weight() != os.InitialWeight)
		}
	}
}

// moveTo moves a connection between two streams to g, the current
// generation, when nothing its session set up stands in the way (see the
// top of this file). Only the connection's goroutine calls it.
func (cc *clientConn) moveTo(g *Generation) {
	old := cc.gen
	var fe *Frontend
	for _, f := range g.Frontends {
		if f.Name == cc.fe.Name {
			fe = f
			break
		}
	}
	if fe == nil || fe.HTTP != cc.fe.HTTP {
		return
	}
	l4 := g.life.l4.frontend(fe)
	if (cc.l4 != nil && cc.l4.tls != nil) != (l4 != nil && l4.tls != nil) ||
		(cc.l4 != nil && cc.l4.acceptProxy) != (l4 != nil && l4.acceptProxy) {
		return
	}
	oe, ne := old.StickEngine(), g.StickEngine()
	sl := track.SessionSlots(&cc.sess)
	keepSlots := false
	if sl != nil && sl.Tracked() > 0 {
		if !ne.Active() || ne.Slots() != sl.Len() {
			return
		}
		for i := range sl.Len() {
			if t, _, ok := sl.Entry(i); ok && ne.Table(t.Name()) != t {
				return
			}
		}
		keepSlots = true
	}
	if !g.acquire() {
		return
	}
	if !keepSlots {
		if sl != nil {
			oe.EndSession(&cc.sess)
		}
		if ne.Active() {
			ne.StartSession(&cc.sess)
		}
	}
	cc.fe.cur.Add(-1)
	cc.fe.Stats.CurSessions.Add(-1)
	fe.cur.Add(1)
	fe.Stats.CurSessions.Add(1)
	cc.gen, cc.fe, cc.l4 = g, fe, l4
	cc.sess.Frontend = fe.Name
	old.release()
}
