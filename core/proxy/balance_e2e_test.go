package proxy

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// Scenario tests of the balancing algorithms, over real sockets with
// several upstream processes; the x-server header says which one answered.

func TestBalance_WeightedRoundRobin(t *testing.T) {
	for _, balance := range []string{"roundrobin", "static-rr"} {
		t.Run(balance, func(t *testing.T) {
			_, vars := startUpstreams(t, []string{"s1", "s2"})
			p := startProxy(t, backendConfig(`
    balance: `+balance+`
    servers:
      s1: { address: "{{s1}}", weight: 10 }
      s2: { address: "{{s2}}", weight: 5 }
`), vars)
			cl := dial(t, p.addr("web"), "")
			var seq []string
			for i := range 150 {
				r := cl.get(t, fmt.Sprintf("/r%d", i))
				if r.status != 200 {
					t.Fatalf("request %d: %d", i, r.status)
				}
				seq = append(seq, r.server)
			}
			c := tally(nil)
			for _, s := range seq {
				c[s]++
			}
			if c["s1"] != 100 || c["s2"] != 50 {
				t.Fatalf("got %v, want s1:100 s2:50", c)
			}
			joined := strings.Join(seq, ",")
			if strings.Contains(joined, "s2,s2") || strings.Contains(joined, "s1,s1,s1") {
				t.Fatalf("not interleaved: %s", joined)
			}
			if s := p.server(t, "s1"); s.Streams != 100 || s.Status["2xx"] != 100 {
				t.Fatalf("server stats %+v", s)
			}
		})
	}
}

func TestBalance_LeastConn(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p := startProxy(t, backendConfig(`
    balance: leastconn
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	// Equal loads: round-robin among them.
	var seq []string
	for range 6 {
		seq = append(seq, cl.get(t, "/").server)
	}
	if got := strings.Join(seq, ","); got != "s1,s2,s3,s1,s2,s3" {
		t.Fatalf("idle servers: %s", got)
	}
	// Two long streams occupy two servers: the next streams go to the
	// third.
	var wg sync.WaitGroup
	busy := make([]reply, 2)
	for i := range busy {
		wg.Add(1)
		go func() { defer wg.Done(); busy[i] = getOnce(t, p.addr("web"), "/delay/800ms") }()
	}
	testsupport.WaitFor(t, 5*time.Second, "two streams in flight", func() bool {
		n := int64(0)
		for _, s := range []string{"s1", "s2", "s3"} {
			n += p.server(t, s).Current
		}
		return n == 2
	})
	free := ""
	for _, s := range []string{"s1", "s2", "s3"} {
		if p.server(t, s).Current == 0 {
			free = s
		}
	}
	for range 3 {
		if r := cl.get(t, "/"); r.server != free {
			t.Fatalf("went to %s, the free server is %s", r.server, free)
		}
	}
	wg.Wait()
	if busy[0].server == busy[1].server {
		t.Fatalf("both long streams on %s", busy[0].server)
	}
}

func TestBalance_First(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p := startProxy(t, backendConfig(`
    balance: first
    servers:
      s1: { address: "{{s1}}", maxconn: 2 }
      s2: { address: "{{s2}}", maxconn: 2 }
      s3: { address: "{{s3}}", maxconn: 2 }
`), vars)
	// One at a time: always the first server.
	cl := dial(t, p.addr("web"), "")
	for range 5 {
		if r := cl.get(t, "/"); r.server != "s1" {
			t.Fatalf("sequential request went to %s", r.server)
		}
	}
	// The last sequential stream releases its slot on s1 just after the
	// client has its response: wait for it, so that s1 has both slots.
	testsupport.WaitFor(t, 5*time.Second, "s1's slots free", func() bool { return p.server(t, "s1").Current == 0 })
	// Five at once fill s1, then s2, then one on s3.
	rs := parallel(t, p.addr("web"), []string{"/delay/500ms", "/delay/500ms", "/delay/500ms", "/delay/500ms", "/delay/500ms"})
	if c := tally(rs); c["s1"] != 2 || c["s2"] != 2 || c["s3"] != 1 {
		t.Fatalf("got %v", c)
	}
}

func TestBalance_Random(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    balance: random
    servers:
      s1: { address: "{{s1}}", weight: 3 }
      s2: { address: "{{s2}}", weight: 1 }
`), vars)
	cl := dial(t, p.addr("web"), "")
	c := map[string]int{}
	for range 400 {
		c[cl.get(t, "/").server]++
	}
	// Weighted random: 300 expected for s1, the bound is ~4.5 standard
	// deviations wide.
	if c["s1"] < 260 || c["s1"] > 340 || c["s1"]+c["s2"] != 400 {
		t.Fatalf("random 3:1 gave %v", c)
	}
}

