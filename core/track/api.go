package track

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/stick"
)

// TableInfo describes a table (GET /v1/tables lists them).
type TableInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Len      int      `json:"len,omitempty"` // string and binary keys
	Size     int      `json:"size"`
	Used     int      `json:"used"`
	ExpireMS int64    `json:"expire_ms"` // 0: entries never expire
	Store    []string `json:"store"`
	// Header is HAProxy's "show table" heading line.
	Header string `json:"header"`
	// Shared is the fleet synchronisation of a table shared through Redis
	// (absent for a table of this instance alone).
	Shared *SharedInfo `json:"shared,omitempty"`
}

// SharedInfo is the state of a shared table's synchronisation.
type SharedInfo struct {
	Degraded  bool      `json:"degraded"` // counting locally: Redis did not answer the last sync
	LastError string    `json:"last_error,omitempty"`
	LastSync  time.Time `json:"last_sync,omitzero"`
	Syncs     uint64    `json:"syncs"`
	Failures  uint64    `json:"failures"`
}

// Entry is one entry of a table, with every stored value.
type Entry struct {
	Key   string `json:"key"`    // formatted as "show table" does
	Use   int    `json:"use"`    // references held: trackers and requests in progress
	ExpMS int64  `json:"exp_ms"` // milliseconds before the entry expires if left idle
	// Data holds every stored value by the name "show table" gives it:
	// conn_cur, http_req_rate, gpc0, gpc1_rate, gpt0, server_id.
	Data map[string]int64 `json:"data"`
	// Show is the entry as HAProxy's "show table" prints it, without the
	// entry address: "key=10.0.0.1 use=1 exp=29998 conn_cur=1 …".
	Show string `json:"show"`
}

// TableDump is the body of GET /v1/tables/{t}.
type TableDump struct {
	TableInfo
	Entries []Entry `json:"entries"`
}

// EntryUpdate is the body of POST /v1/tables/{t}/entries/{key}: the values
// to set, by the names of Entry.Data (HAProxy's "set table <t> key <k>
// data.<type> <value>"). A rate is set to that many events in a period
// starting now.
type EntryUpdate struct {
	Data map[string]int64 `json:"data"`
}

// ClearResult is the body answering DELETE /v1/tables/{t}/entries.
type ClearResult struct {
	Removed int `json:"removed"`
	InUse   int `json:"in_use"` // matching entries kept because trackers hold them
}

