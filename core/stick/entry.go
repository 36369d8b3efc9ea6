package stick

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// Entry is one key of a table and the values stored for it.
//
// An Entry is held either by reference (a tracker slot, or Acquire until
// Release) or not at all. Only a holder may modify it: the methods that
// change values are safe for concurrent use by any number of holders (they
// are atomic operations on the entry's words), but an entry nobody holds
// may be evicted at any time, a change made to it then is lost, and
// touching it would not move it in the LRU order. Reading an entry
// returned by Lookup is safe; its values are those of the moment.
type Entry struct {
	// Immutable after creation.
	t     *Table
	words []uint64 // stored data (see layout), then the key, packed
	klen  uint16   // key length in bytes
	shard uint8    // index of the shard holding the entry
	share *Share   // fleet state, when the table is shared (share.go)

	// Guarded by the shard lock.
	flags      uint8 // flagIdle, flagDead
	prev, next *Entry

	// refs is incremented under the shard lock only and decremented
	// anywhere; the shard lock holder that sees 0 knows it stays 0.
	refs atomic.Int32
	// touched is the last access, in Unix milliseconds; the entry expires
	// at touched + Expire. It only grows.
	touched atomic.Int64
}

const (
	flagIdle = 1 << iota // unreferenced, on the shard's LRU list
	flagDead             // removed from the table
)

func (e *Entry) idle() bool { return e.flags&flagIdle != 0 }
func (e *Entry) dead() bool { return e.flags&flagDead != 0 }

// Table returns the table the entry belongs to.
func (e *Entry) Table() *Table { return e.t }

// Refs returns the number of references held on the entry (HAProxy's
// "use=" in "show table").
func (e *Entry) Refs() int { return int(e.refs.Load()) }

// Key returns the entry's key, formatted as "show table" does.
func (e *Entry) Key() string {
	var buf [64]byte
	return formatKey(e.t.def.Key, e.keyBytes(buf[:0]), e.t.keyLen)
}

// keyBytes appends the key to buf.
func (e *Entry) keyBytes(buf []byte) []byte {
	kw := e.words[e.t.lay.words:]
	n := int(e.klen)
	for i := 0; n > 0; i++ {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], kw[i])
		m := min(n, 8)
		buf = append(buf, b[:m]...)
		n -= m
	}
	return buf
}

// keyEqual reports whether the entry's key is kb.
func (e *Entry) keyEqual(kb []byte) bool {
	if int(e.klen) != len(kb) {
		return false
	}
	kw := e.words[e.t.lay.words:]
	for i := 0; len(kb) > 0; i++ {
		if kw[i] != packWord(kb) {
			return false
		}
		kb = kb[min(len(kb), 8):]
	}
	return true
}

// packWord returns the first 8 bytes of b (zero-padded) as a little-endian
// word.
func packWord(b []byte) uint64 {
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)
	}
	var w uint64
	for i, c := range b {
		w |= uint64(c) << (8 * i)
	}
	return w
}

func (e *Entry) touch(ms int64) {
	for {
		old := e.touched.Load()
		if ms <= old || e.touched.CompareAndSwap(old, ms) {
			return
		}
	}
}

func (e *Entry) expiredAt(ms int64) bool {
	x := e.t.expireMs
	return x > 0 && e.touched.Load()+x <= ms
}

func (e *Entry) frq(off int) *freqCtr { return (*freqCtr)(e.words[off : off+2]) }

// word returns the offset of data type dt (element idx) or -1.
func (e *Entry) off(dt DataType) int { return int(e.t.lay.off[dt]) }

func (e *Entry) addCounter(dt DataType, n uint64) bool {
	if o := e.off(dt); o >= 0 {
		atomic.AddUint64(&e.words[o], n)
		return true
	}
	return false
}

func (e *Entry) addRate(dt DataType, now uint32, n uint32) bool {
	if o := e.off(dt); o >= 0 {
		e.frq(o).add(e.t.lay.period[dt], now, n)
		e.sharedCount(o, int64(n))
		return true
	}
	return false
}

