package generation

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fleet"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
)

// stickState is a generation's tables and tracking. Immutable after Build,
// except the sweeper, started and stopped once.
type stickState struct {
	store  *stick.Store
	tables *stick.Tables
	Eng    *track.Engine
	On     map[*Backend]*track.StickOn
	log    *slog.Logger
	shared map[string]config.SharedTable // tables shared by a fleet, by name

	once, closeOnce sync.Once
	sweep           *track.Sweeper
}

// StickClock is the clock of every tracking event: time.Now, unless a
// test sets another.
var StickClock atomic.Pointer[func() time.Time]

func StickNow() time.Time {
	if f := StickClock.Load(); f != nil {
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
	eng, err := track.New(tables, names, track.Options{Slots: slots, Broken: broken, Now: StickNow})
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
	g.Stick = &stickState{store: store, tables: tables, Eng: eng, On: map[*Backend]*track.StickOn{}, log: log}
	for _, ct := range cfg.StickTables {
		if ct.Shared == nil {
			continue
		}
		if err := fleet.Check(*ct.Shared); err != nil {
			errs = append(errs, &config.Error{Path: ct.Path + ".shared", Msg: err.Error(), Fix: "set the variable in strata's environment, or remove password_env"})
			continue
		}
		if g.Stick.shared == nil {
			g.Stick.shared = map[string]config.SharedTable{}
		}
		g.Stick.shared[ct.Name] = *ct.Shared
	}
	return errs
}

// buildStickOn compiles the backends' stick settings, once the backends
// exist.
func (g *Generation) buildStickOn(cfg *config.Config) []*config.Error {
	st := g.Stick
	if st == nil {
		return nil
	}
	var errs []*config.Error
	for _, bc := range cfg.Backends {
		be := g.ByName[bc.Name]
		if bc.Stick == nil || be == nil {
			continue
		}
		on, err := st.Eng.CompileStickOn(g.Fetches, bc.Stick.On, bc.Stick.Table, be.HTTP)
		if err != nil {
			errs = append(errs, &config.Error{Path: bc.Path + ".stick", Msg: err.Error()})
			continue
		}
		st.On[be] = on
	}
	return errs
}

// startStick makes the generation's tables the store's current ones and
// starts the expiry sweeper.
func (g *Generation) startStick() {
	st := g.Stick
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
		st.sweep = st.Eng.StartSweeper()
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
	if st := g.Stick; st != nil {
		st.closeOnce.Do(func() {
			st.once.Do(func() {}) // a generation closed before it started
			st.sweep.Stop()
		})
	}
}

// StickEngine returns the generation's tracking engine, or nil when it has
// no stick table.
func (g *Generation) StickEngine() *track.Engine {
	if g.Stick == nil {
		return nil
	}
	return g.Stick.Eng
}