// RegisterAPI adds the stick-table routes to the runtime API. cur returns
// the engine of the generation serving new connections (nil: none).
//
//	GET    /v1/tables                     every table
//	GET    /v1/tables/{t}                 its entries; ?filter=data.TYPE OP VALUE (repeatable, ANDed; OP is eq, ne, lt, le, gt or ge) and/or ?key=KEY
//	DELETE /v1/tables/{t}/entries/{key}   remove an entry; 409 when in use
//	DELETE /v1/tables/{t}/entries         remove every unused entry matching the filters
//	POST   /v1/tables/{t}/entries/{key}   {"data": {"gpt0": 1, "gpc1": 5}}: set values, creating the entry
func RegisterAPI(a *admin.Server, cur func() *Engine) {
	a.HandleFunc("GET /v1/tables", func(w http.ResponseWriter, r *http.Request) {
		out := []TableInfo{}
		if e := cur(); e != nil {
			now := e.now()
			for _, t := range e.list {
				t.Sweep(now)
				out = append(out, tableInfo(t))
			}
		}
		admin.WriteJSON(w, http.StatusOK, out)
	})
	a.HandleFunc("GET /v1/tables/{t}", func(w http.ResponseWriter, r *http.Request) {
		e, t := lookupTable(w, r, cur)
		if t == nil {
			return
		}
		f, err := parseFilters(t, r)
		if err != nil {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		now := e.now()
		t.Sweep(now)
		d := TableDump{TableInfo: tableInfo(t), Entries: []Entry{}}
		f.each(t, now, func(v stick.EntryView) { d.Entries = append(d.Entries, entryOf(v)) })
		slices.SortFunc(d.Entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
		admin.WriteJSON(w, http.StatusOK, d)
	})
	a.HandleFunc("DELETE /v1/tables/{t}/entries/{key...}", func(w http.ResponseWriter, r *http.Request) {
		_, t := lookupTable(w, r, cur)
		if t == nil {
			return
		}
		k, err := ParseKey(t, r.PathValue("key"))
		if err != nil {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		switch err := t.Delete(k); {
		case errors.Is(err, stick.ErrNotFound):
			admin.WriteError(w, http.StatusNotFound, "table "+t.Name()+" has no entry "+strconv.Quote(r.PathValue("key")))
		case errors.Is(err, stick.ErrInUse):
			admin.WriteError(w, http.StatusConflict, "entry "+strconv.Quote(r.PathValue("key"))+" is in use by a tracker; it goes when released and expired")
		case err != nil:
			admin.WriteError(w, http.StatusBadRequest, err.Error())
		default:
			admin.WriteJSON(w, http.StatusOK, ClearResult{Removed: 1})
		}
	})
	a.HandleFunc("DELETE /v1/tables/{t}/entries", func(w http.ResponseWriter, r *http.Request) {
		e, t := lookupTable(w, r, cur)
		if t == nil {
			return
		}
		f, err := parseFilters(t, r)
		if err != nil {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		var keys []string
		f.each(t, e.now(), func(v stick.EntryView) { keys = append(keys, v.Key) })
		var res ClearResult
		k0 := kindOf(t)
		for _, s := range keys {
			k, err := parseShownKey(t, k0, s)
			if err != nil {
				continue
			}
			switch err := t.Delete(k); {
			case err == nil:
				res.Removed++
			case errors.Is(err, stick.ErrInUse):
				res.InUse++
			}
		}
		admin.WriteJSON(w, http.StatusOK, res)
	})
	a.HandleFunc("POST /v1/tables/{t}/entries/{key...}", func(w http.ResponseWriter, r *http.Request) {
		e, t := lookupTable(w, r, cur)
		if t == nil {
			return
		}
		k, err := ParseKey(t, r.PathValue("key"))
		if err != nil {
			admin.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		var u EntryUpdate
		if !admin.ReadJSON(w, r, &u) {
			return
		}
		if len(u.Data) == 0 {
			admin.WriteError(w, http.StatusBadRequest, `nothing to set: give {"data": {"gpt0": 1}} with the names "show table" prints`)
			return
		}
		names := make([]string, 0, len(u.Data))
		for n := range u.Data {
			names = append(names, n)
		}
		slices.Sort(names)
		refs := make([]dataRef, len(names))
		for i, n := range names {
			if refs[i], err = parseDataRef(t, n); err != nil {
				admin.WriteError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		now := e.now()
		ent, err := t.Acquire(k, now)
		if err != nil {
			admin.WriteError(w, http.StatusServiceUnavailable, "cannot create the entry: "+err.Error())
			return
		}
		for i, n := range names {
			ent.Set(refs[i].dt, refs[i].idx, u.Data[n], now)
		}
		v := t.Snapshot(ent, now)
		t.Release(ent, now)
		v.Refs-- // the reference this request held
		admin.WriteJSON(w, http.StatusOK, entryOf(v))
	})
}

func lookupTable(w http.ResponseWriter, r *http.Request, cur func() *Engine) (*Engine, *stick.Table) {
	name := r.PathValue("t")
	e := cur()
	var t *stick.Table
	if e != nil {
		t = e.Table(name)
	}
	if t == nil {
		msg := "no stick table named " + strconv.Quote(name)
		if e != nil {
			msg += e.tableList()
		}
		admin.WriteError(w, http.StatusNotFound, msg)
		return nil, nil
	}
	return e, t
}

func tableInfo(t *stick.Table) TableInfo {
	d := t.Def()
	ti := TableInfo{
		Name: d.Name, Type: d.Key.String(), Size: d.Size, Used: t.Len(),
		ExpireMS: d.Expire.Milliseconds(), Store: []string{}, Header: t.Header(),
	}
	if d.Key == stick.KeyString || d.Key == stick.KeyBinary {
		ti.Len = kindOf(t).len
	}
	for _, s := range d.Store {
		ti.Store = append(ti.Store, s.String())
	}
	if t.Shared() {
		st := t.ShareState()
		ti.Shared = &SharedInfo{Degraded: st.Degraded, LastError: st.LastError, LastSync: st.LastSync, Syncs: st.Syncs, Failures: st.Failures}
	}
	return ti
}

func entryOf(v stick.EntryView) Entry {
	data := make(map[string]int64, len(v.Values))
	for _, x := range v.Values {
		data[x.Name] = x.Value
	}
	return Entry{Key: v.Key, Use: v.Refs, ExpMS: v.Expire.Milliseconds(), Data: data, Show: v.String()}
}

// filters are HAProxy's "show table" filters: data.<type> <op> <value>
// (ANDed) and key <k>.
type filters struct {
	data  []dataFilter
	key   stick.Key
	byKey bool
}

type dataFilter struct {
	ref dataRef
	op  string
	v   int64
}

func parseFilters(t *stick.Table, r *http.Request) (*filters, error) {
	f := &filters{}
	q := r.URL.Query()
	keys := q["key"]
	for _, s := range q["filter"] {
		words := strings.Fields(s)
		switch {
		case len(words) == 2 && words[0] == "key":
			keys = append(keys, words[1])
		case len(words) == 3 && strings.HasPrefix(words[0], "data."):
			ref, err := parseDataRef(t, strings.TrimPrefix(words[0], "data."))
			if err != nil {
				return nil, fmt.Errorf("%w %q: %v", ErrBadFilter, s, err)
			}
			switch words[1] {
			case "eq", "ne", "lt", "le", "gt", "ge":
			default:
				return nil, fmt.Errorf("%w %q: operator %q: use eq, ne, lt, le, gt or ge", ErrBadFilter, s, words[1])
			}
			v, err := strconv.ParseInt(words[2], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %q is not an integer", ErrBadFilter, s, words[2])
			}
			f.data = append(f.data, dataFilter{ref: ref, op: words[1], v: v})
		default:
			return nil, fmt.Errorf("%w %q: write data.TYPE OP VALUE (data.http_req_rate gt 10) or key KEY", ErrBadFilter, s)
		}
	}
	switch len(keys) {
	case 0:
	case 1:
		k, err := ParseKey(t, keys[0])
		if err != nil {
			return nil, err
		}
		f.key, f.byKey = k, true
	default:
		return nil, fmt.Errorf("%w: one key at most", ErrBadFilter)
	}
	return f, nil
}

func (f *filters) match(e *stick.Entry, now time.Time) bool {
	for _, d := range f.data {
		x, ok := e.Get(d.ref.dt, d.ref.idx, now)
		if !ok {
			return false
		}
		var m bool
		switch d.op {
		case "eq":
			m = x == d.v
		case "ne":
			m = x != d.v
		case "lt":
			m = x < d.v
		case "le":
			m = x <= d.v
		case "gt":
			m = x > d.v
		case "ge":
			m = x >= d.v
		}
		if !m {
			return false
		}
	}
	return true
}

// each calls fn with every entry of t that passes the filters.
func (f *filters) each(t *stick.Table, now time.Time, fn func(stick.EntryView)) {
	if f.byKey {
		if e, ok := t.Lookup(f.key, now); ok && f.match(e, now) {
			fn(t.Snapshot(e, now))
		}
		return
	}
	t.Dump(now, func(e *stick.Entry) bool { return f.match(e, now) }, fn)
}
