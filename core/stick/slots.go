package stick

import (
	"sync/atomic"
	"time"
)

// DefaultSlots is the number of tracker slots (sc0, sc1, sc2) when the
// configuration does not set one, as HAProxy's tune.stick-counters.
const DefaultSlots = 3

// MaxSlots bounds the number of tracker slots.
const MaxSlots = 16

// Slots are the tracker slots (stick counters sc0..scN-1) of one session or
// one stream. Every entry in a Slots was tracked by its owner, who alone
// releases it: a stream never copies its session's entries, it reads them
// through a View. That is what keeps conn_cur exact (HAProxy once let a
// stream inherit its session's trackers and release them too, driving
// conn_cur negative).
//
// Concurrency: Track and Release may run concurrently with readers (Entry,
// View) on other goroutines — a session's slots are read by its streams,
// several at once under HTTP/2 — and a slot, once set, does not change until
// Release. Track on one slot from two goroutines tracks once. Init must not
// run concurrently with anything else.
//
// The zero Slots has DefaultSlots slots and is ready to use; it holds no
// heap memory, so it can be embedded in pooled session and stream objects.
type Slots struct {
	n     uint8 // number of slots; 0 means DefaultSlots
	slots [MaxSlots]atomic.Pointer[Entry]
}

// Init sets the number of slots (n <= 0: DefaultSlots; at most MaxSlots).
// The slots must be empty (new or released).
func (s *Slots) Init(n int) {
	if n <= 0 {
		n = DefaultSlots
	}
	s.n = uint8(min(n, MaxSlots))
}

// Len returns the number of slots.
func (s *Slots) Len() int {
	if s.n == 0 {
		return DefaultSlots
	}
	return int(s.n)
}

// Track tracks key of table t in slot n (track-sc<n>): it takes a reference
// on the entry, creating it if needed, and starts the connection counters
// as HAProxy's track-sc does (conn_cur+1, conn_cnt+1, conn_rate+1, touch).
// It returns true when it tracked. Tracking a slot already in use does
// nothing and returns false (HAProxy ignores a second track-sc<n> on one
// slot), as does a failure to create the entry (table full of referenced
// entries, key of the wrong type): the caller goes on without tracking.
func (s *Slots) Track(n int, t *Table, key Key, now time.Time) bool {
	_, ok := s.track(n, t, &key, now)
	return ok
}

func (s *Slots) track(n int, t *Table, key *Key, now time.Time) (*Entry, bool) {
	if t == nil || n < 0 || n >= s.Len() {
		return nil, false
	}
	p := &s.slots[n]
	if p.Load() != nil {
		return nil, false
	}
	e, err := t.acquire(key, now)
	if err != nil {
		return nil, false
	}
	// conn_cur goes up before the entry is published, so that whoever
	// sees the entry in the slot sees it counted.
	e.addCounter(DataConnCur, 1)
	if !p.CompareAndSwap(nil, e) {
		e.stopConn(now)
		t.release(e, now)
		return nil, false
	}
	e.startConn(now)
	return e, true
}

// Entry returns the entry tracked in slot n, if any.
func (s *Slots) Entry(n int) (*Table, *Entry, bool) {
	if e := s.get(n); e != nil {
		return e.t, e, true
	}
	return nil, nil, false
}

func (s *Slots) get(n int) *Entry {
	if s == nil || n < 0 || n >= s.Len() {
		return nil
	}
	return s.slots[n].Load()
}

// Tracked returns how many slots hold an entry.
func (s *Slots) Tracked() int {
	c := 0
	for i := range s.Len() {
		if s.slots[i].Load() != nil {
			c++
		}
	}
	return c
}

// Release stops every tracker of s: conn_cur goes down by one on each entry
// and the reference is dropped. Each slot is emptied atomically before it is
// released, so a slot is released once even if Release runs twice or
// concurrently. The slots can be tracked again afterwards.
func (s *Slots) Release(now time.Time) {
	for i := range s.slots {
		p := &s.slots[i]
		if p.Load() == nil {
			continue
		}
		if e := p.Swap(nil); e != nil {
			e.stopConn(now)
			e.t.release(e, now)
		}
	}
}

// View is what a stream sees of the trackers: its own slots and, for a slot
// it does not track, its session's slot of the same number, read-only. A
// View with a nil Stream is the session's own view (tcp-request connection
// and session rules). A View is a pair of pointers: pass it by value.
type View struct {
	Stream  *Slots // owned by the stream; nil at session level
	Session *Slots // owned by the session
}

