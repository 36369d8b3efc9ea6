package handover

import (
	"errors"
	"fmt"
	"time"

	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
)

// Stick-table entries come over with every stored value as the runtime
// API shows it: counters, tags and server ids exactly; a rate as the
// events of its current period; conn_cur as 0 (the old process's trackers
// are released there). What the old process counts after its dump, while
// it drains, stays there.

// TableDump is the content of the stick tables, by table name.
type TableDump map[string][]DumpedEntry

// DumpedEntry is one entry: its key as the runtime API writes it and its
// stored values by name.
type DumpedEntry struct {
	Key    string        `json:"key"`
	Values []stick.Value `json:"values"`
	Expire time.Duration `json:"expire,omitempty"`
}

// Dump returns the content of e's tables; an empty dump when e is nil (a
// configuration without stick tables).
func Dump(e *track.Engine) TableDump {
	out := TableDump{}
	if e == nil {
		return out
	}
	now := e.Now()
	for _, t := range e.Tables() {
		list := []DumpedEntry{}
		t.Dump(now, nil, func(v stick.EntryView) {
			list = append(list, DumpedEntry{Key: v.Key, Values: v.Values, Expire: v.Expire})
		})
		out[t.Name()] = list
	}
	return out
}

// Restore fills e's tables from d, before the generation e belongs to
// serves: tables of the same name get the entries, each value the table
// stores set as the runtime API would set it, but conn_cur and, in a table
// shared by a fleet, every counter and rate (the new process's first sync
// reads them from the fleet, which holds the old process's events). It
// returns the number of entries restored; entries whose key does not fit
// the table, or that do not fit in it, are skipped.
func Restore(e *track.Engine, d TableDump) (int, error) {
	if e == nil {
		return 0, nil
	}
	now := e.Now()
	n := 0
	var errs []error
	for name, list := range d {
		t := e.Table(name)
		if t == nil {
			continue
		}
		for _, de := range list {
			k, err := track.ParseKey(t, de.Key)
			if err != nil {
				errs = append(errs, fmt.Errorf("table %s: %w", name, err))
				continue
			}
			ent, err := t.Acquire(k, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("table %s: %w", name, err))
				continue
			}
			for _, v := range de.Values {
				// conn_cur counts the old process's connections, which
				// it keeps; a shared table's sums come from the fleet.
				if v.Type == stick.DataConnCur || t.FleetHolds(v.Type) {
					continue
				}
				ent.Set(v.Type, v.Index, v.Value, now)
			}
			t.Release(ent, now)
			n++
		}
	}
	return n, errors.Join(errs...)
}
