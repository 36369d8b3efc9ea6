package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fleet"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
	"github.com/strata-proxy/strata/core/transport"
)

// Stick tables, tracking and server persistence, as the engine drives them.
//
// The tables live in a stick.Store that outlives generations
// (BuildOptions.Stick): Build takes the store's tables whose definition is
// unchanged and creates the others; the new set becomes the store's
// current one when the generation starts serving. Each generation has its
// own track.Engine (tracker slots, fetches, actions) and sweeps expired
// entries with one goroutine from start to Close.
//
// The hooks below are called by the connection goroutine at fixed points of
// a session's and a stream's life; each does nothing when the generation
// has no table:
//
//	session start     the session gets its tracker slots (before tcp-request connection)
//	session accepted  sess_cnt, sess_rate (after tcp-request session)
//	no first request  http_req_cnt (+ http_err_* unless it timed out), as HAProxy
//	request start     http_req_cnt, http_req_rate (after tcp-request content, before http-request)
//	http-request deny http_err_*
//	response head     4xx: http_err_*; 5xx but 501, 505: http_fail_*
//	stream end        early failures, bytes, the stream's trackers released
//	session end       the session's trackers released
//	server choice     stick match before, stick store once connected

// stickState is a generation's tables and tracking. Immutable after Build,
// except the sweeper, started and stopped once.
type stickState struct {
	store  *stick.Store
	tables *stick.Tables
	eng    *track.Engine
	on     map[*Backend]*track.StickOn
	log    *slog.Logger
	shared map[string]config.SharedTable // tables shared by a fleet, by name

	once, closeOnce sync.Once
	sweep           *track.Sweeper
}

// stickClock is the clock of every tracking event: time.Now, unless a
// test sets another.
var stickClock atomic.Pointer[func() time.Time]