// Entry returns the entry sc<n> designates: the stream's slot n if it
// tracks one, else the session's. owned is true when the entry belongs to
// the slots of the viewer (the stream, or the session for a session-level
// view): the viewer took that reference and will release it.
func (v View) Entry(n int) (t *Table, e *Entry, owned, ok bool) {
	if e := v.Stream.get(n); e != nil {
		return e.t, e, true, true
	}
	if e := v.Session.get(n); e != nil {
		return e.t, e, v.Stream == nil, true
	}
	return nil, nil, false, false
}

// distinct fills buf with the distinct entries tracked by the stream and
// its session and returns how many there are.
func (v View) distinct(buf *[2 * MaxSlots]*Entry) int {
	k := 0
	for _, s := range [2]*Slots{v.Stream, v.Session} {
		if s == nil {
			continue
		}
	next:
		for i := range s.Len() {
			e := s.slots[i].Load()
			if e == nil {
				continue
			}
			for _, x := range buf[:k] {
				if x == e {
					continue next
				}
			}
			buf[k] = e
			k++
		}
	}
	return k
}

// count adds n to a counter and its rate on every distinct entry.
func (v View) count(cnt, rate DataType, n uint64, now time.Time) {
	var buf [2 * MaxSlots]*Entry
	for _, e := range buf[:v.distinct(&buf)] {
		e.countPair(cnt, rate, n, now)
	}
}

// CountHTTPReq counts one HTTP request (http_req_cnt, http_req_rate) once on
// every distinct entry tracked by the stream or its session. The engine
// calls it when a request starts, before the http-request rules, as
// HAProxy's stream_inc_http_req_ctr.
func (v View) CountHTTPReq(now time.Time) { v.count(DataHTTPReqCnt, DataHTTPReqRate, 1, now) }

// CountHTTPErr counts one HTTP error (http_err_cnt, http_err_rate): a 4xx
// from a server (401 and 407 included, as in HAProxy 2.6), an http-request
// deny, or an invalid request.
func (v View) CountHTTPErr(now time.Time) { v.count(DataHTTPErrCnt, DataHTTPErrRate, 1, now) }

// CountHTTPFail counts one server failure (http_fail_cnt, http_fail_rate):
// a 5xx other than 501/505, or no response.
func (v View) CountHTTPFail(now time.Time) { v.count(DataHTTPFailCnt, DataHTTPFailRate, 1, now) }

// CountBytesIn counts n bytes received from the client (bytes_in_cnt,
// bytes_in_rate).
func (v View) CountBytesIn(n int64, now time.Time) {
	if n > 0 {
		v.count(DataBytesInCnt, DataBytesInRate, uint64(n), now)
	}
}

// CountBytesOut counts n bytes sent to the client (bytes_out_cnt,
// bytes_out_rate).
func (v View) CountBytesOut(n int64, now time.Time) {
	if n > 0 {
		v.count(DataBytesOutCnt, DataBytesOutRate, uint64(n), now)
	}
}

// CountSess counts one accepted session (sess_cnt, sess_rate). HAProxy
// counts it on the session's trackers once the tcp-request session rules
// have passed: call it on a session-level view (Stream nil).
func (v View) CountSess(now time.Time) { v.count(DataSessCnt, DataSessRate, 1, now) }

// TrackRequest tracks key of t in the stream's slot n from an http-request
// rule and, as HAProxy's http-request track-sc does, counts the request in
// progress on the new entry, since CountHTTPReq ran before the entry was
// tracked. When the view already holds that entry in another slot, the
// request was counted on it then and is not counted again. It returns
// whether it tracked. (tcp-request content track-sc, which runs before any
// request is counted, uses v.Stream.Track.)
func (v View) TrackRequest(n int, t *Table, key Key, now time.Time) bool {
	if v.Stream == nil {
		return false
	}
	e, ok := v.Stream.track(n, t, &key, now)
	if !ok {
		return false
	}
	if v.heldElsewhere(e, n) {
		return true
	}
	e.countPair(DataHTTPReqCnt, DataHTTPReqRate, 1, now)
	return true
}

// heldElsewhere reports whether e is in a slot of the view other than the
// stream's slot n.
func (v View) heldElsewhere(e *Entry, n int) bool {
	for i := range v.Stream.Len() {
		if i != n && v.Stream.slots[i].Load() == e {
			return true
		}
	}
	if v.Session != nil {
		for i := range v.Session.Len() {
			if v.Session.slots[i].Load() == e {
				return true
			}
		}
	}
	return false
}
