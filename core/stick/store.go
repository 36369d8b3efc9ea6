package stick

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Store holds the tables across configuration generations, apart from any
// one of them. A reload builds the new generation's set of tables with
// Build — a table whose definition is Equal to the current one is the same
// *Table, entries and counters included; any other table starts empty —
// then makes it current with Commit once the whole configuration is
// accepted. Tables that the new generation drops stay usable by the
// streams of the old one, which release into them as usual; they are freed
// when nothing refers to them any more.
type Store struct {
	mu  sync.Mutex
	cur *Tables // guarded by mu
}

// Tables is one generation's set of tables, by name. It is immutable.
type Tables struct {
	byName map[string]*Table
	base   *Tables // the generation it was built from
}

// NewStore returns a store with an empty current generation.
func NewStore() *Store {
	return &Store{cur: &Tables{byName: map[string]*Table{}}}
}

// Current returns the current generation.
func (s *Store) Current() *Tables {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Build returns the set of tables for defs, reusing the current
// generation's table of the same name when its definition is Equal. It does
// not change the store: a configuration that fails later leaves the running
// tables untouched.
func (s *Store) Build(defs []Def) (*Tables, error) {
	cur := s.Current()
	next := &Tables{byName: make(map[string]*Table, len(defs)), base: cur}
	for _, d := range defs {
		if _, dup := next.byName[d.Name]; dup {
			return nil, fmt.Errorf("%w: table %s defined twice", ErrDef, d.Name)
		}
		if old := cur.byName[d.Name]; old != nil && old.def.Equal(d) {
			next.byName[d.Name] = old
			continue
		}
		t, err := NewTable(d)
		if err != nil {
			return nil, err
		}
		next.byName[d.Name] = t
	}
	return next, nil
}

// Commit makes ts current. It fails with ErrStale when another generation
// was committed since ts was built, since ts would then drop that
// generation's tables.
func (s *Store) Commit(ts *Tables) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts.base != s.cur {
		return ErrStale
	}
	ts.base = nil
	old := s.cur
	s.cur = ts
	stopDropped(old, ts)
	return nil
}

// syncerStopTimeout bounds how long a dropped shared table's syncer may
// take to push its last events and leave the fleet.
const syncerStopTimeout = 2 * time.Second

// stopDropped stops, in the background, the syncers of the tables of old
// that next no longer holds (their streams may still count into them, but
// the fleet no longer hears of it).
func stopDropped(old, next *Tables) {
	for name, t := range old.byName {
		if next.byName[name] != t && t.HasSyncer() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), syncerStopTimeout)
				defer cancel()
				t.stopSyncer(ctx)
			}()
		}
	}
}

// Close stops the syncers of the current tables, pushing their last events
// and leaving the fleet, within ctx. The proxy calls it when it stops.
func (s *Store) Close(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range s.Current().byName {
		wg.Go(func() { t.stopSyncer(ctx) })
	}
	wg.Wait()
}

// Get returns the table called name, or nil.
func (ts *Tables) Get(name string) *Table { return ts.byName[name] }

// Names returns the names of the tables, sorted.
func (ts *Tables) Names() []string {
	names := make([]string, 0, len(ts.byName))
	for n := range ts.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
