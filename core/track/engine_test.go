package track

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stick"
)

// TestEngine_SessionAndStreams follows one connection: the session tracks
// its address, two streams read it, one of them tracks a key of its own.
// Only the owner of a tracker releases it.
func TestEngine_SessionAndStreams(t *testing.T) {
	te := newTestEnv(t, 3)
	trackSrc := te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip")
	trackKey := te.rule(t, rules.HTTPRequest, "track-sc1 str(k1) table per_key")
	sc0 := te.expr(t, rules.HTTPRequest, "sc0_http_req_cnt")
	sc1 := te.expr(t, rules.HTTPRequest, "sc1_http_req_cnt")
	cur0 := te.expr(t, rules.TCPConnection, "sc0_conn_cur")

	k := te.newConn("10.0.0.1")
	trackSrc.Eval(k.sessCtx())
	te.e.CountSession(&k.sess)
	if v := value(t, cur0, k.sessCtx()); v != 1 {
		t.Fatalf("tcp-request connection reads sc0_conn_cur=%d", v)
	}
	for i := 1; i <= 2; i++ {
		st, ctx := k.stream()
		te.e.CountRequest(st)
		if i == 2 {
			trackKey.Eval(ctx)
		}
		if v := value(t, sc0, ctx); v != int64(i) {
			t.Fatalf("stream %d reads sc0_http_req_cnt=%d (the session's slot)", i, v)
		}
		if v, w := value(t, sc1, ctx), int64(-1); i == 2 {
			if v != 1 {
				t.Fatalf("stream 2 reads sc1_http_req_cnt=%d: the request in progress counts on the new entry", v)
			}
		} else if v != w {
			t.Fatalf("stream 1 reads sc1_http_req_cnt=%d without tracking it", v)
		}
		st.BytesIn, st.BytesOut = 100, 1000
		te.e.EndStream(st, true)
		if StreamSlots(st) != nil {
			t.Fatal("the stream kept its slots")
		}
	}
	if r, c := te.refs(t, "per_ip", "10.0.0.1"), te.get(t, "per_ip", "10.0.0.1", stick.DataConnCur, 0); r != 1 || c != 1 {
		t.Fatalf("per_ip while the session lives: refs %d conn_cur %d", r, c)
	}
	if r, c := te.refs(t, "per_key", "k1"), te.get(t, "per_key", "k1", stick.DataConnCur, 0); r != 0 || c != 0 {
		t.Fatalf("per_key after its stream: refs %d conn_cur %d", r, c)
	}
	for dt, w := range map[stick.DataType]int64{
		stick.DataSessCnt: 1, stick.DataHTTPReqCnt: 2, stick.DataBytesInCnt: 200, stick.DataBytesOutCnt: 2000, stick.DataConnCnt: 1,
	} {
		if v := te.get(t, "per_ip", "10.0.0.1", dt, 0); v != w {
			t.Errorf("per_ip %s=%d, want %d", dt, v, w)
		}
	}
	te.e.EndSession(&k.sess)
	te.e.EndSession(&k.sess) // a second end releases nothing
	if r, c := te.refs(t, "per_ip", "10.0.0.1"), te.get(t, "per_ip", "10.0.0.1", stick.DataConnCur, 0); r != 0 || c != 0 {
		t.Fatalf("per_ip after the session: refs %d conn_cur %d", r, c)
	}
}

// TestEngine_EndStream: what a stream counts when it ends, by how it
// ended (HAProxy 2.6's counters on the same events).
func TestEngine_EndStream(t *testing.T) {
	for _, tc := range []struct {
		name           string
		counted        bool
		cause          session.Cause
		phase          session.Phase
		req, err, fail int64
	}{
		{"invalid request", false, session.CauseBadRequest, session.PhaseRequest, 1, 1, 0},
		{"truncated request", false, session.CauseClientAbort, session.PhaseRequest, 1, 1, 0},
		{"request timeout", false, session.CauseClientTimeout, session.PhaseRequest, 1, 0, 0},
		{"tcp-request content reject", false, session.CauseDenied, session.PhaseRequest, 0, 0, 0},
		{"bad body after the head", true, session.CauseBadRequest, session.PhaseRequest, 0, 0, 0},
		{"server closed before answering", true, session.CauseServerAbort, session.PhaseHeaders, 0, 0, 1},
		{"write to server failed", true, session.CauseServerAbort, session.PhaseConnect, 0, 0, 1},
		{"server timeout", true, session.CauseServerTimeout, session.PhaseHeaders, 0, 0, 1},
		{"invalid response", true, session.CauseBadResponse, session.PhaseHeaders, 0, 0, 1},
		{"server closed in the body", true, session.CauseServerAbort, session.PhaseData, 0, 0, 0},
		{"no server", true, session.CauseConnectFailed, session.PhaseConnect, 0, 0, 0},
		{"done", true, session.CauseNone, session.PhaseDone, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t, 3)
			k := te.newConn("10.0.0.9")
			te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
			st, _ := k.stream()
			st.Term = session.Termination{Cause: tc.cause, Phase: tc.phase}
			te.e.EndStream(st, tc.counted)
			got := [3]int64{
				te.get(t, "per_ip", "10.0.0.9", stick.DataHTTPReqCnt, 0),
				te.get(t, "per_ip", "10.0.0.9", stick.DataHTTPErrCnt, 0),
				te.get(t, "per_ip", "10.0.0.9", stick.DataHTTPFailCnt, 0),
			}
			if got != [3]int64{tc.req, tc.err, tc.fail} {
				t.Fatalf("req, err, fail = %v, want %v", got, [3]int64{tc.req, tc.err, tc.fail})
			}
			te.e.EndSession(&k.sess)
		})
	}
}

