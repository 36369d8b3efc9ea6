package backend

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newTest builds a backend whose servers are named s1, s2, … with the
// given weights.
func newTest(t testing.TB, balance, hashType string, weights ...int) *Backend {
	t.Helper()
	spec := Spec{Name: "app", HTTP: true, Balance: balance, HashType: hashType, Timeouts: Timeouts{Connect: time.Second, Queue: time.Second}}
	for i, w := range weights {
		spec.Servers = append(spec.Servers, ServerSpec{Name: fmt.Sprintf("s%d", i+1), Addr: "127.0.0.1:1", Weight: w})
	}
	b, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// pickSeq takes and releases n servers in a row and returns their names.
func pickSeq(t testing.TB, b *Backend, k *Key, n int) []string {
	t.Helper()
	var w Waiter
	out := make([]string, 0, n)
	for range n {
		s, err := b.Acquire(k, &w, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Name)
		b.Release(s)
	}
	return out
}

func counts(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[n]++
	}
	return m
}

func TestBackend_WeightedRoundRobin(t *testing.T) {
	tests := []struct {
		name    string
		balance string
	}{
		{name: "roundrobin", balance: "roundrobin"},
		{name: "static-rr", balance: "static-rr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTest(t, tt.balance, "", 10, 5)
			seq := pickSeq(t, b, &Key{}, 150)
			if c := counts(seq); c["s1"] != 100 || c["s2"] != 50 {
				t.Fatalf("counts %v, want s1:100 s2:50", c)
			}
			// Interleaved, not in bursts: s2 never twice in a row, s1 at
			// most twice.
			joined := strings.Join(seq, ",")
			if strings.Contains(joined, "s2,s2") || strings.Contains(joined, "s1,s1,s1") {
				t.Fatalf("not interleaved: %s", joined[:120])
			}
		})
	}
}

func TestBackend_BackupTakesOver(t *testing.T) {
	spec := Spec{Name: "app", Servers: []ServerSpec{
		{Name: "a1", Weight: 1}, {Name: "a2", Weight: 1},
		{Name: "b1", Weight: 1, Backup: true}, {Name: "b2", Weight: 1, Backup: true},
	}}
	b, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(pickSeq(t, b, &Key{}, 10)); c["a1"] != 5 || c["a2"] != 5 {
		t.Fatalf("actives up: %v", c)
	}
	b.SetState(b.Server("a1"), StateMaint)
	b.SetState(b.Server("a2"), StateMaint)
	// The first backup takes everything (no allbackups).
	if c := counts(pickSeq(t, b, &Key{}, 10)); c["b1"] != 10 {
		t.Fatalf("actives in maint: %v", c)
	}
	b.SetState(b.Server("b1"), StateDrain)
	if c := counts(pickSeq(t, b, &Key{}, 10)); c["b2"] != 10 {
		t.Fatalf("first backup drained: %v", c)
	}
	b.SetState(b.Server("a2"), StateReady)
	if c := counts(pickSeq(t, b, &Key{}, 10)); c["a2"] != 10 {
		t.Fatalf("an active back: %v", c)
	}
	b.SetState(b.Server("a2"), StateMaint)
	b.SetState(b.Server("b2"), StateMaint)
	var w Waiter
	if _, err := b.Acquire(&Key{}, &w, nil); !errors.Is(err, ErrNoServer) {
		t.Fatalf("nothing usable: %v", err)
	}
}