// countPair adds n to a counter and its rate, touching the entry when it
// stores either (HAProxy's stkctr_inc_* functions).
func (e *Entry) countPair(cnt, rate DataType, n uint64, now time.Time) {
	ms := now.UnixMilli()
	a := e.addCounter(cnt, n)
	b := e.addRate(rate, uint32(ms), uint32(n))
	if a || b {
		e.touch(ms)
	}
}

// startConn is what a tracker does when it starts, conn_cur aside (the
// tracker counts it before publishing the entry): conn_cnt and conn_rate
// (HAProxy's stream_start_counters).
func (e *Entry) startConn(now time.Time) {
	ms := now.UnixMilli()
	e.addCounter(DataConnCnt, 1)
	e.addRate(DataConnRate, uint32(ms), 1)
	e.touch(ms)
}

// stopConn is what a tracker does when it stops: conn_cur goes down, never
// below zero (an operator may have reset it), and the entry is touched when
// conn_cur is stored (HAProxy's stream_store_counters).
func (e *Entry) stopConn(now time.Time) {
	o := e.off(DataConnCur)
	if o < 0 {
		return
	}
	p := &e.words[o]
	for {
		v := atomic.LoadUint64(p)
		if v == 0 {
			e.t.underflows.Add(1)
			break
		}
		if atomic.CompareAndSwapUint64(p, v, v-1) {
			break
		}
	}
	e.touch(now.UnixMilli())
}

// Get returns the value of data type dt (element idx of an array; 0
// otherwise) at now: the count of a counter, the events over one period of
// a rate, the tag, the server id. ok is false when the table does not store
// it. The legacy names read the arrays when only those are stored, as in
// HAProxy (gpc0 reads gpc[0], gpc1 gpc[1], gpt0 gpt[0]).
func (e *Entry) Get(dt DataType, idx int, now time.Time) (v int64, ok bool) {
	dt, o, ok := e.t.lay.resolve(dt, idx)
	if !ok {
		return 0, false
	}
	switch dataInfo[dt].kind {
	case kindRate:
		v := int64(e.frq(o).read(e.t.lay.period[dt], uint32(now.UnixMilli())))
		if e.share != nil {
			v += e.share.othersRate(o, e.t.lay.period[dt], now)
		}
		return v, true
	case kindSigned:
		return int64(int32(atomic.LoadUint64(&e.words[o]))), true
	case kindTag:
		return int64(uint32(atomic.LoadUint64(&e.words[o]))), true
	}
	v = int64(atomic.LoadUint64(&e.words[o]))
	if e.share != nil {
		v += e.share.others[o].Load()
	}
	return v, true
}

// Set stores v in data type dt (element idx), as the runtime API's
// "set table <t> key <k> data.<type> <v>" does: a rate is set to v events in
// a period starting now, a tag or a server id is truncated to 32 bits.
// It returns ErrNotStored when the table does not store dt. The caller must
// hold the entry (Acquire, Set, Release).
func (e *Entry) Set(dt DataType, idx int, v int64, now time.Time) error {
	dt, o, ok := e.t.lay.resolve(dt, idx)
	if !ok {
		return ErrNotStored
	}
	ms := now.UnixMilli()
	switch dataInfo[dt].kind {
	case kindRate:
		e.frq(o).set(uint32(ms), uint32(v))
	case kindSigned:
		atomic.StoreUint64(&e.words[o], uint64(uint32(int32(v))))
	case kindTag:
		atomic.StoreUint64(&e.words[o], uint64(uint32(v)))
		if e.share != nil {
			e.share.dirty.Store(true)
		}
	default:
		atomic.StoreUint64(&e.words[o], uint64(v))
	}
	e.touch(ms)
	return nil
}

// IncGPC increments gpc[idx] and gpc_rate[idx], whichever are stored (the
// sc-inc-gpc action, sc_inc_gpc fetch). It returns the new gpc value, or the
// count of the current rate period when only the rate is stored; ok is false
// when neither is stored.
func (e *Entry) IncGPC(idx int, now time.Time) (uint64, bool) {
	return e.incGPC(DataGPC, DataGPCRate, idx, now)
}

// IncGPC0 increments gpc0 and gpc0_rate, falling back on gpc[0] and
// gpc_rate[0] as HAProxy does.
func (e *Entry) IncGPC0(now time.Time) (uint64, bool) {
	return e.incGPC(DataGPC0, DataGPC0Rate, 0, now)
}

