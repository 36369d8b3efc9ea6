package track

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stick"
)

// Engine is one configuration generation's tracking: its set of tables
// (shared with other generations through a stick.Store), the number of
// tracker slots, and pools of slots for sessions and streams. It is
// immutable once built and safe for concurrent use.
type Engine struct {
	tables *stick.Tables
	list   []*stick.Table // in configuration order
	kinds  map[*stick.Table]keyKind
	broken map[string]bool // tables defined with mistakes
	slots  int             // tracker slots per session and per stream; 0: no tracking
	now    func() time.Time

	sessPool sync.Pool // *stick.Slots with slots slots
	strmPool sync.Pool
}

// Options are what New needs besides the tables.
type Options struct {
	// Slots is global.tune.stick_counters: track-sc0 … track-sc<Slots-1>.
	// 0 disables tracking (no track-sc action, no sc fetch).
	Slots int
	// Now is the clock of every event; nil: time.Now. Tests step it.
	Now func() time.Time
	// Broken names tables that the configuration defines but that could
	// not be built: rules naming them are told so.
	Broken []string
}

// New returns the engine of a generation whose tables are ts, listed in
// configuration order by names.
func New(ts *stick.Tables, names []string, opt Options) (*Engine, error) {
	if opt.Slots < 0 || opt.Slots > stick.MaxSlots {
		return nil, fmt.Errorf("%w: %d tracker slots, at most %d", ErrSlots, opt.Slots, stick.MaxSlots)
	}
	e := &Engine{tables: ts, slots: opt.Slots, now: opt.Now, kinds: map[*stick.Table]keyKind{}, broken: map[string]bool{}}
	for _, n := range opt.Broken {
		e.broken[n] = true
	}
	if e.now == nil {
		e.now = time.Now
	}
	for _, n := range names {
		t := ts.Get(n)
		if t == nil {
			return nil, fmt.Errorf("no stick table named %q in the set", n)
		}
		e.list = append(e.list, t)
		e.kinds[t] = kindOf(t)
	}
	n := e.slots
	newSlots := func() any {
		s := new(stick.Slots)
		s.Init(n)
		return s
	}
	e.sessPool.New = newSlots
	e.strmPool.New = newSlots
	return e, nil
}

// Now reads the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Slots returns the number of tracker slots (global.tune.stick_counters).
func (e *Engine) Slots() int { return e.slots }

// Tables returns the tables in configuration order.
func (e *Engine) Tables() []*stick.Table { return e.list }

// Table returns the table called name, or nil.
func (e *Engine) Table(name string) *stick.Table { return e.tables.Get(name) }

// kind returns the key kind of one of the engine's tables.
func (e *Engine) kind(t *stick.Table) keyKind {
	if k, ok := e.kinds[t]; ok {
		return k
	}
	return kindOf(t)
}

// Active reports whether sessions and streams of this generation may track
// anything: there is at least one table and one slot.
func (e *Engine) Active() bool { return e != nil && e.slots > 0 && len(e.list) > 0 }

// resolveTable returns the table called name or, when name is "", the only
// table. HAProxy defaults to the table of the current proxy; strata's
// tables are global, so the name may be left out only when there is
// exactly one.
func (e *Engine) resolveTable(name, what string) (*stick.Table, error) {
	if name != "" {
		if t := e.tables.Get(name); t != nil {
			return t, nil
		}
		if e.broken[name] {
			return nil, fmt.Errorf("%w: stick table %q is not usable: its definition has errors (stick_tables.%s)", ErrNoTable, name, name)
		}
		return nil, fmt.Errorf("%w %q%s", ErrNoTable, name, e.tableList())
	}
	switch {
	case len(e.list)+len(e.broken) == 0:
		return nil, fmt.Errorf("%w: %s needs a stick table and none is defined (add one under stick_tables)", ErrNoTable, what)
	case len(e.list) == 1 && len(e.broken) == 0:
		return e.list[0], nil
	case len(e.list) == 0 && len(e.broken) == 1:
		for n := range e.broken {
			return e.resolveTable(n, what)
		}
	}
	return nil, fmt.Errorf("%w: %s must name its table when several are defined%s", ErrNoTable, what, e.tableList())
}

func (e *Engine) tableList() string {
	names := make([]string, 0, len(e.list)+len(e.broken))
	for _, t := range e.list {
		names = append(names, t.Name())
	}
	for n := range e.broken {
		names = append(names, n+" (invalid)")
	}
	if len(names) == 0 {
		return " (no stick table is defined)"
	}
	slices.Sort(names[len(e.list):])
	return " (tables: " + strings.Join(names, ", ") + ")"
}

// ---- slots of sessions and streams ----

// SessionSlots returns the tracker slots owned by s, or nil.
func SessionSlots(s *session.Session) *stick.Slots {
	if s == nil {
		return nil
	}
	sl, _ := s.Ext.Trackers.(*stick.Slots)
	return sl
}

