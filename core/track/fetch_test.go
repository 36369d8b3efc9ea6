package track

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/stick"
)

func TestParseFetchName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		fam  family
		slot int
		op   op
		dt   stick.DataType
		arr  bool
	}{
		{name: "sc0_conn_cur", ok: true, fam: famSCN, dt: stick.DataConnCur},
		{name: "sc12_http_req_rate", ok: true, fam: famSCN, slot: 12, dt: stick.DataHTTPReqRate},
		{name: "sc_http_err_rate", ok: true, fam: famSC, dt: stick.DataHTTPErrRate},
		{name: "sc_get_gpc", ok: true, fam: famSC, dt: stick.DataGPC, arr: true},
		{name: "sc1_get_gpt", ok: true, fam: famSCN, slot: 1, dt: stick.DataGPT, arr: true},
		{name: "sc0_gpc_rate", ok: true, fam: famSCN, dt: stick.DataGPCRate, arr: true},
		{name: "sc0_get_gpc1", ok: true, fam: famSCN, dt: stick.DataGPC1},
		{name: "sc0_kbytes_out", ok: true, fam: famSCN, dt: stick.DataBytesOutCnt},
		{name: "sc2_trackers", ok: true, fam: famSCN, slot: 2, op: opTrackers},
		{name: "sc_tracked", ok: true, fam: famSC, op: opTracked},
		{name: "sc0_inc_gpc0", ok: true, fam: famSCN, op: opInc, dt: stick.DataGPC0},
		{name: "sc_clr_gpc", ok: true, fam: famSC, op: opClr, dt: stick.DataGPC, arr: true},
		{name: "src_conn_rate", ok: true, fam: famSrc, dt: stick.DataConnRate},
		{name: "src_get_gpc", ok: true, fam: famSrc, dt: stick.DataGPC, arr: true},
		{name: "src_server_id", ok: true, fam: famSrc, dt: stick.DataServerID},
		{name: "src_trackers", ok: false},
		{name: "sc0_gpc", ok: false}, // an array: get_gpc(idx)
		{name: "sc0_nope", ok: false},
		{name: "scx_conn_cur", ok: false},
		{name: "sc-1_conn_cur", ok: false},
		{name: "src", ok: false},
		{name: "scheme", ok: false},
	} {
		sp, ok := parseFetchName(tc.name)
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.name, ok)
			continue
		}
		if ok && (sp.fam != tc.fam || sp.slot != tc.slot || sp.w.op != tc.op || sp.w.dt != tc.dt || sp.w.arrayArg != tc.arr) {
			t.Errorf("%s: %+v", tc.name, sp)
		}
	}
}

// TestFetch_LoadErrors: fetches whose slot, element or table cannot work
// are refused when the configuration is loaded, saying why.
func TestFetch_LoadErrors(t *testing.T) {
	te := newTestEnv(t, 3)
	one := newTestEnv(t, 3, tableSpec{"only", "ip", "conn_cur,http_req_rate(10s)", 10})
	for _, tc := range []struct {
		te    *testEnv
		point rules.Point
		expr  string
		err   string
	}{
		{te, rules.HTTPRequest, "sc3_conn_cur", "slot 3 out of range 0-2"},
		{te, rules.HTTPRequest, "sc_conn_cur(7)", "slot 7 out of range 0-2"},
		{te, rules.HTTPRequest, "sc_get_gpc(100,0)", "element 100 out of range"},
		{te, rules.HTTPRequest, "sc0_conn_cur(nope)", `no such stick table "nope" (tables: per_ip, per_key)`},
		{te, rules.HTTPRequest, "src_conn_cur", "src_conn_cur must name its table when several are defined"},
		{te, rules.HTTPRequest, "src_gpc_rate(0,per_key)", "table per_key does not store the data src_gpc_rate reads"},
		{te, rules.HTTPRequest, "sc0_bytes_in_rate(per_ip)", "table per_ip does not store"},
		{te, rules.HTTPRequest, "sc0_sess_cnt(per_key)", "table per_key does not store the data sc0_sess_cnt reads"},
		{te, rules.HTTPRequest, "sc0_conn_cur(per_ip,x)", "takes 0 to 1 arguments"},
		{te, rules.HTTPRequest, "sc_get_gpc(0)", "takes 2 to 3 arguments"},
		{te, rules.HTTPRequest, "table_cnt", "table_cnt must name its table"},
		{te, rules.TCPConnection, "req.hdr(x),sc0_conn_cur", "is a fetch"},
		{one, rules.HTTPRequest, "src_gpc0_rate", "table only does not store"},
	} {
		_, err := rules.Compile(tc.point, "set-var(proc.x) "+tc.expr, tc.te.env())
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want ...%s...", tc.expr, err, tc.err)
		}
	}
	// The same fetches where they work.
	for _, ok := range []string{"src_conn_cur", "src_http_req_rate(only)", "table_avl", "sc0_conn_cur", "sc2_conn_cur(only)"} {
		one.expr(t, rules.TCPConnection, ok)
	}
}

