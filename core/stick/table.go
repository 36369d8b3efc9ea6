package stick

import (
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// numShards splits a table by key hash; each shard has its own lock, map
// and LRU list, so the request path never takes a table-wide lock.
const (
	shardBits = 6
	numShards = 1 << shardBits
)

// Table is a stick table. It is safe for concurrent use.
type Table struct {
	// Immutable.
	def      Def
	lay      layout
	keyLen   int
	expireMs int64
	seed     maphash.Seed

	count atomic.Int64 // entries, including reserved places being filled
	// underflows counts conn_cur decrements that found 0. Trackers release
	// exactly once, so it stays 0 unless an operator set conn_cur by hand.
	underflows atomic.Int64

	// Fleet sharing (share.go): shared is Def.Shared, set at creation.
	shared     atomic.Bool
	shareState atomic.Pointer[ShareState]
	syncer     atomic.Pointer[Syncer]

	shards [numShards]shard
}

type shard struct {
	mu sync.Mutex
	// Guarded by mu.
	m    map[uint64]*Entry // by key hash
	coll map[string]*Entry // entries whose hash is taken by another key
	// The LRU list holds the idle entries (no reference), most recently
	// touched at head. Referenced entries are off the list, which is why
	// they can neither expire nor be evicted.
	head, tail *Entry

	// oldest is tail.touched, or MaxInt64 when the list is empty: read
	// without the lock to pick the shard holding the table's LRU entry.
	oldest atomic.Int64

	_ [64]byte // keep shards on separate cache lines
}

// NewTable returns an empty table for d.
func NewTable(d Def) (*Table, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	d.Store = d.normStore()
	t := &Table{
		def:      d,
		lay:      newLayout(d.Store),
		keyLen:   d.keyLen(),
		expireMs: d.Expire.Milliseconds(),
		seed:     maphash.MakeSeed(),
	}
	t.shared.Store(d.Shared != "")
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*Entry)
		t.shards[i].oldest.Store(math.MaxInt64)
	}
	return t, nil
}

// Name returns the table's name.
func (t *Table) Name() string { return t.def.Name }

// Def returns the table's definition (stored types in DataType order).
func (t *Table) Def() Def {
	d := t.def
	d.Store = append([]DataSpec(nil), d.Store...)
	return d
}

// Stores reports whether the table stores dt (directly, or through the
// legacy fallback onto the arrays).
func (t *Table) Stores(dt DataType) bool {
	_, _, ok := t.lay.resolve(dt, 0)
	return ok
}

// Len returns the number of entries.
func (t *Table) Len() int { return int(t.count.Load()) }

// Avail returns how many entries can still be created without eviction.
func (t *Table) Avail() int { return t.def.Size - t.Len() }

func shardIndex(h uint64) uint8 { return uint8(h >> (64 - shardBits)) }

func (t *Table) shardOf(h uint64) *shard { return &t.shards[shardIndex(h)] }

func (t *Table) hash(kb []byte) uint64 { return maphash.Bytes(t.seed, kb) }

// Acquire returns the entry for key, creating it when absent, and takes a
// reference on it that the caller gives back with Release. It counts as an
// access: the entry is touched. Creating in a full table evicts the least
// recently used idle entry; when every entry is referenced (or the table is
// "nopurge") it returns ErrFull. Finding an existing entry allocates
// nothing.
func (t *Table) Acquire(key Key, now time.Time) (*Entry, error) {
	return t.acquire(&key, now)
}

const maxEvictTries = 8

