package stick

import (
	"context"
	"sync/atomic"
	"time"
)

// Sharing a table across a fleet of instances.
//
// A shared table counts locally exactly as an unshared one: the same
// atomic operations on the entry's words, so a request never waits on the
// network. The local words hold this instance's own counts; each entry of a
// shared table also has a Share that a syncer (core/fleet) drives once per
// sync interval:
//
//	others   what the rest of the fleet holds, per word, written by the
//	         syncer from what the other instances pushed;
//	pending  rate events counted here since the last sync (a rate's local
//	         freqCtr is not aligned on the fleet's buckets, so the syncer
//	         adds them to its own count of the current bucket);
//	cleared  a counter cleared here (sc_clr_gpc), for the fleet;
//	dirty    a tag set here, for the fleet.
//
// Get returns local + others. Every instance pushes its own values whole
// (absolute, never deltas), so a push that is repeated after a lost reply
// counts nothing twice, and one that fails is simply sent again. Rates keep
// HAProxy's sliding estimate fleet-wide: each instance's count per bucket
// aligned on the wall clock (now / period), read with the same two-period
// formula as freqCtr. Tags (gpt) are last-writer-wins; server_id stays
// local (server ids are per instance configuration).
//
// Ownership: pending, cleared and dirty are written by request goroutines
// and swapped by the syncer; others and epochs by the syncer alone and read
// by anyone. Own is the syncer's private bookkeeping.

// Share is the fleet state of one entry of a shared table.
type Share struct {
	pending []atomic.Int64 // by word offset; rates use their first word
	others  []atomic.Int64 // by word offset; rates: curr at o, prev at o+1
	epoch   []atomic.Int64 // by word offset of a rate: bucket of others[o]
	cleared []atomic.Bool  // by word offset: a counter cleared here (sc_clr_gpc)
	dirty   atomic.Bool    // a tag was set here since the last push

	// Own is this instance's share, for the syncer alone, by word offset.
	Own []OwnShare
	// Joined is when the syncer first saw the entry (Unix ms), for the
	// syncer alone: a fleet-wide clear older than that is not this
	// entry's.
	Joined int64
}

// OwnShare is this instance's share of one word, as the syncer keeps it.
type OwnShare struct {
	Pushed     int64 // the counter or conn_cur value last pushed
	Curr, Prev int64 // a rate's own counts in buckets Epoch and Epoch-1
	Epoch      int64
	ClearSeen  int64 // the last fleet-wide clear applied here (Unix ms)
}

// Shared reports whether t is shared by a fleet.
func (t *Table) Shared() bool { return t.shared.Load() }

// FleetHolds reports whether, t being shared, the fleet holds its values
// of dt: the counters and rates it sums over instances, and conn_cur. A
// process that takes over another's entries (a binary upgrade) must not
// set these locally: its first sync reads the fleet's value, which already
// holds everything the old process counted (it pushes its last events when
// it stops), so a local copy would count it twice. Tags (last writer wins)
// and server_id (local) are not summed and may be set.
func (t *Table) FleetHolds(dt DataType) bool {
	if !t.Shared() || dt >= numDataTypes {
		return false
	}
	k := dataInfo[dt].kind
	return k == kindCounter || k == kindRate
}

// Syncer keeps a shared table in step with its fleet (core/fleet). A table
// has at most one, attached when its first generation starts serving and
// stopped when the table leaves the store.
type Syncer interface {
	Stop(ctx context.Context)
}

// AttachSyncer makes s the table's syncer. It returns false, attaching
// nothing, when the table already has one.
func (t *Table) AttachSyncer(s Syncer) bool {
	return t.syncer.CompareAndSwap(nil, &s)
}

// HasSyncer reports whether a syncer is attached.
func (t *Table) HasSyncer() bool { return t.syncer.Load() != nil }

// stopSyncer stops the table's syncer, if any, once.
func (t *Table) stopSyncer(ctx context.Context) {
	if s := t.syncer.Swap(nil); s != nil {
		(*s).Stop(ctx)
	}
}

// ShareState is the health of a shared table's synchronisation, for
// /v1/tables, /metrics and the log.
type ShareState struct {
	Degraded  bool      // the last sync failed: counting is local only
	LastError string    // why, when degraded
	LastSync  time.Time // the last successful sync
	Syncs     uint64    // successful syncs
	Failures  uint64    // failed syncs
}

// SetShareState records the syncer's view of the table.
func (t *Table) SetShareState(s ShareState) { t.shareState.Store(&s) }

// ShareState returns the last state the syncer recorded (zero before the
// first sync or for an unshared table).
func (t *Table) ShareState() ShareState {
	if s := t.shareState.Load(); s != nil {
		return *s
	}
	return ShareState{}
}

func (t *Table) newShare() *Share {
	n := t.lay.words
	return &Share{
		pending: make([]atomic.Int64, n),
		others:  make([]atomic.Int64, n),
		epoch:   make([]atomic.Int64, n),
		cleared: make([]atomic.Bool, n),
		Own:     make([]OwnShare, n),
	}
}

// Share returns the fleet state of e, or nil when its table is not shared.
func (e *Entry) Share() *Share { return e.share }

// SharedWord is one stored word of a shared entry, as the syncer sees it.
type SharedWord struct {
	Type   DataType
	Index  int           // element of an array type
	Off    int           // word offset in the entry
	Period time.Duration // rates
}