func TestBalance_Source(t *testing.T) {
	for _, hashType := range []string{"map-based", "consistent"} {
		t.Run(hashType, func(t *testing.T) {
			_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
			p := startProxy(t, backendConfig(`
    balance: source
    hash_type: `+hashType+`
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`), vars)
			used := map[string]bool{}
			for i := 2; i < 32; i++ {
				src := fmt.Sprintf("127.0.0.%d", i)
				first := ""
				for range 3 { // a new connection each time: the address decides
					r := dial(t, p.addr("web"), src).get(t, "/")
					if first == "" {
						first = r.server
					} else if r.server != first {
						t.Fatalf("client %s went to %s then %s", src, first, r.server)
					}
				}
				used[first] = true
			}
			if len(used) < 2 {
				t.Fatalf("30 clients all on %v", used)
			}
		})
	}
}

func TestBalance_URI(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p := startProxy(t, backendConfig(`
    balance: uri
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	used := map[string]bool{}
	for i := range 40 {
		path := fmt.Sprintf("/item/%d", i)
		want := cl.get(t, path).server
		used[want] = true
		// The query is not part of the hash (HAProxy's default).
		for _, q := range []string{"", "?a=1", "?b=2&c=3"} {
			if r := cl.get(t, path+q); r.server != want {
				t.Fatalf("%s%s went to %s, %s to %s", path, q, r.server, path, want)
			}
		}
	}
	if len(used) != 3 {
		t.Fatalf("40 paths used %v", used)
	}
}

func TestBalance_Hdr(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p := startProxy(t, backendConfig(`
    balance: hdr(X-User)
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	used := map[string]bool{}
	for i := range 30 {
		h := fmt.Sprintf("x-user: user-%d", i)
		want := cl.get(t, "/", h).server
		used[want] = true
		for j := range 3 {
			if r := cl.get(t, fmt.Sprintf("/other/%d", j), h); r.server != want {
				t.Fatalf("user-%d went to %s and %s", i, want, r.server)
			}
		}
	}
	if len(used) < 2 {
		t.Fatalf("30 users on %v", used)
	}
	// Without the header: round-robin.
	var seq []string
	for range 6 {
		seq = append(seq, cl.get(t, "/").server)
	}
	if got := strings.Join(seq, ","); got != "s1,s2,s3,s1,s2,s3" {
		t.Fatalf("without the header: %s", got)
	}
}

// TestBalance_ConsistentHashRemoval takes a server out of a consistent
// uri backend: only the paths it served move, and they come back with it.
func TestBalance_ConsistentHashRemoval(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3", "s4"})
	p := startProxy(t, backendConfig(`
    balance: uri
    hash_type: consistent
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
      s4: { address: "{{s4}}" }
`), vars)
	cl := dial(t, p.addr("web"), "")
	const n = 200
	mapping := func() []string {
		out := make([]string, n)
		for i := range n {
			out[i] = cl.get(t, fmt.Sprintf("/obj/%d", i)).server
		}
		return out
	}
	before := mapping()
	be := p.Generation().Backend("app")
	be.SetState(be.Server("s3"), backend.StateMaint)
	after := mapping()
	moved, owned := 0, 0
	for i := range n {
		if before[i] == "s3" {
			owned++
		} else if after[i] != before[i] {
			t.Fatalf("/obj/%d moved from %s to %s", i, before[i], after[i])
		}
		if after[i] == "s3" {
			t.Fatalf("/obj/%d still on s3 in maint", i)
		}
		if after[i] != before[i] {
			moved++
		}
	}
	if owned == 0 || moved != owned {
		t.Fatalf("s3 owned %d paths, %d moved", owned, moved)
	}
	be.SetState(be.Server("s3"), backend.StateReady)
	if again := mapping(); strings.Join(again, ",") != strings.Join(before, ",") {
		t.Fatal("paths did not return to s3")
	}
}
