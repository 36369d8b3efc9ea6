package stick

import (
	"net/netip"
	"testing"
	"time"
)

// TestShare_ReadsAddTheFleet: an entry of a shared table counts locally as
// an unshared one, notes what a syncer must push, and reads local + the
// rest of the fleet.
func TestShare_ReadsAddTheFleet(t *testing.T) {
	specs, err := ParseStores("conn_cur,http_req_cnt,http_req_rate(10s),gpc(1),gpt(1)")
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := NewTable(Def{Name: "t", Key: KeyIP, Size: 10, Store: specs, Shared: "redis"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_000_000_000_000) // a period boundary of 10s
	e, err := tbl.Acquire(KeyFromIP(netip.MustParseAddr("10.0.0.1")), now)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release(e, now)
	sh := e.Share()
	if sh == nil {
		t.Fatal("an entry of a shared table has no Share")
	}
	words := map[DataType]SharedWord{}
	for _, w := range tbl.SharedWords() {
		words[w.Type] = w
	}
	cnt, rate, gpc, cur := words[DataHTTPReqCnt], words[DataHTTPReqRate], words[DataGPC], words[DataConnCur]

	for range 3 {
		e.countPair(DataHTTPReqCnt, DataHTTPReqRate, 1, now)
	}
	// A counter is pushed whole (its local word is this instance's share);
	// a rate's events are noted for the fleet's wall-clock buckets.
	if got := e.Local(cnt.Off); got != 3 {
		t.Errorf("local http_req_cnt = %d, want 3", got)
	}
	if got := sh.TakePending(cnt.Off); got != 0 {
		t.Errorf("pending http_req_cnt = %d, want none: counters are pushed whole", got)
	}
	if got := sh.TakePending(rate.Off); got != 3 {
		t.Errorf("pending http_req_rate = %d, want 3", got)
	}
	if got := sh.TakePending(rate.Off); got != 0 {
		t.Errorf("pending after a take = %d, want 0", got)
	}

	sh.SetOthers(cnt.Off, 40)
	if got, _ := e.Get(DataHTTPReqCnt, 0, now); got != 43 {
		t.Errorf("http_req_cnt = %d, want 3 here + 40 elsewhere", got)
	}
	// Others' rate: 20 in the current bucket, 10 in the previous one, read
	// half way through the period: 20 + 10/2.
	epoch := RateEpoch(rate.Period, now)
	sh.SetOthersRate(rate.Off, epoch, 20, 10)
	mid := now.Add(5 * time.Second)
	if got, _ := e.Get(DataHTTPReqRate, 0, mid); got != 3+25 {
		t.Errorf("http_req_rate = %d, want 3 here + 25 elsewhere", got)
	}
	// A bucket later, others' current count is their previous one.
	if got, _ := e.Get(DataHTTPReqRate, 0, now.Add(15*time.Second)); got != 1+10 {
		t.Errorf("http_req_rate a period on = %d, want 1 here + 10 elsewhere", got)
	}
	// conn_cur is pushed as a value, never as a delta.
	e.addCounter(DataConnCur, 1)
	if got := sh.TakePending(cur.Off); got != 0 {
		t.Errorf("conn_cur left a pending delta %d", got)
	}
	sh.SetOthers(cur.Off, 4)
	if got, _ := e.Get(DataConnCur, 0, now); got != 5 || e.Local(cur.Off) != 1 {
		t.Errorf("conn_cur = %d (local %d), want 1 here + 4 elsewhere", got, e.Local(cur.Off))
	}
	// Clearing a counter clears it fleet-wide at the next sync.
	e.AddGPC(0, 2, now)
	sh.SetOthers(gpc.Off, 7)
	if old, _ := e.ClearGPC(0, now); old != 2 {
		t.Errorf("ClearGPC returned %d, want the local 2", old)
	}
	if got, _ := e.Get(DataGPC, 0, now); got != 0 {
		t.Errorf("gpc after clear = %d, want 0", got)
	}
	if !sh.TakeCleared(gpc.Off) || sh.TakeCleared(gpc.Off) {
		t.Error("a clear is taken exactly once")
	}
	// A tag set here is pushed, and a fleet tag does not overwrite it
	// until then.
	e.SetGPT(0, 9, now)
	e.SetFleetTag(words[DataGPT].Off, 1)
	if got, _ := e.Get(DataGPT, 0, now); got != 9 {
		t.Errorf("gpt = %d, want the local 9 until it is pushed", got)
	}
	if !sh.TakeDirty() {
		t.Error("a tag set here is not marked for the push")
	}
	e.SetFleetTag(words[DataGPT].Off, 1)
	if got, _ := e.Get(DataGPT, 0, now); got != 1 {
		t.Errorf("gpt = %d, want the fleet's 1 once pushed", got)
	}
}

// TestShare_UnsharedTableHasNone: an unshared table's entries carry no
// fleet state, so its request path is unchanged.
func TestShare_UnsharedTableHasNone(t *testing.T) {
	specs, _ := ParseStores("http_req_cnt")
	tbl, err := NewTable(Def{Name: "t", Key: KeyIP, Size: 10, Store: specs})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e, err := tbl.Acquire(KeyFromIP(netip.MustParseAddr("10.0.0.1")), now)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release(e, now)
	if e.Share() != nil || tbl.Shared() {
		t.Error("an unshared table's entry has a Share")
	}
}

// TestShare_FleetHolds: the counters and rates of a shared table, and
// conn_cur, are the fleet's (a process taking over entries must not seed
// them); tags and server_id are not, nor is anything of an unshared table.
func TestShare_FleetHolds(t *testing.T) {
	specs, err := ParseStores("conn_cur,http_req_cnt,http_req_rate(10s),gpc(1),gpc_rate(1,1s),gpt(1),server_id")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := NewTable(Def{Name: "s", Key: KeyIP, Size: 10, Store: specs, Shared: "redis"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := NewTable(Def{Name: "l", Key: KeyIP, Size: 10, Store: specs})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dt   DataType
		want bool
	}{
		{DataConnCur, true}, {DataHTTPReqCnt, true}, {DataHTTPReqRate, true}, {DataGPC, true}, {DataGPCRate, true},
		{DataGPT, false}, {DataServerID, false}, {numDataTypes, false},
	} {
		if got := shared.FleetHolds(c.dt); got != c.want {
			t.Errorf("shared table: FleetHolds(%v) = %v, want %v", c.dt, got, c.want)
		}
		if local.FleetHolds(c.dt) {
			t.Errorf("unshared table: FleetHolds(%v) = true", c.dt)
		}
	}
}