func (t *Table) acquire(k *Key, now time.Time) (*Entry, error) {
	kb, ok := k.canon(t.def.Key, t.keyLen)
	if !ok {
		return nil, ErrKeyType
	}
	ms := now.UnixMilli()
	h := t.hash(kb)
	sh := t.shardOf(h)
	reserved := false // we own a place counted in t.count
	for try := 0; ; try++ {
		sh.mu.Lock()
		e := sh.findLocked(h, kb)
		if e != nil && e.idle() && e.expiredAt(ms) {
			sh.removeLocked(e, h)
			t.count.Add(-1)
			e = nil
		}
		if e != nil {
			e.refs.Add(1)
			if e.idle() {
				sh.unlinkLocked(e)
			}
			sh.mu.Unlock()
			if reserved {
				t.count.Add(-1)
			}
			e.touch(ms)
			return e, nil
		}
		if !reserved {
			reserved = t.reserve()
		}
		if reserved {
			e = t.newEntry(kb, ms, shardIndex(h))
			e.refs.Store(1)
			sh.insertLocked(h, kb, e)
			sh.mu.Unlock()
			return e, nil
		}
		sh.mu.Unlock()
		if t.def.NoPurge || try == maxEvictTries || !t.evictOldest() {
			return nil, ErrFull
		}
		reserved = true // the evicted entry's place is handed to us
	}
}

