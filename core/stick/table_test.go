package stick

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyN returns the n-th test address.
func keyN(n int) Key {
	return KeyFromIP(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}))
}

// touchAt creates or refreshes key at ms and leaves it idle.
func touchAt(t testing.TB, tbl *Table, k Key, ms int64) {
	t.Helper()
	e, err := tbl.Acquire(k, at(ms))
	if err != nil {
		t.Fatalf("Acquire(%v) at %d: %v", k, ms, err)
	}
	tbl.Release(e, at(ms))
}

func present(tbl *Table, k Key, ms int64) bool {
	_, ok := tbl.Lookup(k, at(ms))
	return ok
}

func TestTable_LookupDoesNotCreate(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 4, Store: mustStores(t, "gpc(1)")})
	if _, ok := tbl.Lookup(keyN(1), at(0)); ok {
		t.Fatal("Lookup found an entry in an empty table")
	}
	if tbl.Len() != 0 || tbl.Avail() != 4 {
		t.Fatalf("Len %d Avail %d after Lookup", tbl.Len(), tbl.Avail())
	}
	e, err := tbl.Acquire(keyN(1), at(0))
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != 1 || tbl.Avail() != 3 || e.Refs() != 1 {
		t.Fatalf("Len %d Avail %d refs %d after Acquire", tbl.Len(), tbl.Avail(), e.Refs())
	}
	// src_inc_gpc: acquire (creating), modify, release.
	if v, ok := e.IncGPC(0, at(0)); !ok || v != 1 {
		t.Fatalf("IncGPC = %d, %v", v, ok)
	}
	tbl.Release(e, at(0))
	got, ok := tbl.Lookup(keyN(1), at(0))
	if !ok || got != e || got.Refs() != 0 {
		t.Fatalf("Lookup = %v, %v", got, ok)
	}
	if v, _ := got.Get(DataGPC, 0, at(0)); v != 1 {
		t.Fatalf("gpc[0] = %d", v)
	}
}

// TestTable_Expiry: an idle entry goes Expire after its last touch, by
// Sweep or when a lookup meets it; touching pushes the expiry back.
func TestTable_Expiry(t *testing.T) {
	tests := []struct {
		name    string
		touches []int64 // ms of the touches of key 1
		probe   int64
		sweep   bool
		want    bool // still present
	}{
		{name: "just before expiry", touches: []int64{0}, probe: 9999, want: true},
		{name: "at expiry (lookup)", touches: []int64{0}, probe: 10000, want: false},
		{name: "at expiry (sweep)", touches: []int64{0}, probe: 10000, sweep: true, want: false},
		{name: "sweep before expiry", touches: []int64{0}, probe: 9999, sweep: true, want: true},
		{name: "touch pushes expiry", touches: []int64{0, 8000}, probe: 17999, sweep: true, want: true},
		{name: "touch pushes expiry, then expires", touches: []int64{0, 8000}, probe: 18000, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 10, Expire: 10 * time.Second, Store: mustStores(t, "conn_cnt")})
			for _, ms := range tt.touches {
				touchAt(t, tbl, keyN(1), ms)
			}
			if tt.sweep {
				n := tbl.Sweep(at(tt.probe))
				if (n == 1) == tt.want {
					t.Fatalf("Sweep removed %d", n)
				}
				if got := tbl.Len() == 1; got != tt.want {
					t.Fatalf("Len = %d after Sweep", tbl.Len())
				}
			}
			if got := present(tbl, keyN(1), tt.probe); got != tt.want {
				t.Fatalf("present = %v, want %v", got, tt.want)
			}
			if tt.want != (tbl.Len() == 1) {
				t.Fatalf("Len = %d", tbl.Len())
			}
		})
	}
}

// TestTable_ExpiredEntryRestarts: acquiring an expired key gives a fresh
// entry, as HAProxy's expiry task would have removed the old one.
func TestTable_ExpiredEntryRestarts(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 10, Expire: time.Second, Store: mustStores(t, "gpc(1)")})
	e, _ := tbl.Acquire(keyN(1), at(0))
	e.IncGPC(0, at(0))
	tbl.Release(e, at(0))
	e2, _ := tbl.Acquire(keyN(1), at(5000))
	defer tbl.Release(e2, at(5000))
	if e2 == e {
		t.Fatal("expired entry reused")
	}
	if v, _ := e2.Get(DataGPC, 0, at(5000)); v != 0 || tbl.Len() != 1 {
		t.Fatalf("gpc = %d, Len = %d", v, tbl.Len())
	}
}

