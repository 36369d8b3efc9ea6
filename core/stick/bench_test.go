package stick

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchStore = "conn_cur,conn_rate(10s),http_req_rate(10s)"

// coarseClock is the shared millisecond clock of the proxy: one goroutine
// advances it, request paths only load it.
type coarseClock struct {
	ms   atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
}

func startClock() *coarseClock {
	c := &coarseClock{stop: make(chan struct{})}
	start := time.Now()
	c.ms.Store(t0)
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-tk.C:
				c.ms.Store(t0 + now.Sub(start).Milliseconds())
			}
		}
	}()
	return c
}

func (c *coarseClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

func (c *coarseClock) close() { close(c.stop); c.done.Wait() }

func benchTable(b *testing.B, size int) *Table {
	tbl, err := NewTable(Def{Name: "bench", Key: KeyIP, Size: size, Expire: 10 * time.Minute, Store: mustStores(b, benchStore)})
	if err != nil {
		b.Fatal(err)
	}
	return tbl
}

// BenchmarkTable_TrackUpdateParallel: lookup-or-create, one http_req_rate
// update and release, from all CPUs, on a hot set of keys that all exist.
// "acquire" uses Acquire/Release; "track" goes through tracker slots as a
// session would (Track, CountHTTPReq, Release: conn_cur and conn_rate too).
func BenchmarkTable_TrackUpdateParallel(b *testing.B) {
	for _, hot := range []int{16, 1024} {
		keys := make([]Key, hot)
		for i := range keys {
			keys[i] = keyN(i)
		}
		b.Run("acquire/hot="+itoa(hot), func(b *testing.B) {
			clk := startClock()
			defer clk.close()
			tbl := benchTable(b, 1<<20)
			for _, k := range keys {
				e, _ := tbl.Acquire(k, clk.now())
				tbl.Release(e, clk.now())
			}
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 0))
				for pb.Next() {
					now := clk.now()
					e, err := tbl.Acquire(keys[rng.IntN(hot)], now)
					if err != nil {
						b.Fatal(err)
					}
					e.countPair(DataHTTPReqCnt, DataHTTPReqRate, 1, now)
					tbl.Release(e, now)
				}
			})
		})
		b.Run("track/hot="+itoa(hot), func(b *testing.B) {
			clk := startClock()
			defer clk.close()
			tbl := benchTable(b, 1<<20)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 0))
				var sess Slots // pooled with the session object
				v := View{Session: &sess}
				for pb.Next() {
					now := clk.now()
					sess.Track(0, tbl, keys[rng.IntN(hot)], now)
					v.CountHTTPReq(now)
					sess.Release(now)
				}
			})
		})
	}
}

// BenchmarkView_CountHTTPReq: counting a request on entries already tracked
// (the per-request cost once a connection is tracked), sc0 shared by all
// goroutines (one hot client) or one entry each.
func BenchmarkView_CountHTTPReq(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "spread"
		if shared {
			name = "shared"
		}
		b.Run(name, func(b *testing.B) {
			clk := startClock()
			defer clk.close()
			tbl := benchTable(b, 1<<16)
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := keyN(0)
				if !shared {
					k = keyN(int(n.Add(1)))
				}
				var sess Slots
				sess.Track(0, tbl, k, clk.now())
				v := View{Session: &sess}
				for pb.Next() {
					v.CountHTTPReq(clk.now())
				}
				sess.Release(clk.now())
			})
		})
	}
}

// BenchmarkEntry_UpdateStrategy compares two ways of counting one request
// (http_req_cnt, http_req_rate, touch) on an entry the caller holds: the
// lock-free atomic update used here, and plain updates under the entry's
// shard mutex. "shared": all goroutines on one entry; "sameshard": one
// entry each, all in one shard; "distinct": one entry each, in different
// shards.
func BenchmarkEntry_UpdateStrategy(b *testing.B) {
	type plainEntry struct {
		cnt              uint64
		tick, curr, prev uint32
		touched          int64
		_                [40]byte
	}
	plainAdd := func(c *plainEntry, period uint32, ms int64) {
		now := uint32(ms)
		c.cnt++
		if now-c.tick >= period {
			c.prev = c.curr
			c.tick += period
			if now-c.tick >= period {
				c.prev, c.tick = 0, now
			}
			c.tick &^= 1
			c.curr = 0
		}
		c.curr++
		if ms > c.touched {
			c.touched = ms
		}
	}
	for _, mode := range []string{"shared", "sameshard", "distinct"} {
		b.Run("atomic/"+mode, func(b *testing.B) {
			clk := startClock()
			defer clk.close()
			tbl := benchTable(b, 1<<16)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				k := keyN(0)
				if mode != "shared" {
					k = keyN(int(n.Add(1)))
				}
				e, _ := tbl.Acquire(k, clk.now())
				for pb.Next() {
					e.countPair(DataHTTPReqCnt, DataHTTPReqRate, 1, clk.now())
				}
				tbl.Release(e, clk.now())
			})
		})
		b.Run("shardlock/"+mode, func(b *testing.B) {
			clk := startClock()
			defer clk.close()
			var locks [numShards]struct {
				sync.Mutex
				_ [56]byte
			}
			entries := make([]plainEntry, 64)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				g := int(n.Add(1))
				mu, c := &locks[0], &entries[0]
				switch mode {
				case "sameshard":
					c = &entries[g]
				case "distinct":
					mu, c = &locks[g], &entries[g]
				}
				for pb.Next() {
					ms := clk.now().UnixMilli()
					mu.Lock()
					plainAdd(c, 10000, ms)
					mu.Unlock()
				}
			})
		})
	}
}

// BenchmarkTable_CreateEvict: creating new keys in a full table, each
// creation evicting the least recently used entry.
func BenchmarkTable_CreateEvict(b *testing.B) {
	clk := startClock()
	defer clk.close()
	tbl := benchTable(b, 1<<14)
	var ctr atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := ctr.Add(1)
			now := clk.now()
			e, err := tbl.Acquire(keyN(int(i)), now)
			if err != nil {
				b.Fatal(err)
			}
			tbl.Release(e, now)
		}
	})
}

// BenchmarkTable_MemoryPerEntry reports the heap bytes per entry of an ip
// table storing conn_cur, conn_rate(10s) and http_req_rate(10s), map and
// shard overhead included.
func BenchmarkTable_MemoryPerEntry(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(itoa(n), func(b *testing.B) {
			now := time.UnixMilli(t0)
			var total float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				tbl := benchTable(b, n)
				for i := range n {
					e, err := tbl.Acquire(keyN(i), now)
					if err != nil {
						b.Fatal(err)
					}
					tbl.Release(e, now)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				total += float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(tbl)
			}
			b.ReportMetric(total/float64(b.N), "bytes/entry")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