// reserve counts one more entry if there is room.
func (t *Table) reserve() bool {
	for {
		c := t.count.Load()
		if c >= int64(t.def.Size) {
			return false
		}
		if t.count.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

func (t *Table) newEntry(kb []byte, ms int64, shard uint8) *Entry {
	e := &Entry{
		t:     t,
		words: make([]uint64, t.lay.words+(len(kb)+7)/8),
		klen:  uint16(len(kb)),
		shard: shard,
	}
	kw := e.words[t.lay.words:]
	for i := range kw {
		kw[i] = packWord(kb[8*i:])
	}
	if t.shared.Load() {
		e.share = t.newShare()
	}
	e.touched.Store(ms)
	return e
}

// evictOldest removes the least recently used idle entry of the table and
// leaves its place counted, for the caller to fill. It returns false when
// no entry is idle.
func (t *Table) evictOldest() bool {
	for range maxEvictTries {
		best, bestT := -1, int64(math.MaxInt64)
		for i := range t.shards {
			if o := t.shards[i].oldest.Load(); o < bestT {
				best, bestT = i, o
			}
		}
		if best < 0 {
			return false
		}
		sh := &t.shards[best]
		sh.mu.Lock()
		if e := sh.tail; e != nil {
			sh.removeLocked(e, t.entryHash(e))
			sh.mu.Unlock()
			return true
		}
		sh.mu.Unlock()
	}
	return false
}

func (t *Table) entryHash(e *Entry) uint64 {
	var buf [64]byte
	return t.hash(e.keyBytes(buf[:0]))
}

// Release gives back a reference taken by Acquire. When it was the last
// one, the entry becomes idle: it joins the LRU list, or goes at once if it
// has already expired (HAProxy's stksess_kill_if_expired). Releasing more
// often than acquiring panics, as it would corrupt the table.
func (t *Table) Release(e *Entry, now time.Time) {
	if e == nil {
		return
	}
	if e.t != t {
		panic("stick: entry released to another table")
	}
	t.release(e, now)
}

func (t *Table) release(e *Entry, now time.Time) {
	r := e.refs.Add(-1)
	if r > 0 {
		return
	}
	if r < 0 {
		panic("stick: entry released more often than acquired")
	}
	ms := now.UnixMilli()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	// Acquire may have taken a new reference meanwhile, or the entry may
	// have been deleted: only an unreferenced live entry becomes idle.
	if e.refs.Load() == 0 && e.flags == 0 {
		if e.expiredAt(ms) {
			sh.removeLocked(e, t.entryHash(e))
			t.count.Add(-1)
		} else {
			sh.pushLocked(e)
		}
	}
	sh.mu.Unlock()
}

// Lookup returns the entry for key without creating it and without taking
// a reference (the src_* fetches; HAProxy also only looks up there, except
// for src_inc_gpc and src_clr_gpc, which create: use Acquire for those).
// Reading the entry is safe; modify only entries you hold. An expired idle
// entry is removed and not returned.
func (t *Table) Lookup(key Key, now time.Time) (*Entry, bool) {
	kb, ok := key.canon(t.def.Key, t.keyLen)
	if !ok {
		return nil, false
	}
	h := t.hash(kb)
	sh := t.shardOf(h)
	sh.mu.Lock()
	e := sh.findLocked(h, kb)
	if e != nil && e.idle() && e.expiredAt(now.UnixMilli()) {
		sh.removeLocked(e, h)
		t.count.Add(-1)
		e = nil
	}
	sh.mu.Unlock()
	return e, e != nil
}

// Delete removes the entry for key ("clear table <t> key <k>"). Like
// HAProxy it refuses an entry in use: ErrInUse.
func (t *Table) Delete(key Key) error {
	kb, ok := key.canon(t.def.Key, t.keyLen)
	if !ok {
		return ErrKeyType
	}
	h := t.hash(kb)
	sh := t.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.findLocked(h, kb)
	if e == nil {
		return ErrNotFound
	}
	if e.refs.Load() > 0 {
		return ErrInUse
	}
	sh.removeLocked(e, h)
	t.count.Add(-1)
	return nil
}

// Sweep removes the idle entries that have expired at now and returns how
// many went. The table's owner calls it periodically (HAProxy's expiry
// task); entries are also removed lazily when a lookup meets them.
func (t *Table) Sweep(now time.Time) int {
	if t.expireMs == 0 {
		return 0
	}
	ms := now.UnixMilli()
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		if o := sh.oldest.Load(); o == math.MaxInt64 || o+t.expireMs > ms {
			continue
		}
		sh.mu.Lock()
		for e := sh.tail; e != nil && e.expiredAt(ms); e = sh.tail {
			sh.removeLocked(e, t.entryHash(e))
			t.count.Add(-1)
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

// findLocked returns the entry with key kb and hash h.
func (sh *shard) findLocked(h uint64, kb []byte) *Entry {
	if e := sh.m[h]; e != nil && e.keyEqual(kb) {
		return e
	}
	if len(sh.coll) > 0 {
		return sh.coll[string(kb)]
	}
	return nil
}

func (sh *shard) insertLocked(h uint64, kb []byte, e *Entry) {
	if sh.m[h] == nil {
		sh.m[h] = e
		return
	}
	// Another key has the same 64-bit seeded hash: vanishingly rare, but
	// handled.
	if sh.coll == nil {
		sh.coll = make(map[string]*Entry)
	}
	sh.coll[string(kb)] = e
}

// removeLocked takes e out of the map and the LRU list. The caller adjusts
// the table's count.
func (sh *shard) removeLocked(e *Entry, h uint64) {
	if sh.m[h] == e {
		delete(sh.m, h)
	} else {
		var buf [64]byte
		delete(sh.coll, string(e.keyBytes(buf[:0])))
	}
	if e.idle() {
		sh.unlinkLocked(e)
	}
	e.flags |= flagDead
}

func (sh *shard) unlinkLocked(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
	e.flags &^= flagIdle
	sh.publishLocked()
}

// maxLRUWalk bounds the search for an idle entry's place in the LRU list.
const maxLRUWalk = 8

// pushLocked puts an idle entry on the LRU list, ordered by touched time.
// Released entries were just touched, so the place is the head but for
// clock skew between goroutines. The walk is bounded: an entry released
// with a clock lagging behind more than a few newer entries sits slightly
// out of order, so LRU order and sweeping are then exact only up to that
// skew (an expired entry is never kept for good: it goes when the entries
// after it do, or when a lookup meets it).
func (sh *shard) pushLocked(e *Entry) {
	t := e.touched.Load()
	var prev *Entry
	next := sh.head
	for i := 0; i < maxLRUWalk && next != nil && next.touched.Load() > t; i++ {
		prev, next = next, next.next
	}
	e.prev, e.next = prev, next
	if prev != nil {
		prev.next = e
	} else {
		sh.head = e
	}
	if next != nil {
		next.prev = e
	} else {
		sh.tail = e
	}
	e.flags |= flagIdle
	sh.publishLocked()
}

func (sh *shard) publishLocked() {
	if sh.tail != nil {
		sh.oldest.Store(sh.tail.touched.Load())
	} else {
		sh.oldest.Store(math.MaxInt64)
	}
}

// Value is one stored value of an entry, as "show table" lists it.
type Value struct {
	Name   string        // "conn_cur", "http_req_rate"; array elements as HAProxy names them: "gpc0", "gpc1_rate"
	Type   DataType      // the stored type
	Index  int           // element of an array type
	Period time.Duration // rates
	Value  int64
}

// EntryView is a snapshot of an entry for the runtime API.
type EntryView struct {
	Key    string        // formatted as "show table" does
	Refs   int           // references held ("use=")
	Expire time.Duration // time left before expiry ("exp="); 0 when the table has no expiry
	Values []Value       // every stored value, in HAProxy's order
	Entry  *Entry        // the entry itself
}

// String formats v as a line of HAProxy's "show table" without the leading
// entry address: "key=10.0.0.1 use=0 exp=9800 conn_cur=0 http_req_rate(10000)=3".
func (v EntryView) String() string {
	var b strings.Builder
	b.WriteString("key=")
	b.WriteString(v.Key)
	b.WriteString(" use=")
	b.WriteString(strconv.Itoa(v.Refs))
	b.WriteString(" exp=")
	b.WriteString(strconv.FormatInt(v.Expire.Milliseconds(), 10))
	for _, x := range v.Values {
		b.WriteByte(' ')
		b.WriteString(x.Name)
		if x.Type.IsRate() {
			b.WriteByte('(')
			b.WriteString(strconv.FormatInt(x.Period.Milliseconds(), 10))
			b.WriteByte(')')
		}
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(x.Value, 10))
	}
	return b.String()
}

// Header returns HAProxy's "show table" heading line for t.
func (t *Table) Header() string {
	return "# table: " + t.def.Name + ", type: " + t.def.Key.String() +
		", size:" + strconv.Itoa(t.def.Size) + ", used:" + strconv.Itoa(t.Len())
}

// Snapshot returns the "show table" view of e at now.
func (t *Table) Snapshot(e *Entry, now time.Time) EntryView {
	ms := now.UnixMilli()
	v := EntryView{Key: e.Key(), Refs: e.Refs(), Entry: e}
	if t.expireMs > 0 {
		if left := e.touched.Load() + t.expireMs - ms; left > 0 {
			v.Expire = time.Duration(left) * time.Millisecond
		}
	}
	for _, dt := range t.lay.order {
		n := int(t.lay.n[dt])
		for i := range n {
			x, _ := e.Get(dt, i, now)
			name := dt.String()
			if dt.IsArray() {
				// HAProxy puts the index before the first '_': gpc_rate[1]
				// is "gpc1_rate".
				pfx, sfx, _ := strings.Cut(name, "_")
				name = pfx + strconv.Itoa(i)
				if sfx != "" {
					name += "_" + sfx
				}
			}
			v.Values = append(v.Values, Value{
				Name: name, Type: dt, Index: i,
				Period: time.Duration(t.lay.period[dt]) * time.Millisecond,
				Value:  x,
			})
		}
	}
	return v
}

// Dump calls fn with a snapshot of every entry for which filter (nil: all)
// returns true ("show table <t> [data.<type> <op> <value>]"). Entries are
// visited shard by shard, in no particular order; fn runs without any table
// lock held, so it may be slow or call back into the table.
func (t *Table) Dump(now time.Time, filter func(*Entry) bool, fn func(EntryView)) {
	var batch []*Entry
	for i := range t.shards {
		sh := &t.shards[i]
		batch = batch[:0]
		sh.mu.Lock()
		for _, e := range sh.m {
			batch = append(batch, e)
		}
		for _, e := range sh.coll {
			batch = append(batch, e)
		}
		sh.mu.Unlock()
		for _, e := range batch {
			if filter == nil || filter(e) {
				fn(t.Snapshot(e, now))
			}
		}
	}
}