// TestFetch_Values reads every family through a session, a stream that
// tracks its own slot, and the client address.
func TestFetch_Values(t *testing.T) {
	te := newTestEnv(t, 3)
	k := te.newConn("192.0.2.1")
	te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
	te.rule(t, rules.TCPConnection, "track-sc2 src table per_key").Eval(k.sessCtx())
	te.e.CountSession(&k.sess)
	st, ctx := k.stream()
	te.e.CountRequest(st)
	te.rule(t, rules.HTTPRequest, "track-sc1 str(api) table per_key").Eval(ctx)
	te.rule(t, rules.HTTPRequest, "sc-inc-gpc(1,0)").Eval(ctx)
	te.rule(t, rules.HTTPRequest, "sc-set-gpt(1,0) 9").Eval(ctx)
	tb := te.e.Table("per_ip")
	ent, _ := tb.Lookup(stick.KeyFromIP(k.c.Src.Addr()), te.clock.now())
	ent.Set(stick.DataBytesOutCnt, 0, 5000, te.clock.now())

	other := te.newConn("192.0.2.200") // never tracked
	oc := other.sessCtx()

	for _, tc := range []struct {
		expr string
		want int64
		ctx  func() any
	}{
		{expr: "sc0_conn_cur", want: 1},
		{expr: "sc_conn_cnt(0)", want: 1},
		{expr: "sc0_sess_cnt", want: 1},
		{expr: "sc0_http_req_cnt", want: 1},
		{expr: "sc0_http_req_rate", want: 1},
		{expr: "sc_http_req_rate(0,per_ip)", want: 1},
		{expr: "sc0_get_gpc(1)", want: 1},
		{expr: "sc_get_gpc(1,0)", want: 1},
		{expr: "sc0_gpc_rate(1)", want: 1},
		{expr: "sc0_get_gpt(1)", want: 9},
		{expr: "sc0_get_gpt(0)", want: 0},
		{expr: "sc0_get_gpc0", want: 0},
		{expr: "sc0_get_gpc1", want: 1},
		{expr: "sc0_kbytes_out", want: 4},
		{expr: "sc0_bytes_out_cnt", want: 5000},
		{expr: "sc0_trackers", want: 1},
		{expr: "sc0_tracked", want: 1},
		{expr: "sc1_tracked", want: 1},
		{expr: "sc1_http_req_cnt", want: 1}, // the stream's own slot
		{expr: "sc1_trackers", want: 1},
		{expr: "sc2_conn_cur", want: 1}, // the session's per_key entry, keyed by the address
		{expr: "sc2_http_req_cnt", want: 1},
		{expr: "sc2_conn_cur(per_ip)", want: 1},      // the key of sc2 looked up in per_ip
		{expr: "sc0_http_req_cnt(per_key)", want: 1}, // and the other way round
		{expr: "sc0_server_id", want: 0},
		{expr: "sc0_bytes_in_rate", want: -1}, // not stored
		{expr: "sc_tracked(1)", want: 1},
		{expr: "src_conn_cur(per_ip)", want: 1},
		{expr: "src_http_req_cnt(per_key)", want: 1},
		{expr: "src_get_gpc(1,per_ip)", want: 1},
		{expr: "src_get_gpt(1,per_ip)", want: 9},
		{expr: "table_cnt(per_key)", want: 2},
		{expr: "table_avl(per_key)", want: 98},
	} {
		x := te.expr(t, rules.HTTPRequest, tc.expr)
		if v := value(t, x, ctx); v != tc.want {
			t.Errorf("%s = %d, want %d", tc.expr, v, tc.want)
		}
	}
	// A connection that tracks nothing: sc_* give no sample, sc*_tracked
	// false, src_* read 0 for an absent key.
	for expr, want := range map[string]int64{
		"sc0_conn_cur": -1, "sc0_tracked": 0, "sc_trackers(1)": -1, "src_conn_cur(per_ip)": 0, "src_http_req_rate(per_ip)": 0,
	} {
		if v := value(t, te.expr(t, rules.TCPConnection, expr), oc); v != want {
			t.Errorf("untracked %s = %d, want %d", expr, v, want)
		}
	}
	// Updates through fetches: src_inc_gpc creates the entry.
	if v := value(t, te.expr(t, rules.TCPConnection, "src_inc_gpc(0,per_ip)"), oc); v != 1 {
		t.Fatalf("src_inc_gpc = %d", v)
	}
	if v := te.get(t, "per_ip", "192.0.2.200", stick.DataGPC, 0); v != 1 {
		t.Fatalf("after src_inc_gpc: gpc0 = %d", v)
	}
	if v := value(t, te.expr(t, rules.TCPConnection, "src_clr_gpc(0,per_ip)"), oc); v != 1 {
		t.Fatalf("src_clr_gpc returned %d, want the old value 1", v)
	}
	if v := value(t, te.expr(t, rules.HTTPRequest, "sc0_inc_gpc1"), ctx); v != 2 {
		t.Fatalf("sc0_inc_gpc1 = %d", v)
	}
	if v := value(t, te.expr(t, rules.HTTPRequest, "sc2_inc_gpc0"), ctx); v != 1 {
		t.Fatalf("sc2_inc_gpc0 = %d (per_key stores gpc0)", v)
	}
	if v := value(t, te.expr(t, rules.HTTPRequest, "sc_clr_gpc1(2)"), ctx); v != 0 {
		t.Fatalf("sc_clr_gpc1(2) = %d", v)
	}
	// Rates fade as the clock runs.
	te.clock.add(15 * time.Second)
	if v := value(t, te.expr(t, rules.HTTPRequest, "sc0_http_req_rate"), ctx); v != 1 {
		t.Fatalf("after 1.5 periods: sc0_http_req_rate = %d (a previous count of 1 reads as is)", v)
	}
	te.clock.add(10 * time.Second)
	if v := value(t, te.expr(t, rules.HTTPRequest, "sc0_http_req_rate"), ctx); v != 0 {
		t.Fatalf("after 2.5 periods: sc0_http_req_rate = %d", v)
	}
	te.e.EndStream(st, true)
	te.e.EndSession(&k.sess)
	te.e.EndSession(&other.sess)
}