// IncGPC1 increments gpc1 and gpc1_rate, falling back on gpc[1] and
// gpc_rate[1].
func (e *Entry) IncGPC1(now time.Time) (uint64, bool) {
	return e.incGPC(DataGPC1, DataGPC1Rate, 0, now)
}

func (e *Entry) incGPC(cnt, rate DataType, idx int, now time.Time) (uint64, bool) {
	ms := now.UnixMilli()
	var v uint64
	done := false
	if rdt, o, ok := e.t.lay.resolve(rate, idx); ok {
		f := e.frq(o)
		f.add(e.t.lay.period[rdt], uint32(ms), 1)
		e.sharedCount(o, 1)
		v, done = uint64(f.current()), true
	}
	if _, o, ok := e.t.lay.resolve(cnt, idx); ok {
		v, done = atomic.AddUint64(&e.words[o], 1), true
	}
	if done {
		e.touch(ms)
	}
	return v, done
}

// AddGPC adds n to gpc[idx] and gpc_rate[idx] (the sc-add-gpc action) and
// returns the new gpc value as IncGPC does.
func (e *Entry) AddGPC(idx int, n uint32, now time.Time) (uint64, bool) {
	ms := now.UnixMilli()
	var v uint64
	done := false
	if rdt, o, ok := e.t.lay.resolve(DataGPCRate, idx); ok {
		f := e.frq(o)
		f.add(e.t.lay.period[rdt], uint32(ms), n)
		e.sharedCount(o, int64(n))
		v, done = uint64(f.current()), true
	}
	if _, o, ok := e.t.lay.resolve(DataGPC, idx); ok {
		v, done = atomic.AddUint64(&e.words[o], uint64(n)), true
	}
	if done {
		e.touch(ms)
	}
	return v, done
}

// ClearGPC sets gpc[idx] to 0 and returns its previous value (sc_clr_gpc).
// As in HAProxy, gpc_rate is left alone.
func (e *Entry) ClearGPC(idx int, now time.Time) (uint64, bool) {
	return e.clearGPC(DataGPC, idx, now)
}

// ClearGPC0 clears gpc0, or gpc[0] when only the array is stored.
func (e *Entry) ClearGPC0(now time.Time) (uint64, bool) { return e.clearGPC(DataGPC0, 0, now) }

// ClearGPC1 clears gpc1, or gpc[1] when only the array is stored.
func (e *Entry) ClearGPC1(now time.Time) (uint64, bool) { return e.clearGPC(DataGPC1, 0, now) }

func (e *Entry) clearGPC(dt DataType, idx int, now time.Time) (uint64, bool) {
	_, o, ok := e.t.lay.resolve(dt, idx)
	if !ok {
		return 0, false
	}
	v := atomic.SwapUint64(&e.words[o], 0)
	if e.share != nil {
		// Cleared fleet-wide: the next sync resets the fleet's total.
		e.share.others[o].Store(0)
		e.share.cleared[o].Store(true)
	}
	e.touch(now.UnixMilli())
	return v, true
}

// SetGPT sets the tag gpt[idx] (sc-set-gpt). Tags are 32-bit unsigned as in
// HAProxy.
func (e *Entry) SetGPT(idx int, v uint32, now time.Time) bool {
	return e.setWord(DataGPT, idx, uint64(v), now)
}

// SetGPT0 sets gpt0, or gpt[0] when only the array is stored.
func (e *Entry) SetGPT0(v uint32, now time.Time) bool {
	return e.setWord(DataGPT0, 0, uint64(v), now)
}

// SetServerID records the server the key sticks to.
func (e *Entry) SetServerID(id int32, now time.Time) bool {
	return e.setWord(DataServerID, 0, uint64(uint32(id)), now)
}

func (e *Entry) setWord(dt DataType, idx int, v uint64, now time.Time) bool {
	_, o, ok := e.t.lay.resolve(dt, idx)
	if !ok {
		return false
	}
	atomic.StoreUint64(&e.words[o], v)
	if e.share != nil && dataInfo[dt].kind == kindTag {
		e.share.dirty.Store(true)
	}
	e.touch(now.UnixMilli())
	return true
}
