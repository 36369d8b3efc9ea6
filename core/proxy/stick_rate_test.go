package proxy

import (
	"testing"
	"time"
)

// refRate is a reference computation of HAProxy's rate over a sliding
// period, written from its definition rather than from strata's counter:
// events fall in periods that start at the first event (an even
// millisecond) and follow each other, or start afresh at an event that
// comes two periods or more after the start of the last one; a read
// returns the events of the current period plus the previous period's
// events weighted by the share of the previous period still inside the
// window (integer arithmetic), and a previous count of 0 or 1 alone as is
// (HAProxy's "very low rate, avoid flapping").
type refRate struct {
	period int64
	events []int64 // event times, ms
}

func (r *refRate) at(now int64) int64 {
	var start int64
	curr, prev := int64(0), int64(0)
	started := false
	for _, ev := range r.events {
		if ev > now {
			break
		}
		switch {
		case !started || ev-start >= 2*r.period:
			start, prev, curr, started = ev&^1, 0, 0, true
		case ev-start >= r.period:
			start, prev, curr = start+r.period, curr, 0
		}
		curr++
	}
	if !started {
		return 0
	}
	elapsed := now - start
	if elapsed > 2*r.period {
		return 0 // exactly two periods on, the previous one still counts, with a weight of 0
	}
	if elapsed >= r.period {
		prev, curr, elapsed = curr, 0, elapsed-r.period
	}
	remain := r.period - elapsed
	if curr == 0 && prev <= 1 {
		return prev
	}
	return (prev*remain + curr*r.period) / r.period
}

// TestStick_RatesAtPeriodBoundaries drives requests and connections
// through the engine at chosen instants of a stepped clock and compares
// http_req_rate, conn_rate and sess_rate read through the runtime API with
// the reference computation, on both sides of every period boundary.
func TestStick_RatesAtPeriodBoundaries(t *testing.T) {
	clk := &fakeClock{}
	const t0 = int64(1_700_000_000_000)
	clk.set(t0)
	useFakeClock(t, clk)
	up := startUpstream(t)
	p := startProxy(t, `
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 100, expire: 1h, store: ["http_req_rate(1s)", "conn_rate(1s)", "sess_rate(1s)", "http_req_cnt"] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 30s, http_request: 30s, http_keep_alive: 30s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	req := &refRate{period: 1000}
	conn := &refRate{period: 1000}
	var cl *stClient
	check := func(label string) {
		t.Helper()
		now := clk.ms.Load()
		e, ok := api.entry(t, "per_ip", "127.0.0.1")
		if !ok {
			t.Fatalf("%s: no entry", label)
		}
		w := map[string]int64{"http_req_rate": req.at(now), "conn_rate": conn.at(now), "sess_rate": conn.at(now)}
		for k, v := range w {
			if e.Data[k] != v {
				t.Fatalf("at t0+%dms (%s): %s=%d, reference %d\n%s", now-t0, label, k, e.Data[k], v, e.Show)
			}
		}
	}
	// Steps: connect (c), request (r) or read (-) at t0+ms.
	steps := []struct {
		ms   int64
		what byte
	}{
		{0, 'c'}, {0, 'r'}, {100, 'r'}, {400, 'r'}, {999, 'r'}, {999, '-'},
		{1000, '-'}, {1000, 'r'}, {1001, '-'}, {1250, 'c'}, {1500, 'r'}, {1500, 'r'}, {1750, '-'}, {1999, '-'},
		{2000, '-'}, {2001, '-'}, {2500, '-'}, {2999, 'r'}, {3000, '-'}, {3001, 'r'}, {3999, '-'},
		{4000, '-'}, {4500, '-'}, {4999, '-'}, {5000, '-'}, {5200, 'r'}, {5201, 'c'}, {5700, '-'},
		{6199, '-'}, {6200, '-'}, {6700, '-'}, {7199, '-'}, {7200, '-'},
	}
	for _, s := range steps {
		clk.set(t0 + s.ms)
		switch s.what {
		case 'c':
			if cl != nil {
				cl.close()
			}
			cl = stDial(t, p.addr("web"), "127.0.0.1")
			conn.events = append(conn.events, t0+s.ms)
			// the session is counted once accepted: wait for it, then
			// read at the same instant
			api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"sess_rate": conn.at(t0 + s.ms)}})
		case 'r':
			cl.get(t, "/")
			req.events = append(req.events, t0+s.ms)
		}
		check(string(s.what))
	}
}

// TestStick_Expiry: an entry in use never expires; once released it stays
// for the table's expiry after its last touch, then the sweep removes it.
func TestStick_Expiry(t *testing.T) {
	clk := &fakeClock{}
	const t0 = int64(1_700_000_000_000)
	clk.set(t0)
	useFakeClock(t, clk)
	up := startUpstream(t)
	p := startProxy(t, `
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 100, expire: 10s, store: ["conn_cur", "http_req_cnt"] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 30s, http_request: 30s, http_keep_alive: 30s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	cl := stDial(t, p.addr("web"), "127.0.0.1")
	cl.get(t, "/")
	api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1, "http_req_cnt": 1}})
	clk.add(time.Hour) // in use: never expires
	api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1}})
	cl.close() // released (and touched) at t0+1h
	api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0}})
	clk.add(10*time.Second - time.Millisecond)
	if e, ok := api.entry(t, "per_ip", "127.0.0.1"); !ok || e.ExpMS != 1 {
		t.Fatalf("1ms before expiry: %v %+v", ok, e)
	}
	clk.add(time.Millisecond)
	// The generation's sweeper removes it (without any API call, which
	// would sweep too).
	tbl := p.Generation().StickEngine().Table("per_ip")
	for i := 0; tbl.Len() != 0; i++ {
		if i == 500 {
			t.Fatal("the sweeper did not remove the expired entry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := api.dump(t, "per_ip", ""); len(d.Entries) != 0 || d.Used != 0 {
		t.Fatalf("after expiry: %+v", d)
	}
}