// SharedWords lists the words of t that a syncer exchanges with the fleet:
// every stored counter, rate and tag element; server_id is local.
func (t *Table) SharedWords() []SharedWord {
	var out []SharedWord
	for _, dt := range t.lay.order {
		if dt == DataServerID {
			continue
		}
		w := 1
		if dataInfo[dt].kind == kindRate {
			w = 2
		}
		for i := range int(t.lay.n[dt]) {
			out = append(out, SharedWord{
				Type: dt, Index: i, Off: int(t.lay.off[dt]) + i*w,
				Period: time.Duration(t.lay.period[dt]) * time.Millisecond,
			})
		}
	}
	return out
}

// Kind says how a word is exchanged.
func (w SharedWord) Kind() ShareKind {
	switch {
	case w.Type == DataConnCur:
		return ShareAbsolute
	case dataInfo[w.Type].kind == kindRate:
		return ShareRate
	case dataInfo[w.Type].kind == kindTag:
		return ShareTag
	}
	return ShareCounter
}

// ShareKind is how a word is exchanged with the fleet.
type ShareKind uint8

const (
	ShareCounter  ShareKind = iota // each instance's own total, summed over every instance
	ShareRate                      // each instance's own count per wall-clock bucket, summed
	ShareAbsolute                  // each instance's own value, summed over live instances (conn_cur)
	ShareTag                       // last writer wins (gpt)
)

// TakePending returns the rate events of word off counted here since the
// last call and resets them.
func (s *Share) TakePending(off int) int64 { return s.pending[off].Swap(0) }

// TakeCleared reports whether counter off was cleared here since the last
// call: the syncer then resets the fleet's total before adding the pending
// events.
func (s *Share) TakeCleared(off int) bool { return s.cleared[off].Swap(false) }

// ReturnCleared gives back a reset that could not be pushed.
func (s *Share) ReturnCleared(off int) { s.cleared[off].Store(true) }

// ReturnDirty gives back a tag change that could not be pushed.
func (s *Share) ReturnDirty() { s.dirty.Store(true) }

// TakeDirty reports whether a tag was set here since the last call.
func (s *Share) TakeDirty() bool { return s.dirty.Swap(false) }

// SetOthers records the rest of the fleet's share of a counter or of
// conn_cur.
func (s *Share) SetOthers(off int, v int64) { s.others[off].Store(v) }

// SetOthersRate records the rest of the fleet's counts of a rate in the
// wall-clock buckets epoch (curr) and epoch-1 (prev).
func (s *Share) SetOthersRate(off int, epoch, curr, prev int64) {
	s.others[off].Store(curr)
	s.others[off+1].Store(prev)
	s.epoch[off].Store(epoch)
}

// ClearLocal sets counter word off to zero: the fleet cleared it (another
// instance's sc_clr_gpc).
func (e *Entry) ClearLocal(off int) { atomic.StoreUint64(&e.words[off], 0) }

// Touched returns when e last changed (Unix ms).
func (e *Entry) Touched() int64 { return e.touched.Load() }

// Local returns this instance's own value of word off (the absolute
// conn_cur, or a tag) without the fleet's share.
func (e *Entry) Local(off int) uint64 { return atomic.LoadUint64(&e.words[off]) }

// SetFleetTag stores a tag pulled from the fleet, unless one was set here
// since the last push (which the next push sends instead).
func (e *Entry) SetFleetTag(off int, v uint32) {
	if e.share != nil && !e.share.dirty.Load() {
		atomic.StoreUint64(&e.words[off], uint64(v))
	}
}

// sharedCount notes n rate events on word off for the next push.
func (e *Entry) sharedCount(off int, n int64) {
	if e.share != nil {
		e.share.pending[off].Add(n)
	}
}

// othersRate is the rest of the fleet's estimate of a rate at now:
// HAProxy's formula over wall-clock buckets, prev weighted by what remains
// of the current period.
func (s *Share) othersRate(off int, period uint32, now time.Time) int64 {
	if period == 0 {
		return 0
	}
	ms := now.UnixMilli()
	epoch := ms / int64(period)
	curr, prev := s.others[off].Load(), s.others[off+1].Load()
	switch s.epoch[off].Load() {
	case epoch:
	case epoch - 1:
		curr, prev = 0, curr
	default:
		return 0
	}
	remain := int64(period) - ms%int64(period)
	return max(0, (prev*remain+curr*int64(period))/int64(period))
}

// RateEpoch returns the wall-clock bucket of a rate of period p at now.
func RateEpoch(p time.Duration, now time.Time) int64 {
	if p <= 0 {
		return 0
	}
	return now.UnixMilli() / p.Milliseconds()
}

// RawKey appends the entry's key bytes, as stored, to buf; KeyFromRaw
// turns them back into a Key of the table.
func (e *Entry) RawKey(buf []byte) []byte { return e.keyBytes(buf) }

// KeyFromRaw returns the key of t whose stored bytes are b (RawKey).
func (t *Table) KeyFromRaw(b []byte) Key {
	k := Key{typ: t.def.Key}
	switch t.def.Key {
	case KeyIP, KeyInteger:
		copy(k.in[:], b)
	default:
		k.ext = b
	}
	return k
}

// Entries returns the entries of t, for a syncer's walk. The slice is
// built under each shard's lock in turn; the entries may be removed after.
func (t *Table) Entries(buf []*Entry) []*Entry {
	buf = buf[:0]
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			buf = append(buf, e)
		}
		for _, e := range sh.coll {
			buf = append(buf, e)
		}
		sh.mu.Unlock()
	}
	return buf
}

// Alive reports whether e is still in its table (not expired, evicted or
// deleted).
func (e *Entry) Alive() bool {
	sh := &e.t.shards[e.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return !e.dead()
}