// StreamSlots returns the tracker slots owned by st, or nil when the stream
// tracks nothing.
func StreamSlots(st *session.Stream) *stick.Slots {
	if st == nil {
		return nil
	}
	sl, _ := st.Ext.Trackers.(*stick.Slots)
	return sl
}

// ViewOf returns what a rule evaluated with sess and strm (nil at session
// level) sees of the trackers.
func ViewOf(sess *session.Session, strm *session.Stream) stick.View {
	return stick.View{Stream: StreamSlots(strm), Session: SessionSlots(sess)}
}

// StartSession gives s its tracker slots, before the tcp-request connection
// rules run. The slots are set once, before any stream exists, and stay
// until EndSession: streams read them through views however many run at
// once, and the session may track into them at any time.
func (e *Engine) StartSession(s *session.Session) {
	if !e.Active() || s.Ext.Trackers != nil {
		return
	}
	s.Ext.Trackers = e.sessPool.Get().(*stick.Slots)
}

// EndSession releases every tracker the session owns, once its last stream
// has ended and its connection is closed.
func (e *Engine) EndSession(s *session.Session) {
	sl := SessionSlots(s)
	if sl == nil {
		return
	}
	s.Ext.Trackers = nil
	sl.Release(e.now())
	if sl.Len() == e.slots { // slots from a generation with another count are left to the GC
		e.sessPool.Put(sl)
	}
}

// streamSlots returns the slots owned by st, attaching them on first use.
// Only the stream's goroutine calls it.
func (e *Engine) streamSlots(st *session.Stream) *stick.Slots {
	if sl := StreamSlots(st); sl != nil {
		return sl
	}
	if st == nil || !e.Active() {
		return nil
	}
	sl := e.strmPool.Get().(*stick.Slots)
	st.Ext.Trackers = sl
	return sl
}

// releaseStream releases the stream's own trackers, never its session's.
func (e *Engine) releaseStream(st *session.Stream, now time.Time) {
	sl := StreamSlots(st)
	if sl == nil {
		return
	}
	st.Ext.Trackers = nil
	sl.Release(now)
	if sl.Len() == e.slots {
		e.strmPool.Put(sl)
	}
}

// ---- tables from the configuration ----

// Defs translates the configuration's stick_tables into table definitions,
// in file order. A table that a backend sticks on stores server_id even
// when its store list does not say so, as HAProxy adds it for stick rules.
// Errors name the configuration path.
func Defs(cfg *config.Config) ([]stick.Def, []*config.Error) {
	var defs []stick.Def
	var errs []*config.Error
	sticky := map[string]bool{}
	for _, b := range cfg.Backends {
		if b.Stick != nil {
			sticky[b.Stick.Table] = true
		}
	}
	for _, ct := range cfg.StickTables {
		d := stick.Def{Name: ct.Name, KeyLen: ct.Len, Size: ct.Size, Expire: ct.Expire}
		if ct.Shared != nil {
			d.Shared = fmt.Sprintf("%+v", *ct.Shared)
		}
		kt, err := stick.ParseKeyType(ct.Type)
		if err != nil {
			errs = append(errs, &config.Error{Path: ct.Path + ".type", Msg: err.Error(), Fix: "use one of: ip, ipv6, integer, string, binary"})
			continue
		}
		d.Key = kt
		// A store list written as one string reaches us split at every
		// comma, "gpc_rate(2,10s)" included: parsed whole, the items
		// join up again.
		var err1 *config.Error
		for i, item := range ct.Store {
			specs, err := stick.ParseStores(item)
			if err != nil {
				if err1 == nil {
					err1 = &config.Error{
						Path: fmt.Sprintf("%s.store[%d]", ct.Path, i), Msg: err.Error(),
						Fix: "write data types as HAProxy does: conn_cur, http_req_rate(10s), gpc(2), gpc_rate(2,1m), gpt(1)",
					}
				}
				continue
			}
			d.Store = append(d.Store, specs...)
		}
		if err1 != nil {
			specs, err := stick.ParseStores(strings.Join(ct.Store, ","))
			if err != nil {
				errs = append(errs, err1)
				continue
			}
			d.Store = specs
		}
		if sticky[ct.Name] && !stores(d.Store, stick.DataServerID) {
			d.Store = append(d.Store, stick.DataSpec{Type: stick.DataServerID, N: 1})
		}
		if err := d.Validate(); err != nil {
			errs = append(errs, &config.Error{Path: ct.Path, Msg: strings.TrimPrefix(err.Error(), stick.ErrDef.Error()+": ")})
			continue
		}
		defs = append(defs, d)
	}
	return defs, errs
}

func stores(list []stick.DataSpec, dt stick.DataType) bool {
	for _, s := range list {
		if s.Type == dt {
			return true
		}
	}
	return false
}