func TestBackend_LeastConn(t *testing.T) {
	b := newTest(t, "leastconn", "", 1, 1, 1)
	// Equal loads: round-robin.
	if seq := strings.Join(pickSeq(t, b, &Key{}, 6), ","); seq != "s1,s2,s3,s1,s2,s3" {
		t.Fatalf("equal loads: %s", seq)
	}
	// Held streams: the least loaded server wins.
	var w Waiter
	var held []*Server
	for range 2 {
		s, _ := b.Acquire(&Key{}, &w, nil)
		held = append(held, s)
	}
	s, _ := b.Acquire(&Key{}, &w, nil)
	if s.Cur.Load() != 1 || s == held[0] || s == held[1] {
		t.Fatalf("picked %s with %d streams", s.Name, s.Cur.Load())
	}
	b.Release(s)
	for _, h := range held {
		b.Release(h)
	}
	// Weights: two streams on a weight-2 server weigh as one on weight 1.
	b2 := newTest(t, "leastconn", "", 2, 1)
	var got []string
	var hold []*Server
	for range 3 {
		s, _ := b2.Acquire(&Key{}, &w, nil)
		got = append(got, s.Name)
		hold = append(hold, s)
	}
	if c := counts(got); c["s1"] != 2 || c["s2"] != 1 {
		t.Fatalf("weighted: %v", got)
	}
	for _, h := range hold {
		b2.Release(h)
	}
}

func TestBackend_FirstFillsInOrder(t *testing.T) {
	spec := Spec{Name: "app", Balance: "first", Timeouts: Timeouts{Queue: 50 * time.Millisecond}}
	for i := range 3 {
		spec.Servers = append(spec.Servers, ServerSpec{Name: fmt.Sprintf("s%d", i+1), Weight: 1, MaxConn: 2})
	}
	b, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	var w Waiter
	var got []string
	var held []*Server
	for range 6 {
		s, err := b.Acquire(&Key{}, &w, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Name)
		held = append(held, s)
	}
	if g := strings.Join(got, ","); g != "s1,s1,s2,s2,s3,s3" {
		t.Fatalf("got %s", g)
	}
	if _, err := b.Acquire(&Key{}, &w, nil); !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("all full: %v", err)
	}
	b.Release(held[0])
	if s, _ := b.Acquire(&Key{}, &w, nil); s.Name != "s1" {
		t.Fatalf("after a slot of s1 freed: %s", s.Name)
	}
}

func TestBackend_RandomWeightsAndLoad(t *testing.T) {
	b := newTest(t, "random", "", 3, 1)
	c := counts(pickSeq(t, b, &Key{}, 4000))
	// Weighted draws: about 3000:1000 (the bound is many standard
	// deviations wide).
	if c["s1"] < 2700 || c["s1"] > 3300 {
		t.Fatalf("random 3:1 gave %v", c)
	}
	// Two draws keep the less loaded server: with s1 busy, s2 wins
	// whenever it is drawn once.
	b2 := newTest(t, "random(2)", "", 1, 1)
	var w Waiter
	var hold []*Server
	for range 10 {
		s, _ := b2.Acquire(&Key{}, &w, nil)
		if s.Name == "s1" {
			hold = append(hold, s)
		} else {
			b2.Release(s)
		}
	}
	c = counts(pickSeq(t, b2, &Key{}, 1000))
	if c["s2"] < 650 { // expected 750 (3 draws of 4 contain s2)
		t.Fatalf("with s1 loaded: %v", c)
	}
	for _, s := range hold {
		b2.Release(s)
	}
}