// TestTable_LRUEviction: a full table evicts its least recently touched
// idle entry, whatever shard it is in.
func TestTable_LRUEviction(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		touches []int   // key numbers, touched at 1ms intervals
		add     []int   // keys created afterwards, one by one
		evicted [][]int // after each add, keys gone
		kept    []int   // present at the end
		expire  time.Duration
	}{
		{name: "oldest goes", size: 3, touches: []int{1, 2, 3}, add: []int{4},
			evicted: [][]int{{1}}, kept: []int{2, 3, 4}},
		{name: "retouched survives", size: 3, touches: []int{1, 2, 3, 1}, add: []int{4, 5},
			evicted: [][]int{{2}, {2, 3}}, kept: []int{1, 4, 5}},
		{name: "in insertion order", size: 4, touches: []int{4, 3, 2, 1}, add: []int{5, 6, 7},
			evicted: [][]int{{4}, {4, 3}, {4, 3, 2}}, kept: []int{1, 5, 6, 7}},
		{name: "without expiry too", size: 2, touches: []int{7, 8, 7}, add: []int{9},
			evicted: [][]int{{8}}, kept: []int{7, 9}, expire: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := time.Hour
			if tt.expire < 0 {
				exp = 0
			}
			tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: tt.size, Expire: exp})
			ms := int64(0)
			for _, k := range tt.touches {
				touchAt(t, tbl, keyN(k), ms)
				ms++
			}
			for i, k := range tt.add {
				touchAt(t, tbl, keyN(k), ms)
				ms++
				for _, gone := range tt.evicted[i] {
					if present(tbl, keyN(gone), ms) {
						t.Fatalf("after adding %d: key %d still present", k, gone)
					}
				}
				if tbl.Len() != tt.size || tbl.Avail() != 0 {
					t.Fatalf("Len %d Avail %d", tbl.Len(), tbl.Avail())
				}
			}
			for _, k := range tt.kept {
				if !present(tbl, keyN(k), ms) {
					t.Fatalf("key %d evicted", k)
				}
			}
		})
	}
}

// TestTable_ReferencedNeverGoes: an entry with references is neither
// expired nor evicted, and when every entry is referenced creation fails.
func TestTable_ReferencedNeverGoes(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 2, Expire: time.Second, Store: mustStores(t, "conn_cur")})
	touchAt(t, tbl, keyN(1), 0)
	held, _ := tbl.Acquire(keyN(1), at(0)) // oldest, idle then referenced again
	touchAt(t, tbl, keyN(2), 1)

	// Long after expiry: the idle entry goes, the held one stays.
	if n := tbl.Sweep(at(60000)); n != 1 {
		t.Fatalf("Sweep removed %d, want 1", n)
	}
	if _, ok := tbl.Lookup(keyN(1), at(60000)); !ok {
		t.Fatal("referenced entry expired")
	}
	// Full: eviction takes the idle entry, never the held one.
	touchAt(t, tbl, keyN(3), 60001)
	touchAt(t, tbl, keyN(4), 60002)
	if !present(tbl, keyN(1), 60002) || present(tbl, keyN(3), 60002) || !present(tbl, keyN(4), 60002) {
		t.Fatal("wrong entry evicted")
	}
	// Everything referenced: no creation, and no damage.
	held4, _ := tbl.Acquire(keyN(4), at(60003))
	if _, err := tbl.Acquire(keyN(5), at(60004)); !errors.Is(err, ErrFull) {
		t.Fatalf("Acquire in a table full of referenced entries: %v", err)
	}
	var s Slots
	if s.Track(0, tbl, keyN(5), at(60004)) {
		t.Fatal("Track succeeded in a table full of referenced entries")
	}
	if tbl.Len() != 2 || held.Refs() != 1 || held4.Refs() != 1 {
		t.Fatalf("Len %d refs %d %d", tbl.Len(), held.Refs(), held4.Refs())
	}
	// Releasing an entry that expired while held removes it at once.
	tbl.Release(held, at(60005))
	if present(tbl, keyN(1), 60005) || tbl.Len() != 1 {
		t.Fatalf("expired entry kept after its last release (Len %d)", tbl.Len())
	}
	tbl.Release(held4, at(60005))
	if !present(tbl, keyN(4), 60005) {
		t.Fatal("fresh entry removed on release")
	}
}

