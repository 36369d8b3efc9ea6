package proxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/handover"
	"github.com/strata-proxy/strata/core/stick"
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
	g  *generation.Generation
	fe *generation.Frontend
	l4 *generation.L4Frontend
}

// acquire returns the listener's binding with a reference taken on its
// generation. A reload replaces the binding before it drops the replaced
// generation's reference, so the loop ends at once.
func (l *listener) acquire() *binding {
	for {
		b := l.bind.Load()
		if b.g.Acquire() {
			return b
		}
	}
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
func (p *Proxy) adopt(g *generation.Generation) {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	p.rl.store = g.StickStore()
	if p.rl.store == nil {
		p.rl.store = stick.NewStore()
	}
	p.rl.seq++
	g.Life.Number = p.rl.seq
	g.Life.Loaded = time.Now()
	g.Life.Flushes = &p.flushes
	g.Life.Refs.Store(1)
	g.Life.Current.Store(true)
	g.SetOwner(p)
	p.Gen.Store(g)
	p.rl.status.Store(&ReloadStatus{Generation: g.Life.Number, LoadedAt: g.Life.Loaded})
}

// ReloadStatus returns the outcome of the reloads so far.
func (p *Proxy) ReloadStatus() ReloadStatus { return *p.rl.status.Load() }

// Reload builds a generation from cfg and opt and swaps it in (see the top
// of this file). opt.Stick is the proxy's store when left nil, and
// opt.Logger the proxy's logger. On failure nothing changes and the error
// says why: a *config.Errors for configuration errors, each with its path.
// Reloads are serialised.
func (p *Proxy) Reload(cfg *config.Config, opt generation.BuildOptions) (*generation.Generation, error) {
	return p.ReloadWith(func(store *stick.Store) (*generation.Generation, error) {
		if opt.Stick == nil {
			opt.Stick = store
		}
		if opt.Logger == nil {
			opt.Logger = p.Log
		}
		return generation.Build(cfg, opt)
	})
}

// ReloadWith is Reload for callers that build the generation themselves
// (with plugins loaded for it, say): build is called with the proxy's
// stick store, which it must pass in BuildOptions.Stick, while reloads are
// serialised, so that no other generation is committed in between.
func (p *Proxy) ReloadWith(build func(store *stick.Store) (*generation.Generation, error)) (*generation.Generation, error) {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	g, err := p.reloadLocked(build)
	st := *p.rl.status.Load()
	if err != nil {
		st.Failures++
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
		p.Log.Error("reload failed: the running configuration stays", "generation", st.Generation, "error", err)
	} else {
		st.Reloads++
		st.Generation, st.LoadedAt = g.Life.Number, g.Life.Loaded
		p.Log.Info("reloaded", "generation", g.Life.Number, "frontends", len(g.Frontends), "backends", len(g.Backends))
	}
	p.rl.status.Store(&st)
	return g, err
}

func (p *Proxy) reloadLocked(build func(*stick.Store) (*generation.Generation, error)) (*generation.Generation, error) {
	if p.Draining.Load() {
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
	l4, err := generation.BuildL4(g, p.Log)
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
		fe *generation.Frontend
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

	prev := p.Gen.Load()
	inheritServers(prev, g)
	inheritSlots(prev, g) // frontends' maxconn counts (maxconn.go)

	// Swap.
	p.rl.seq++
	g.Life.Number, g.Life.Loaded, g.Life.L4 = p.rl.seq, time.Now(), l4
	g.Life.Flushes = &p.flushes
	g.Life.Refs.Store(1)
	g.Life.Current.Store(true)
	g.SetOwner(p)
	g.Start()
	p.mu.Lock()
	if p.Draining.Load() {
		// Shutdown began while the generation was being prepared.
		p.mu.Unlock()
		for _, l := range opened {
			l.close()
		}
		g.Life.Current.Store(false)
		g.Release()
		return nil, ErrStopping
	}
	p.Gen.Store(g)
	var lns []*listener
	for _, b := range plan {
		b.l.bind.Store(&binding{g: g, fe: b.fe, l4: l4.Frontend(b.fe)})
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
		cc.GoAway()
	}
	// Add before Shutdown can Wait: Shutdown sets draining, then takes
	// p.mu, so it cannot be waiting now.
	p.wg.Add(len(opened))
	p.mu.Unlock()
	for _, l := range opened {
		p.Log.Info("listening", "frontend", l.bind.Load().fe.Name, "address", l.ln.Addr().String())
		go p.acceptLoop(l)
	}
	for _, l := range dropped {
		p.Log.Info("no longer listening", "address", l.ln.Addr().String())
		l.close()
	}
	prev.Life.Current.Store(false)
	prev.Release() // closed once its last connection ends
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
func inheritServers(prev, g *generation.Generation) {
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