func srcKey(i int) *Key {
	return &Key{Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
}

func TestBackend_HashStickiness(t *testing.T) {
	tests := []struct {
		name     string
		balance  string
		hashType string
		key      func(i int) *Key
	}{
		{name: "source map-based", balance: "source", key: srcKey},
		{name: "source consistent", balance: "source", hashType: "consistent", key: srcKey},
		{name: "uri", balance: "uri", key: func(i int) *Key { return &Key{Path: fmt.Appendf(nil, "/item/%d", i)} }},
		{name: "hdr", balance: "hdr(x-user)", hashType: "consistent", key: func(i int) *Key {
			return &Key{Hdr: fmt.Appendf(nil, "user-%d", i), HasHdr: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTest(t, tt.balance, tt.hashType, 1, 1, 1)
			seen := map[string]bool{}
			for i := range 200 {
				seq := pickSeq(t, b, tt.key(i), 5)
				for _, n := range seq[1:] {
					if n != seq[0] {
						t.Fatalf("key %d went to %v", i, seq)
					}
				}
				seen[seq[0]] = true
			}
			if len(seen) != 3 {
				t.Fatalf("200 keys used only %v", seen)
			}
		})
	}
}

func TestBackend_HdrAbsentFallsBackToRoundRobin(t *testing.T) {
	b := newTest(t, "hdr(x-user)", "", 1, 1)
	if seq := strings.Join(pickSeq(t, b, &Key{}, 4), ","); seq != "s1,s2,s1,s2" {
		t.Fatalf("without the header: %s", seq)
	}
	if seq := strings.Join(pickSeq(t, b, &Key{HasHdr: true, Hdr: []byte("  ")}, 2), ","); seq != "s1,s2" {
		t.Fatalf("with an empty header: %s", seq)
	}
}

// TestBackend_ConsistentHashMovesOnlyTheRemovedShare: removing a server
// from a consistent ring moves exactly the keys it owned; a map-based
// backend moves most keys.
func TestBackend_ConsistentHashMovesOnlyTheRemovedShare(t *testing.T) {
	const keys = 2000
	mapping := func(b *Backend) []string {
		out := make([]string, keys)
		for i := range keys {
			out[i] = pickSeq(t, b, srcKey(i), 1)[0]
		}
		return out
	}
	t.Run("consistent", func(t *testing.T) {
		b := newTest(t, "source", "consistent", 1, 1, 1, 1)
		before := mapping(b)
		b.SetState(b.Server("s3"), StateMaint)
		after := mapping(b)
		moved, owned := 0, 0
		for i := range keys {
			if before[i] == "s3" {
				owned++
				if after[i] == "s3" {
					t.Fatalf("key %d still on the removed server", i)
				}
			} else if after[i] != before[i] {
				t.Fatalf("key %d moved from %s to %s though its server stayed", i, before[i], after[i])
			}
			if after[i] != before[i] {
				moved++
			}
		}
		if moved != owned || owned < keys/8 {
			t.Fatalf("moved %d, s3 owned %d", moved, owned)
		}
		// Back in: every key returns to where it was.
		b.SetState(b.Server("s3"), StateReady)
		if again := mapping(b); strings.Join(again, ",") != strings.Join(before, ",") {
			t.Fatal("keys did not come back when the server did")
		}
	})
	t.Run("map-based", func(t *testing.T) {
		b := newTest(t, "source", "map-based", 1, 1, 1, 1)
		before := mapping(b)
		b.SetState(b.Server("s3"), StateMaint)
		after := mapping(b)
		moved := 0
		for i := range keys {
			if after[i] != before[i] {
				moved++
			}
		}
		if moved < keys/2 {
			t.Fatalf("map-based moved only %d of %d keys", moved, keys)
		}
	})
}

func TestBackend_ConsistentWeights(t *testing.T) {
	b := newTest(t, "uri", "consistent", 3, 1)
	c := map[string]int{}
	for i := range 4000 {
		c[pickSeq(t, b, &Key{Path: fmt.Appendf(nil, "/p/%d", i)}, 1)[0]]++
	}
	if c["s1"] < 2600 || c["s1"] > 3400 {
		t.Fatalf("weights 3:1 gave %v", c)
	}
}

func TestBackend_SetWeight(t *testing.T) {
	tests := []struct {
		name     string
		balance  string
		hashType string
		static   bool
	}{
		{name: "roundrobin", balance: "roundrobin"},
		{name: "leastconn", balance: "leastconn"},
		{name: "static-rr", balance: "static-rr", static: true},
		{name: "source map-based", balance: "source", static: true},
		{name: "source consistent", balance: "source", hashType: "consistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTest(t, tt.balance, tt.hashType, 2, 2)
			s := b.Server("s1")
			err := b.SetWeight(s, 5)
			if tt.static != errors.Is(err, ErrStaticWeight) {
				t.Fatalf("SetWeight(5): %v", err)
			}
			if err := b.SetWeight(s, 0); err != nil {
				t.Fatalf("SetWeight(0): %v", err)
			}
			if c := counts(pickSeq(t, b, srcKey(1), 4)); c["s1"] != 0 {
				t.Fatalf("weight 0 still chosen: %v", c)
			}
			if err := b.SetWeight(s, 2); err != nil {
				t.Fatalf("SetWeight(initial): %v", err)
			}
			if err := b.SetWeight(s, 257); !errors.Is(err, ErrBadWeight) {
				t.Fatalf("SetWeight(257): %v", err)
			}
		})
	}
	b := newTest(t, "roundrobin", "", 1, 1)
	b.SetWeight(b.Server("s2"), 3)
	if c := counts(pickSeq(t, b, &Key{}, 8)); c["s1"] != 2 || c["s2"] != 6 {
		t.Fatalf("after weight 1:3: %v", c)
	}
}

func TestBackend_PersistentKeyAndDrain(t *testing.T) {
	b := newTest(t, "roundrobin", "", 1, 1)
	s2 := b.Server("s2")
	b.SetState(s2, StateDrain)
	if c := counts(pickSeq(t, b, &Key{}, 4)); c["s1"] != 4 {
		t.Fatalf("drain takes new streams: %v", c)
	}
	if c := counts(pickSeq(t, b, &Key{Server: s2}, 3)); c["s2"] != 3 {
		t.Fatalf("drain refuses a persistent stream: %v", c)
	}
	b.SetState(s2, StateMaint)
	if c := counts(pickSeq(t, b, &Key{Server: s2}, 3)); c["s1"] != 3 {
		t.Fatalf("maint takes a persistent stream: %v", c)
	}
}

func TestBackend_AvoidOnRedispatch(t *testing.T) {
	for _, bal := range []string{"roundrobin", "static-rr", "leastconn", "first", "random", "source", "uri"} {
		t.Run(bal, func(t *testing.T) {
			b := newTest(t, bal, "", 1, 1)
			var w Waiter
			k := &Key{Src: netip.MustParseAddr("10.0.0.1"), Path: []byte("/x")}
			for range 10 {
				s, _ := b.Acquire(k, &w, nil)
				b.Release(s)
				t2, _ := b.Acquire(k, &w, s)
				if t2 == s {
					t.Fatalf("avoid %s ignored", s.Name)
				}
				b.Release(t2)
			}
			// A lone server is used even when it is the one to avoid.
			b.SetState(b.Server("s2"), StateMaint)
			s1 := b.Server("s1")
			if s, _ := b.Acquire(k, &w, s1); s != s1 {
				t.Fatalf("lone server avoided: %v", s)
			}
		})
	}
}

func TestParseBalance(t *testing.T) {
	tests := []struct {
		in    string
		algo  Algorithm
		draws int
		hdr   string
		ok    bool
	}{
		{in: "", algo: AlgoRoundRobin, ok: true},
		{in: "random", algo: AlgoRandom, draws: 2, ok: true},
		{in: "random(5)", algo: AlgoRandom, draws: 5, ok: true},
		{in: "random(0)"},
		{in: "hdr(X-User)", algo: AlgoHdr, hdr: "x-user", ok: true},
		{in: "hdr()"},
		{in: "roundrobbin"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, d, h, ok := parseBalance(tt.in)
			if ok != tt.ok || (ok && (a != tt.algo || d != tt.draws || h != tt.hdr)) {
				t.Fatalf("got %v %d %q %v", a, d, h, ok)
			}
		})
	}
}

func BenchmarkBackend_AcquireRelease(b *testing.B) {
	for _, bal := range []string{"roundrobin", "leastconn", "source", "uri"} {
		b.Run(bal, func(b *testing.B) {
			be := newTest(b, bal, "consistent", 3, 2, 1)
			k := &Key{Src: netip.MustParseAddr("192.0.2.7"), Path: []byte("/a/b/c")}
			var w Waiter
			b.ReportAllocs()
			for range b.N {
				s, err := be.Acquire(k, &w, nil)
				if err != nil {
					b.Fatal(err)
				}
				be.Release(s)
			}
		})
	}
}