// TestEngine_CountResponse: a server's 4xx is an error, its 5xx a failure
// except 501 and 505, as HAProxy 2.6 counts them (401 and 407 included).
func TestEngine_CountResponse(t *testing.T) {
	te := newTestEnv(t, 3)
	k := te.newConn("10.0.0.2")
	te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
	st, _ := k.stream()
	for _, code := range []int{100, 200, 302, 400, 401, 404, 407, 499, 500, 501, 502, 503, 505, 599} {
		te.e.CountResponse(st, code)
	}
	if e, f := te.get(t, "per_ip", "10.0.0.2", stick.DataHTTPErrCnt, 0), te.get(t, "per_ip", "10.0.0.2", stick.DataHTTPFailCnt, 0); e != 5 || f != 4 {
		t.Fatalf("http_err_cnt %d (want 5), http_fail_cnt %d (want 4)", e, f)
	}
	te.e.CountNoRequest(&k.sess, false)
	te.e.CountNoRequest(&k.sess, true)
	if r, e := te.get(t, "per_ip", "10.0.0.2", stick.DataHTTPReqCnt, 0), te.get(t, "per_ip", "10.0.0.2", stick.DataHTTPErrCnt, 0); r != 2 || e != 6 {
		t.Fatalf("empty connections: http_req_cnt %d (want 2), http_err_cnt %d (want 6)", r, e)
	}
	te.e.EndSession(&k.sess)
}

// TestEngine_ConcurrentStreams is HTTP/2's shape: many streams of one
// session run at once on their own goroutines, each reading the session's
// slots, tracking and counting, while the session adds a tracker. Under
// -race, and with exact counts where they are defined.
func TestEngine_ConcurrentStreams(t *testing.T) {
	te := newTestEnv(t, 3)
	k := te.newConn("10.0.0.3")
	te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
	lateTrack := te.rule(t, rules.TCPSession, "track-sc2 src table per_key")
	trackKey := te.rule(t, rules.HTTPRequest, "track-sc1 str(shared) table per_key")
	inc := te.rule(t, rules.HTTPRequest, "sc-inc-gpc(0,0)")
	reads := []string{"sc0_conn_cur", "sc2_http_req_cnt", "sc1_trackers", "sc2_tracked", "sc_get_gpc(0,0)"}
	var xs []*fetch.Expr
	for _, r := range reads {
		xs = append(xs, te.expr(t, rules.HTTPRequest, r))
	}

	const workers, per = 8, 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range per {
				st, ctx := k.stream()
				te.e.CountRequest(st)
				trackKey.Eval(ctx)
				inc.Eval(ctx)
				for _, x := range xs {
					x.Eval(ctx)
				}
				te.e.EndStream(st, true)
			}
		}()
	}
	close(start)
	time.Sleep(time.Millisecond)
	lateTrack.Eval(k.sessCtx()) // the session tracks again while its streams run
	wg.Wait()
	total := int64(workers * per)
	if v := te.get(t, "per_ip", "10.0.0.3", stick.DataHTTPReqCnt, 0); v != total {
		t.Fatalf("per_ip http_req_cnt %d, want %d", v, total)
	}
	if v := te.get(t, "per_ip", "10.0.0.3", stick.DataGPC, 0); v != total {
		t.Fatalf("per_ip gpc0 %d, want %d", v, total)
	}
	if v := te.get(t, "per_key", "shared", stick.DataHTTPReqCnt, 0); v != total {
		t.Fatalf("per_key[shared] http_req_cnt %d, want %d", v, total)
	}
	if v := te.get(t, "per_key", "shared", stick.DataConnCnt, 0); v != total {
		t.Fatalf("per_key[shared] conn_cnt %d, want %d", v, total)
	}
	if v := te.get(t, "per_key", "10.0.0.3", stick.DataHTTPReqCnt, 0); v < 0 || v > total {
		t.Fatalf("per_key[10.0.0.3] http_req_cnt %d, want 0 to %d", v, total)
	}
	te.e.EndSession(&k.sess)
	for _, e := range [][2]string{{"per_ip", "10.0.0.3"}, {"per_key", "shared"}, {"per_key", "10.0.0.3"}} {
		if r, c := te.refs(t, e[0], e[1]), te.get(t, e[0], e[1], stick.DataConnCur, 0); r != 0 || c != 0 {
			t.Fatalf("%s[%s] at the end: refs %d conn_cur %d", e[0], e[1], r, c)
		}
	}
}

