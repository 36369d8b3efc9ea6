package stick

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestStore_Reload(t *testing.T) {
	perIP := Def{Name: "per_ip", Key: KeyIP, Size: 100, Expire: time.Minute, Store: mustStores(t, "conn_cur,http_req_rate(10s)")}
	perPath := Def{Name: "per_path", Key: KeyString, Size: 100, Store: mustStores(t, "http_req_cnt")}
	s := NewStore()

	gen1, err := s.Build([]Def{perIP, perPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(gen1); err != nil {
		t.Fatal(err)
	}
	if got := gen1.Names(); !slices.Equal(got, []string{"per_ip", "per_path"}) {
		t.Fatalf("Names = %v", got)
	}
	// A session of generation 1 tracks an entry.
	var sess Slots
	sess.Track(0, gen1.Get("per_ip"), keyN(1), at(0))
	View{Session: &sess}.CountHTTPReq(at(0))

	// Reload: per_ip unchanged (store listed in another order), per_path
	// changed, per_host new.
	perIP2 := perIP
	perIP2.Store = []DataSpec{perIP.Store[1], perIP.Store[0]}
	perPath2 := perPath
	perPath2.Size = 200
	perHost := Def{Name: "per_host", Key: KeyString, Size: 10}
	gen2, err := s.Build([]Def{perIP2, perPath2, perHost})
	if err != nil {
		t.Fatal(err)
	}
	if s.Current() != gen1 {
		t.Fatal("Build changed the current generation")
	}
	if err := s.Commit(gen2); err != nil {
		t.Fatal(err)
	}
	if gen2.Get("per_ip") != gen1.Get("per_ip") {
		t.Fatal("unchanged table not kept")
	}
	if gen2.Get("per_path") == gen1.Get("per_path") {
		t.Fatal("changed table kept")
	}
	if gen2.Get("per_host") == nil || gen2.Get("nope") != nil {
		t.Fatal("Get")
	}
	// The entry survived with its counters, and the old session releases
	// into the same table.
	e, ok := gen2.Get("per_ip").Lookup(keyN(1), at(1))
	if !ok {
		t.Fatal("entry lost across reload")
	}
	if v, _ := e.Get(DataHTTPReqRate, 0, at(1)); v != 1 {
		t.Fatalf("http_req_rate = %d after reload", v)
	}
	sess.Release(at(2))
	if v, _ := e.Get(DataConnCur, 0, at(2)); v != 0 || e.Refs() != 0 {
		t.Fatalf("conn_cur %d refs %d after release", v, e.Refs())
	}

	// Two builds from one generation: the second commit is stale.
	a, _ := s.Build([]Def{perIP})
	b, _ := s.Build([]Def{perIP, perHost})
	if err := s.Commit(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(b); !errors.Is(err, ErrStale) {
		t.Fatalf("stale commit: %v", err)
	}
}

func TestStore_BuildErrors(t *testing.T) {
	s := NewStore()
	d := Def{Name: "x", Key: KeyIP, Size: 1}
	tests := []struct {
		name string
		defs []Def
	}{
		{name: "duplicate name", defs: []Def{d, d}},
		{name: "invalid definition", defs: []Def{{Name: "y", Key: KeyIP}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Build(tt.defs); !errors.Is(err, ErrDef) {
				t.Fatalf("Build error = %v, want ErrDef", err)
			}
		})
	}
}