func TestTable_NoPurge(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 1, NoPurge: true})
	touchAt(t, tbl, keyN(1), 0)
	if _, err := tbl.Acquire(keyN(2), at(1)); !errors.Is(err, ErrFull) {
		t.Fatalf("nopurge table evicted: %v", err)
	}
	if !present(tbl, keyN(1), 1) {
		t.Fatal("entry lost")
	}
}

func TestTable_Delete(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 4})
	e, _ := tbl.Acquire(keyN(1), at(0))
	tests := []struct {
		name string
		key  Key
		want error
	}{
		{name: "in use", key: keyN(1), want: ErrInUse},
		{name: "absent", key: keyN(2), want: ErrNotFound},
		{name: "wrong type", key: KeyFromInt(1), want: ErrKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tbl.Delete(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("Delete = %v, want %v", err, tt.want)
			}
		})
	}
	tbl.Release(e, at(0))
	if err := tbl.Delete(keyN(1)); err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != 0 || present(tbl, keyN(1), 0) {
		t.Fatal("entry not deleted")
	}
}

func TestEntry_GeneralPurpose(t *testing.T) {
	now := at(0)
	tests := []struct {
		name  string
		store string
		run   func(e *Entry) []int64
		want  []int64
	}{
		{name: "gpc array", store: "gpc(2),gpc_rate(2,10s)", run: func(e *Entry) []int64 {
			a, _ := e.IncGPC(0, now)
			b, _ := e.IncGPC(1, now)
			c, _ := e.IncGPC(1, now)
			_, out := e.IncGPC(2, now)
			r, _ := e.Get(DataGPCRate, 1, now)
			prev, _ := e.ClearGPC(1, now)
			g1, _ := e.Get(DataGPC, 1, now)
			r2, _ := e.Get(DataGPCRate, 1, now) // clearing leaves the rate
			return []int64{int64(a), int64(b), int64(c), b2i(out), r, int64(prev), g1, r2}
		}, want: []int64{1, 1, 2, 0, 2, 2, 0, 2}},
		{name: "legacy names fall back on arrays", store: "gpc(2),gpc_rate(2,1s),gpt(1)", run: func(e *Entry) []int64 {
			e.IncGPC0(now)
			e.IncGPC1(now)
			e.IncGPC1(now)
			e.SetGPT0(7, now)
			g0, _ := e.Get(DataGPC0, 0, now)
			g1, _ := e.Get(DataGPC1, 0, now)
			a0, _ := e.Get(DataGPC, 0, now)
			a1, _ := e.Get(DataGPC, 1, now)
			r1, _ := e.Get(DataGPC1Rate, 0, now)
			t0, _ := e.Get(DataGPT, 0, now)
			prev, _ := e.ClearGPC1(now)
			return []int64{g0, g1, a0, a1, r1, t0, int64(prev)}
		}, want: []int64{1, 2, 1, 2, 2, 7, 2}},
		{name: "legacy names stored", store: "gpc0,gpc1,gpc0_rate(1s),gpt0", run: func(e *Entry) []int64 {
			v, _ := e.IncGPC0(now)
			e.IncGPC1(now)
			_, arr := e.IncGPC(0, now) // the array is not stored
			r, _ := e.Get(DataGPC0Rate, 0, now)
			e.SetGPT0(3, now)
			t0, _ := e.Get(DataGPT0, 0, now)
			return []int64{int64(v), b2i(arr), r, t0}
		}, want: []int64{1, 0, 1, 3}},
		{name: "rate only returns the current period count", store: "gpc_rate(1,10s)", run: func(e *Entry) []int64 {
			e.IncGPC(0, now)
			v, ok := e.IncGPC(0, now)
			return []int64{int64(v), b2i(ok)}
		}, want: []int64{2, 1}},
		{name: "tags and server id are 32-bit", store: "gpt(2),server_id", run: func(e *Entry) []int64 {
			e.SetGPT(1, 1<<31, now)
			e.SetServerID(-3, now)
			g, _ := e.Get(DataGPT, 1, now)
			s, _ := e.Get(DataServerID, 0, now)
			_, missing := e.Get(DataGPT, 2, now)
			_, scalarIdx := e.Get(DataServerID, 1, now)
			return []int64{g, s, b2i(missing), b2i(scalarIdx)}
		}, want: []int64{1 << 31, -3, 0, 0}},
		{name: "set", store: "conn_cnt,http_req_rate(10s),gpt(1),server_id", run: func(e *Entry) []int64 {
			e.Set(DataConnCnt, 0, 42, now)
			e.Set(DataHTTPReqRate, 0, 100, now)
			e.Set(DataGPT, 0, -1, now)
			e.Set(DataServerID, 0, 1<<32+5, now)
			err := e.Set(DataBytesInCnt, 0, 1, now)
			c, _ := e.Get(DataConnCnt, 0, now)
			r, _ := e.Get(DataHTTPReqRate, 0, at(5000))
			g, _ := e.Get(DataGPT, 0, now)
			s, _ := e.Get(DataServerID, 0, now)
			return []int64{c, r, g, s, b2i(errors.Is(err, ErrNotStored))}
		}, want: []int64{42, 100, 4294967295, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := newTestTable(t, Def{Name: "g", Key: KeyIP, Size: 2, Store: mustStores(t, tt.store)})
			e, _ := tbl.Acquire(keyN(1), now)
			defer tbl.Release(e, now)
			if got := tt.run(e); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestTable_Dump checks the "show table" rendering.
func TestTable_Dump(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "per_ip", Key: KeyIP, Size: 100, Expire: 30 * time.Second,
		Store: mustStores(t, "http_req_rate(10s),conn_cur,gpc(2),gpc_rate(2,1m),gpt(1),server_id,bytes_in_cnt")})
	var sess Slots
	sess.Track(0, tbl, ipKey("192.0.2.1"), at(0))
	v := View{Session: &sess}
	v.CountHTTPReq(at(1000))
	v.CountHTTPReq(at(2000))
	v.CountBytesIn(1500, at(2000))
	_, e, _, _ := v.Entry(0)
	e.IncGPC(1, at(2000))
	e.SetServerID(3, at(2000))
	touchAt(t, tbl, ipKey("2001:db8::1"), 3000)

	var lines []string
	tbl.Dump(at(5000), nil, func(v EntryView) { lines = append(lines, v.String()) })
	slices.Sort(lines)
	want := []string{
		"key=192.0.2.1 use=1 exp=27000 server_id=3 conn_cur=1 http_req_rate(10000)=2 bytes_in_cnt=1500 gpt0=0 gpc0=0 gpc1=1 gpc0_rate(60000)=0 gpc1_rate(60000)=1",
		"key=2001:db8::1 use=0 exp=28000 server_id=0 conn_cur=0 http_req_rate(10000)=0 bytes_in_cnt=0 gpt0=0 gpc0=0 gpc1=0 gpc0_rate(60000)=0 gpc1_rate(60000)=0",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("dump:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if h := tbl.Header(); h != "# table: per_ip, type: ip, size:100, used:2" {
		t.Fatalf("header %q", h)
	}
	// A filter: "data.conn_cur gt 0".
	var keys []string
	tbl.Dump(at(5000), func(e *Entry) bool {
		v, _ := e.Get(DataConnCur, 0, at(5000))
		return v > 0
	}, func(v EntryView) { keys = append(keys, v.Key) })
	if fmt.Sprint(keys) != "[192.0.2.1]" {
		t.Fatalf("filtered dump %v", keys)
	}
	sess.Release(at(6000))
}

func TestTable_Stores(t *testing.T) {
	tbl := newTestTable(t, Def{Name: "t", Key: KeyIP, Size: 1, Store: mustStores(t, "gpc(2),conn_cur")})
	for dt, want := range map[DataType]bool{
		DataGPC: true, DataGPC0: true, DataGPC1: true, DataConnCur: true,
		DataConnRate: false, DataGPT0: false, DataGPCRate: false,
	} {
		if got := tbl.Stores(dt); got != want {
			t.Errorf("Stores(%s) = %v, want %v", dt, got, want)
		}
	}
}
