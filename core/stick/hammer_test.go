package stick

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// live reports whether e is still in its table.
func live(e *Entry) bool {
	sh := &e.t.shards[e.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return !e.dead()
}

// TestHammer simulates sessions with streams (sequential and concurrent)
// tracking random keys at session and stream level, with random aborts,
// sessions adding trackers while their streams run, concurrent sweeps,
// dumps and deletes, and tables too small for the key space. Throughout,
// an entry held by a tracker has conn_cur and refs of at least 1 and no
// conn_cur ever goes below zero; at the end every conn_cur and every
// reference count is exactly 0.
func TestHammer(t *testing.T) {
	sessions := 200
	if testing.Short() {
		sessions = 60
	}
	const workers = 12
	store := "conn_cur,conn_cnt,conn_rate(100),sess_cnt,http_req_cnt,http_req_rate(100),bytes_in_cnt,bytes_out_rate(50),gpc(1)"
	small := newTestTable(t, Def{Name: "small", Key: KeyIP, Size: 10, Expire: 40 * time.Millisecond, Store: mustStores(t, store)})
	big := newTestTable(t, Def{Name: "big", Key: KeyIP, Size: 4096, Expire: 200 * time.Millisecond, Store: mustStores(t, store)})
	strs := newTestTable(t, Def{Name: "strs", Key: KeyString, KeyLen: 8, Size: 64, Store: mustStores(t, "conn_cur,http_req_cnt")})
	tables := []*Table{small, big, strs}

	// A coarse clock that the sweeper advances; goroutines read it at
	// different moments, so their "now" differ by a few milliseconds.
	var clock atomic.Int64
	clock.Store(t0)
	now := func() time.Time { return time.UnixMilli(clock.Load()) }

	var failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	key := func(rng *rand.Rand, tbl *Table) Key {
		if tbl == strs {
			b := []byte("path/000000")
			b[len(b)-1] = byte('0' + rng.IntN(10))
			b[len(b)-2] = byte('0' + rng.IntN(10))
			return KeyFromString(b, 0) // truncated to 8 bytes: 10 keys
		}
		return keyN(rng.IntN(40))
	}
	// check verifies what a holder can see of the entries of its view.
	check := func(v View) {
		var buf [2 * MaxSlots]*Entry
		for _, e := range buf[:v.distinct(&buf)] {
			if c, _ := e.Get(DataConnCur, 0, now()); c < 1 {
				fail("tracked entry %s of %s has conn_cur %d", e.Key(), e.t.Name(), c)
			}
			if e.Refs() < 1 {
				fail("tracked entry %s of %s has refs %d", e.Key(), e.t.Name(), e.Refs())
			}
			if !live(e) {
				fail("tracked entry %s of %s was removed from its table", e.Key(), e.t.Name())
			}
		}
	}

	stream := func(rng *rand.Rand, strm *Slots, sess *Slots) {
		v := View{Stream: strm, Session: sess}
		for n := range DefaultSlots {
			if rng.IntN(3) == 0 {
				tbl := tables[rng.IntN(len(tables))]
				v.TrackRequest(n, tbl, key(rng, tbl), now())
			}
		}
		check(v)
		if rng.IntN(8) == 0 {
			strm.Release(now()) // aborted early
			return
		}
		v.CountHTTPReq(now())
		v.CountBytesIn(int64(rng.IntN(1000)), now())
		v.CountBytesOut(int64(rng.IntN(1000)), now())
		if _, e, _, ok := v.Entry(rng.IntN(DefaultSlots)); ok {
			e.IncGPC(0, now())
		}
		check(v)
		strm.Release(now())
		check(View{Session: sess})
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var sess Slots // pooled: reused across sessions
			streams := make([]Slots, 4)
			for range sessions {
				// tcp-request connection / session rules
				for n := range DefaultSlots {
					if rng.IntN(2) == 0 {
						tbl := tables[rng.IntN(len(tables))]
						sess.Track(n, tbl, key(rng, tbl), now())
					}
				}
				sv := View{Session: &sess}
				sv.CountSess(now())
				check(sv)
				if rng.IntN(10) == 0 {
					sess.Release(now()) // aborted before any stream
					continue
				}
				if rng.IntN(2) == 0 {
					// HTTP/1.1 keep-alive: streams one after the other
					for range 1 + rng.IntN(4) {
						stream(rng, &streams[0], &sess)
					}
				} else {
					// HTTP/2: concurrent streams while the session adds a
					// tracker to a free slot
					var sw sync.WaitGroup
					for i := range 1 + rng.IntN(len(streams)) {
						sw.Add(1)
						seed := rng.Uint64()
						go func() {
							defer sw.Done()
							stream(rand.New(rand.NewPCG(seed, 1)), &streams[i], &sess)
						}()
					}
					tbl := tables[rng.IntN(len(tables))]
					sess.Track(rng.IntN(DefaultSlots), tbl, key(rng, tbl), now())
					sw.Wait()
				}
				check(sv)
				sess.Release(now())
				if rng.IntN(50) == 0 {
					sess.Release(now()) // a double release must be harmless
				}
			}
		}()
	}

	// Sweeper, dumper and deleter run until the sessions are done.
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			clock.Add(1)
			for _, tbl := range tables {
				tbl.Sweep(now())
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	go func() {
		defer bg.Done()
		rng := rand.New(rand.NewPCG(99, 99))
		for {
			select {
			case <-done:
				return
			default:
			}
			tbl := tables[rng.IntN(len(tables))]
			tbl.Dump(now(), nil, func(v EntryView) {
				c, _ := v.Entry.Get(DataConnCur, 0, now())
				if c < 0 || v.Refs < 0 {
					fail("dump: %s conn_cur %d refs %d", v.Key, c, v.Refs)
				}
			})
			if err := tbl.Delete(key(rng, tbl)); err != nil && !errors.Is(err, ErrInUse) && !errors.Is(err, ErrNotFound) {
				fail("Delete: %v", err)
			}
			if l := tbl.Len(); l < 0 || l > tbl.def.Size {
				fail("%s: Len %d out of 0..%d", tbl.Name(), l, tbl.def.Size)
			}
		}
	}()
	wg.Wait()
	close(done)
	bg.Wait()

	for _, tbl := range tables {
		if n := tbl.underflows.Load(); n != 0 {
			t.Errorf("%s: conn_cur decremented below zero %d times", tbl.Name(), n)
		}
		entries := 0
		tbl.Dump(now(), nil, func(v EntryView) {
			entries++
			if c, _ := v.Entry.Get(DataConnCur, 0, now()); c != 0 || v.Refs != 0 {
				t.Errorf("%s: %s", tbl.Name(), v)
			}
		})
		if entries != tbl.Len() {
			t.Errorf("%s: dump saw %d entries, Len %d", tbl.Name(), entries, tbl.Len())
		}
		// Everything is idle now: a sweep far in the future empties it.
		tbl.Sweep(now().Add(time.Hour))
		if tbl.def.Expire > 0 && tbl.Len() != 0 {
			t.Errorf("%s: %d entries left after the final sweep", tbl.Name(), tbl.Len())
		}
	}
}
