package stick

import (
	"sync"
	"testing"
	"time"
)

func connTable(t testing.TB, name string) *Table {
	return newTestTable(t, Def{Name: name, Key: KeyIP, Size: 100, Expire: time.Minute,
		Store: mustStores(t, "conn_cur,conn_cnt,conn_rate(10s),sess_cnt,http_req_cnt,http_req_rate(10s),http_err_cnt,http_fail_cnt,bytes_in_cnt,bytes_out_cnt")})
}

func get(t testing.TB, tbl *Table, k Key, dt DataType) int64 {
	t.Helper()
	e, ok := tbl.Lookup(k, at(0))
	if !ok {
		t.Fatalf("no entry for %v in %s", k, tbl.Name())
	}
	v, ok := e.Get(dt, 0, at(0))
	if !ok {
		t.Fatalf("%s not stored in %s", dt, tbl.Name())
	}
	return v
}

func refs(t testing.TB, tbl *Table, k Key) int {
	t.Helper()
	e, ok := tbl.Lookup(k, at(0))
	if !ok {
		t.Fatalf("no entry for %v", k)
	}
	return e.Refs()
}

// TestSlots_Ownership covers who releases what.
func TestSlots_Ownership(t *testing.T) {
	a, b := ipKey("10.0.0.1"), ipKey("10.0.0.2")
	tests := []struct {
		name string
		run  func(t *testing.T, tbl, other *Table)
	}{
		{name: "session slot inherited by a stream is not released by the stream", run: func(t *testing.T, tbl, _ *Table) {
			var sess, strm Slots
			sess.Track(0, tbl, a, at(0)) // tcp-request connection track-sc0 src
			v := View{Stream: &strm, Session: &sess}
			_, e, owned, ok := v.Entry(0)
			if !ok || owned {
				t.Fatalf("stream view of sc0: ok=%v owned=%v, want inherited", ok, owned)
			}
			if _, _, owned, _ := (View{Session: &sess}).Entry(0); !owned {
				t.Fatal("session view of its own sc0 not owned")
			}
			for range 3 { // three keep-alive streams end
				strm.Release(at(1))
			}
			if got := get(t, tbl, a, DataConnCur); got != 1 || e.Refs() != 1 {
				t.Fatalf("after streams ended: conn_cur %d refs %d, want 1 1", got, e.Refs())
			}
			sess.Release(at(2))
			if got := get(t, tbl, a, DataConnCur); got != 0 || e.Refs() != 0 {
				t.Fatalf("after session ended: conn_cur %d refs %d", got, e.Refs())
			}
		}},
		{name: "stream-owned slot released by the stream", run: func(t *testing.T, tbl, _ *Table) {
			var sess, strm Slots
			v := View{Stream: &strm, Session: &sess}
			if !v.TrackRequest(1, tbl, a, at(0)) { // http-request track-sc1 src
				t.Fatal("not tracked")
			}
			if _, _, owned, _ := v.Entry(1); !owned {
				t.Fatal("stream slot not owned")
			}
			if get(t, tbl, a, DataConnCur) != 1 || get(t, tbl, a, DataHTTPReqCnt) != 1 {
				t.Fatal("tracking did not start conn_cur or count the request")
			}
			strm.Release(at(1))
			if get(t, tbl, a, DataConnCur) != 0 || refs(t, tbl, a) != 0 {
				t.Fatal("stream did not release its tracker")
			}
			strm.Release(at(2)) // twice: nothing more
			if get(t, tbl, a, DataConnCur) != 0 || tbl.underflows.Load() != 0 {
				t.Fatal("second release changed conn_cur")
			}
		}},
		{name: "stream slot shadows the session slot of the same number", run: func(t *testing.T, tbl, _ *Table) {
			var sess, strm Slots
			sess.Track(0, tbl, a, at(0))
			strm.Track(0, tbl, b, at(0))
			v := View{Stream: &strm, Session: &sess}
			_, e, owned, _ := v.Entry(0)
			if e.Key() != "10.0.0.2" || !owned {
				t.Fatalf("sc0 = %s owned %v, want the stream's", e.Key(), owned)
			}
			strm.Release(at(1))
			if _, e, _, _ := v.Entry(0); e.Key() != "10.0.0.1" {
				t.Fatalf("sc0 after stream release = %s, want the session's", e.Key())
			}
			sess.Release(at(1))
			if get(t, tbl, a, DataConnCur)+get(t, tbl, b, DataConnCur) != 0 {
				t.Fatal("conn_cur left")
			}
		}},
		{name: "same entry in two slots counted once", run: func(t *testing.T, tbl, _ *Table) {
			var sess, strm Slots
			sess.Track(0, tbl, a, at(0))
			v := View{Stream: &strm, Session: &sess}
			v.CountHTTPReq(at(1)) // request starts: counted on sc0
			if !v.TrackRequest(1, tbl, a, at(1)) {
				t.Fatal("not tracked")
			}
			// http-request track-sc1 on the session's entry: not counted again.
			if got := get(t, tbl, a, DataHTTPReqCnt); got != 1 {
				t.Fatalf("http_req_cnt = %d after tracking the same entry, want 1", got)
			}
			v.CountHTTPErr(at(2))
			v.CountHTTPFail(at(2))
			v.CountBytesIn(100, at(2))
			v.CountBytesOut(200, at(2))
			for dt, want := range map[DataType]int64{
				DataHTTPReqCnt: 1, DataHTTPReqRate: 1, DataHTTPErrCnt: 1, DataHTTPFailCnt: 1,
				DataBytesInCnt: 100, DataBytesOutCnt: 200,
				DataConnCur: 2, DataConnCnt: 2, // two trackers: two connections, as in HAProxy
			} {
				if got := get(t, tbl, a, dt); got != want {
					t.Errorf("%s = %d, want %d", dt, got, want)
				}
			}
			strm.Release(at(3))
			sess.Release(at(3))
			if get(t, tbl, a, DataConnCur) != 0 || refs(t, tbl, a) != 0 {
				t.Fatal("not back to zero")
			}
		}},
		{name: "same key in two tables counted on both", run: func(t *testing.T, tbl, other *Table) {
			var sess, strm Slots
			sess.Track(0, tbl, a, at(0))
			v := View{Stream: &strm, Session: &sess}
			v.TrackRequest(1, other, a, at(0))
			v.CountHTTPReq(at(1))
			if get(t, tbl, a, DataHTTPReqCnt) != 1 || get(t, other, a, DataHTTPReqCnt) != 2 {
				t.Fatalf("http_req_cnt %d and %d, want 1 and 2 (the second counted at tracking)",
					get(t, tbl, a, DataHTTPReqCnt), get(t, other, a, DataHTTPReqCnt))
			}
			strm.Release(at(2))
			sess.Release(at(2))
			if get(t, tbl, a, DataConnCur)+get(t, other, a, DataConnCur) != 0 {
				t.Fatal("conn_cur left")
			}
		}},
		{name: "second track on a used slot is ignored", run: func(t *testing.T, tbl, _ *Table) {
			var sess Slots
			if !sess.Track(0, tbl, a, at(0)) || sess.Track(0, tbl, b, at(0)) || sess.Track(0, tbl, a, at(0)) {
				t.Fatal("second track-sc0 not ignored")
			}
			if _, ok := tbl.Lookup(b, at(0)); ok {
				t.Fatal("ignored track created an entry")
			}
			if get(t, tbl, a, DataConnCur) != 1 || get(t, tbl, a, DataConnCnt) != 1 {
				t.Fatal("ignored track counted")
			}
			sess.Release(at(1))
		}},
		{name: "slot numbers out of range", run: func(t *testing.T, tbl, _ *Table) {
			var s Slots
			if s.Track(-1, tbl, a, at(0)) || s.Track(DefaultSlots, tbl, a, at(0)) || s.Track(0, nil, a, at(0)) {
				t.Fatal("tracked out of range")
			}
			s.Init(5)
			if !s.Track(4, tbl, a, at(0)) || s.Len() != 5 || s.Tracked() != 1 {
				t.Fatal("Init(5) did not give 5 slots")
			}
			if _, _, _, ok := (View{}).Entry(0); ok {
				t.Fatal("empty view has an entry")
			}
			s.Release(at(1))
		}},
		{name: "sessions are counted on session trackers", run: func(t *testing.T, tbl, _ *Table) {
			var sess Slots
			sess.Track(0, tbl, a, at(0))
			sess.Track(1, tbl, a, at(0))
			sess.Track(2, tbl, b, at(0))
			View{Session: &sess}.CountSess(at(0))
			if get(t, tbl, a, DataSessCnt) != 1 || get(t, tbl, b, DataSessCnt) != 1 {
				t.Fatal("sess_cnt not counted once per entry")
			}
			sess.Release(at(1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, other := connTable(t, "main"), connTable(t, "other")
			tt.run(t, tbl, other)
			for _, x := range []*Table{tbl, other} {
				if n := x.underflows.Load(); n != 0 {
					t.Fatalf("%s: %d conn_cur underflows", x.Name(), n)
				}
			}
		})
	}
}

// TestSlots_SessionTracksWhileStreamsRead: a session adds trackers while
// concurrent streams (HTTP/2) read and count through their views.
func TestSlots_SessionTracksWhileStreamsRead(t *testing.T) {
	tbl := connTable(t, "t")
	var sess Slots
	sess.Init(MaxSlots)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var strm Slots
			v := View{Stream: &strm, Session: &sess}
			for {
				select {
				case <-stop:
					return
				default:
				}
				v.CountHTTPReq(at(0))
				for n := range MaxSlots {
					if _, e, _, ok := v.Entry(n); ok {
						e.Get(DataConnCur, 0, at(0))
					}
				}
			}
		}()
	}
	for n := range MaxSlots {
		// two goroutines race to track the same slot: one wins
		var won sync.WaitGroup
		results := make(chan bool, 2)
		for range 2 {
			won.Add(1)
			go func() {
				defer won.Done()
				results <- sess.Track(n, tbl, keyN(n%5), at(0))
			}()
		}
		won.Wait()
		if a, b := <-results, <-results; a == b {
			t.Fatalf("slot %d: both or neither tracked (%v %v)", n, a, b)
		}
	}
	close(stop)
	wg.Wait()
	if sess.Tracked() != MaxSlots {
		t.Fatalf("tracked %d", sess.Tracked())
	}
	sess.Release(at(1))
	tbl.Dump(at(1), nil, func(v EntryView) {
		if c, _ := v.Entry.Get(DataConnCur, 0, at(1)); v.Refs != 0 || c != 0 {
			t.Errorf("%s", v)
		}
	})
}