// TestDefs translates stick_tables and reports mistakes with their path.
func TestDefs(t *testing.T) {
	load := func(t *testing.T, tables, backend string) *config.Config {
		t.Helper()
		cfg, err := config.Load(config.Sources{YAML: []byte(`
stick_tables:
` + tables + `
frontends:
  web: { bind: ["127.0.0.1:0"], default_backend: app }
backends:
  app:
` + backend + `
    servers: { s1: { address: "127.0.0.1:1" } }
`)})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	t.Run("stick on adds server_id", func(t *testing.T) {
		defs, errs := Defs(load(t, `  per_ip: { type: ip, size: 10, store: [conn_cur] }`, `    stick: { on: src, table: per_ip }`))
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if got := fmt.Sprint(defs[0].Store); !strings.Contains(got, "server_id") {
			t.Fatalf("store %s", got)
		}
	})
	t.Run("a store list written as one string", func(t *testing.T) {
		defs, errs := Defs(load(t, `  t: { type: string, len: 16, size: 10, store: "conn_cur,gpc_rate(2,10s),http_req_rate(1m)" }`, ""))
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if len(defs[0].Store) != 3 || defs[0].KeyLen != 16 {
			t.Fatalf("%+v", defs[0])
		}
	})
	for _, tc := range []struct {
		name, tables, path, msg string
	}{
		{"unknown type", `  t: { type: ip, size: 10, store: [conn_cur, conn_now] }`, "stick_tables.t.store[1]", `unknown data type "conn_now"`},
		{"missing period", `  t: { type: ip, size: 10, store: [http_req_rate] }`, "stick_tables.t.store[0]", "missing period"},
		{"twice", `  t: { type: ip, size: 10, store: [conn_cur, conn_cur] }`, "stick_tables.t", "store conn_cur listed twice"},
		{"gpc0 with gpc", `  t: { type: ip, size: 10, store: [gpc0, "gpc(2)"] }`, "stick_tables.t", "gpc and gpc0/gpc1 cannot be stored together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Defs(load(t, tc.tables, ""))
			if len(errs) != 1 || errs[0].Path != tc.path || !strings.Contains(errs[0].Msg, tc.msg) {
				t.Fatalf("errors %v, want %s: ...%s...", errs, tc.path, tc.msg)
			}
		})
	}
}

// TestEngine_Slots: the number of slots bounds what rules may name.
func TestEngine_Slots(t *testing.T) {
	if _, err := New(stick.NewStore().Current(), nil, Options{Slots: stick.MaxSlots + 1}); err == nil {
		t.Fatal("17 slots accepted")
	}
	te := newTestEnv(t, 5)
	te.rule(t, rules.TCPConnection, "track-sc4 src table per_ip")
	te.expr(t, rules.HTTPRequest, "sc4_conn_cur")
	if _, err := rules.Compile(rules.TCPConnection, "track-sc5 src table per_ip", te.env()); err == nil || !strings.Contains(err.Error(), "raise global.tune.stick_counters (now 5)") {
		t.Fatalf("track-sc5 with 5 slots: %v", err)
	}
	off := newTestEnv(t, 0)
	if _, err := rules.Compile(rules.TCPConnection, "track-sc0 src table per_ip", off.env()); err == nil || !strings.Contains(err.Error(), "tracking is off") {
		t.Fatalf("track-sc0 with 0 slots: %v", err)
	}
	if off.e.Active() {
		t.Fatal("an engine without slots is active")
	}
	k := off.newConn("10.0.0.1")
	if SessionSlots(&k.sess) != nil {
		t.Fatal("a session got slots with tracking off")
	}
}