func stickNow() time.Time {
	if f := stickClock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// buildStick builds the generation's tables and tracking and registers the
// tracking fetches and actions on the generation's own registries. Build
// calls it before compiling any rule.
func (g *Generation) buildStick(cfg *config.Config, opt BuildOptions) []*config.Error {
	store := opt.Stick
	if store == nil {
		store = stick.NewStore()
	}
	// Mistakes are reported, and the rest is built anyway, so that rules
	// naming a table or a slot get errors of their own rather than
	// "unknown action track-sc0".
	defs, errs := track.Defs(cfg)
	tables, err := store.Build(defs)
	if err != nil {
		return append(errs, &config.Error{Path: "stick_tables", Msg: err.Error()})
	}
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	var broken []string
	for _, ct := range cfg.StickTables {
		if tables.Get(ct.Name) == nil {
			broken = append(broken, ct.Name)
		}
	}
	slots := cfg.Global.Tune.StickCounters
	if slots > stick.MaxSlots {
		errs = append(errs, &config.Error{
			Path: "global.tune.stick_counters", Msg: fmt.Sprintf("%d tracker slots, at most %d", slots, stick.MaxSlots),
			Fix: fmt.Sprintf("use at most %d", stick.MaxSlots),
		})
		slots = stick.MaxSlots
	}
	eng, err := track.New(tables, names, track.Options{Slots: slots, Broken: broken, Now: stickNow})
	if err != nil {
		return append(errs, &config.Error{Path: "stick_tables", Msg: err.Error()})
	}
	g.Fetches = g.Fetches.Clone()
	g.Actions = g.Actions.Clone()
	if err := eng.Register(g.Fetches, g.Actions); err != nil {
		return []*config.Error{{Path: "stick_tables", Msg: err.Error()}}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g.stick = &stickState{store: store, tables: tables, eng: eng, on: map[*Backend]*track.StickOn{}, log: log}
	for _, ct := range cfg.StickTables {
		if ct.Shared == nil {
			continue
		}
		if err := fleet.Check(*ct.Shared); err != nil {
			errs = append(errs, &config.Error{Path: ct.Path + ".shared", Msg: err.Error(), Fix: "set the variable in strata's environment, or remove password_env"})
			continue
		}
		if g.stick.shared == nil {
			g.stick.shared = map[string]config.SharedTable{}
		}
		g.stick.shared[ct.Name] = *ct.Shared
	}
	return errs
}

// buildStickOn compiles the backends' stick settings, once the backends
// exist.
func (g *Generation) buildStickOn(cfg *config.Config) []*config.Error {
	st := g.stick
	if st == nil {
		return nil
	}
	var errs []*config.Error
	for _, bc := range cfg.Backends {
		be := g.backends[bc.Name]
		if bc.Stick == nil || be == nil {
			continue
		}
		on, err := st.eng.CompileStickOn(g.Fetches, bc.Stick.On, bc.Stick.Table, be.HTTP)
		if err != nil {
			errs = append(errs, &config.Error{Path: bc.Path + ".stick", Msg: err.Error()})
			continue
		}
		st.on[be] = on
	}
	return errs
}

// startStick makes the generation's tables the store's current ones and
// starts the expiry sweeper.
func (g *Generation) startStick() {
	st := g.stick
	if st == nil {
		return
	}
	st.once.Do(func() {
		err := st.store.Commit(st.tables)
		if err != nil && !errors.Is(err, stick.ErrStale) {
			st.log.Error("stick tables", "error", err)
		} else if err != nil {
			st.log.Warn("stick tables: another configuration was applied since this one was built; its tables stay current", "error", err)
		}
		st.sweep = st.eng.StartSweeper()
		if err == nil {
			// Only tables the store holds get a syncer: the store stops
			// it when the table leaves (a stale generation's would leak).
			st.startSyncers()
		}
	})
}

// startSyncers gives each shared table that has none a syncer (a table
// kept across a reload keeps its syncer).
func (st *stickState) startSyncers() {
	for name, sc := range st.shared {
		t := st.tables.Get(name)
		if t == nil || t.HasSyncer() {
			continue
		}
		s, err := fleet.New(t, sc, fleet.InstanceID(), st.log)
		if err != nil {
			st.log.Error("shared stick table: counting locally only", "table", name, "error", err)
			continue
		}
		if t.AttachSyncer(s) {
			s.Start()
		} else {
			s.Close() // another generation attached one first
		}
	}
}

// closeStick stops the sweeper. The tables stay in the store.
func (g *Generation) closeStick() {
	if st := g.stick; st != nil {
		st.closeOnce.Do(func() {
			st.once.Do(func() {}) // a generation closed before it started
			st.sweep.Stop()
		})
	}
}

// StickEngine returns the generation's tracking engine, or nil when it has
// no stick table.
func (g *Generation) StickEngine() *track.Engine {
	if g.stick == nil {
		return nil
	}
	return g.stick.eng
}

// trackEngine returns the engine when anything can be tracked.
func (cc *clientConn) trackEngine() *track.Engine {
	if st := cc.gen.stick; st != nil && st.eng.Active() {
		return st.eng
	}
	return nil
}

func (cc *clientConn) trackSessionStart() {
	if e := cc.trackEngine(); e != nil {
		e.StartSession(&cc.sess)
	}
}

func (cc *clientConn) trackSessionAccepted() {
	if e := cc.trackEngine(); e != nil {
		e.CountSession(&cc.sess)
	}
}

func (cc *clientConn) trackSessionEnd() {
	if st := cc.gen.stick; st != nil {
		st.eng.EndSession(&cc.sess)
	}
}

// trackNoRequest counts a connection that ended before its first request
// arrived, as HAProxy 2.6 does: a request, and an error unless it timed
// out. A graceful stop closing it does not count.
func (cc *clientConn) trackNoRequest(err error) {
	if e := cc.trackEngine(); e != nil && !cc.p.draining.Load() {
		e.CountNoRequest(&cc.sess, transport.IsTimeout(err))
	}
}

func (cc *clientConn) trackRequest(x *exchange) {
	if e := cc.trackEngine(); e != nil {
		e.CountRequest(&x.strm)
	}
}

func (cc *clientConn) trackDenied(x *exchange) {
	if e := cc.trackEngine(); e != nil {
		e.CountDenied(&x.strm)
	}
}

func (cc *clientConn) trackResponse(x *exchange, status int) {
	if e := cc.trackEngine(); e != nil {
		e.CountResponse(&x.strm, status)
	}
}

// trackStreamEnd runs once per stream, before the stream is reset. The
// request was counted when the fetch context got its transaction, which
// happens right after trackRequest.
func (cc *clientConn) trackStreamEnd(x *exchange) {
	if st := cc.gen.stick; st != nil {
		st.eng.EndStream(&x.strm, x.fctx.Txn != nil)
	}
}

// stickMatch designates the server stored for the stream's key, before
// the backend chooses one (the backend uses it when it is usable, and
// balances otherwise).
func (cc *clientConn) stickMatch(x *exchange, be *Backend) {
	st := cc.gen.stick
	if st == nil || len(st.on) == 0 || x.key.Server != nil {
		return
	}
	if on := st.on[be]; on != nil {
		if id := on.Match(&x.fctx); id > 0 && id <= len(be.Servers) {
			x.key.Server = be.Servers[id-1]
		}
	}
}

// stickStore records the stream's server for its key once connected.
func (cc *clientConn) stickStore(x *exchange, be *Backend) {
	st := cc.gen.stick
	if st == nil || len(st.on) == 0 || x.srv == nil {
		return
	}
	if on := st.on[be]; on != nil {
		on.Store(&x.fctx, x.srv.Index+1)
	}
}

// registerStickAPI adds the stick-table routes of the runtime API.
func (p *Proxy) registerStickAPI(a *admin.Server) {
	track.RegisterAPI(a, func() *track.Engine { return p.gen.Load().StickEngine() })
}

// closeStickStore stops the syncers of shared tables when the proxy stops:
// each pushes its last events and takes this instance out of the fleet.
func (p *Proxy) closeStickStore() {
	p.rl.mu.Lock()
	store := p.rl.store
	p.rl.mu.Unlock()
	if store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	store.Close(ctx)
}
