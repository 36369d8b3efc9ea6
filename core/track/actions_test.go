package track

import (
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/stick"
)

func TestActions_LoadErrors(t *testing.T) {
	te := newTestEnv(t, 3)
	one := newTestEnv(t, 3, tableSpec{"only", "integer", "conn_cur", 10})
	for _, tc := range []struct {
		te    *testEnv
		point rules.Point
		rule  string
		err   string
	}{
		{te, rules.TCPConnection, "track-sc0", "want track-sc0 KEY [table NAME]"},
		{te, rules.TCPConnection, "track-sc0 src", "track-sc0 must name its table when several are defined"},
		{te, rules.TCPConnection, "track-sc0 src table", `unexpected "table"`},
		{te, rules.TCPConnection, "track-sc0 src table nope", `no such stick table "nope"`},
		{te, rules.TCPConnection, "track-sc0 src per_ip", `unexpected "per_ip"`},
		{te, rules.TCPConnection, "track-sc3 src table per_ip", "slot 3 out of range 0-2"},
		{te, rules.TCPConnection, "track-sc0 req.hdr(x) table per_key", "needs layer TXN"},
		{te, rules.HTTPResponse, "track-sc0 src table per_ip", "not accepted at http-response"},
		{te, rules.TCPConnection, "track-sc0 always_true table per_ip", "cannot make a key of table per_ip (type ip)"},
		{te, rules.HTTPRequest, "sc-inc-gpc(0)", "want (idx,slot)"},
		{te, rules.HTTPRequest, "sc-inc-gpc(0,3)", "slot 3 out of range"},
		{te, rules.HTTPRequest, "sc-inc-gpc(x,0)", `"x" is not a number`},
		{te, rules.HTTPRequest, "sc-inc-gpc(100,0)", "element 100 out of range"},
		{te, rules.HTTPRequest, "sc-inc-gpc0(0) 5", `unexpected "5"`},
		{te, rules.HTTPRequest, "sc-set-gpt(0,0)", "want (idx,slot) VALUE"},
		{te, rules.HTTPRequest, "sc-set-gpt0(0) req.hdrr(x)", "unknown fetch"},
		{te, rules.HTTPRequest, "sc-set-gpt0", "want (slot) VALUE"},
	} {
		_, err := rules.Compile(tc.point, tc.rule, tc.te.env())
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s at %s: %v, want ...%s...", tc.rule, tc.point, err, tc.err)
		}
	}
	// The only table is the default.
	one.rule(t, rules.TCPConnection, "track-sc0 src_port")
}

// TestActions_Counters: the counter and tag actions act on the entry of
// the slot, the stream's own or else the session's, at every point.
func TestActions_Counters(t *testing.T) {
	te := newTestEnv(t, 3)
	k := te.newConn("198.51.100.7")
	te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
	for _, src := range []string{"sc-inc-gpc(0,0)", "sc-inc-gpc0(0)", "sc-inc-gpc1(0)", "sc-add-gpc(1,0) 5"} {
		te.rule(t, rules.TCPSession, src).Eval(k.sessCtx())
	}
	st, ctx := k.stream()
	te.rule(t, rules.TCPContent, "track-sc1 str(svc) table per_key").Eval(contentCtx(ctx))
	for _, r := range []struct {
		p   rules.Point
		src string
	}{
		{rules.HTTPRequest, "sc-set-gpt(1,0) src_port"},
		{rules.HTTPResponse, "sc-set-gpt0(0) 77"},
		{rules.HTTPAfterResponse, "sc-inc-gpc0(1)"},
		{rules.HTTPAfterResponse, "sc-inc-gpc1(1)"},
		{rules.HTTPAfterResponse, "sc-inc-gpc1(1)"},
		{rules.HTTPRequest, "sc-set-gpt0(1) 3"},
		{rules.HTTPRequest, "sc-inc-gpc(0,2)"}, // untracked: nothing
		{rules.HTTPRequest, "sc-clear-gpc(1,0)"},
	} {
		te.rule(t, r.p, r.src).Eval(ctx)
	}
	for _, c := range []struct {
		table, key string
		dt         stick.DataType
		idx        int
		want       int64
	}{
		{"per_ip", "198.51.100.7", stick.DataGPC, 0, 2}, // sc-inc-gpc(0,0) and sc-inc-gpc0(0)
		{"per_ip", "198.51.100.7", stick.DataGPC, 1, 0}, // inc-gpc1, add 5, then cleared
		{"per_ip", "198.51.100.7", stick.DataGPCRate, 1, 6},
		{"per_ip", "198.51.100.7", stick.DataGPT, 0, 77},
		{"per_ip", "198.51.100.7", stick.DataGPT, 1, 40000},
		{"per_key", "svc", stick.DataGPC0, 0, 1},
		{"per_key", "svc", stick.DataGPC1, 0, 2},
		{"per_key", "svc", stick.DataGPT0, 0, 3},
	} {
		if v := te.get(t, c.table, c.key, c.dt, c.idx); v != c.want {
			t.Errorf("%s[%s] %s[%d] = %d, want %d", c.table, c.key, c.dt, c.idx, v, c.want)
		}
	}
	te.e.EndStream(st, true)
	te.e.EndSession(&k.sess)
}

// TestTrack_Keys: track-sc casts the sample to the table's key type, and
// a second track-sc of a used slot does nothing.
func TestTrack_Keys(t *testing.T) {
	te := newTestEnv(t, 3,
		tableSpec{"ips", "ip", "conn_cur,conn_cnt", 10},
		tableSpec{"ints", "integer", "conn_cur", 10},
		tableSpec{"bins", "binary", "conn_cur", 10},
	)
	k := te.newConn("203.0.113.5")
	ctx := k.sessCtx()
	for _, src := range []string{
		"track-sc0 str(2001:db8::1) table ips", // a string holding an address
		"track-sc0 src table ips",              // slot in use: ignored
		"track-sc1 str(12abc) table ints",      // HAProxy's string to integer cast
		"track-sc2 src table bins",             // the address's bytes
	} {
		te.rule(t, rules.TCPConnection, src).Eval(ctx)
	}
	if r := te.refs(t, "ips", "2001:db8::1"); r != 1 {
		t.Fatalf("ips[2001:db8::1] refs %d", r)
	}
	if r := te.refs(t, "ips", "203.0.113.5"); r != -1 {
		t.Fatalf("the second track-sc0 tracked: refs %d", r)
	}
	if r := te.refs(t, "ints", "12"); r != 1 {
		t.Fatalf("ints[12] refs %d", r)
	}
	if r := te.refs(t, "bins", "CB007105"); r != 1 {
		t.Fatalf("bins[cb007105] refs %d", r)
	}
	te.e.EndSession(&k.sess)
	for _, e := range [][2]string{{"ips", "2001:db8::1"}, {"ints", "12"}, {"bins", "CB007105"}} {
		if r := te.refs(t, e[0], e[1]); r != 0 {
			t.Errorf("%s[%s] refs %d after the session", e[0], e[1], r)
		}
	}
}
