package track

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stick"
)

// testClock is a stepped millisecond clock.
type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// testEnv is an engine with its registries, as a generation has them.
type testEnv struct {
	e     *Engine
	clock *testClock
	reg   *fetch.Registry
	acts  *rules.Actions
}

type tableSpec struct {
	name, typ, store string
	size             int
}

// newTestEnv builds tables (ip "per_ip" and string "per_key" unless given)
// and an engine with slots tracker slots.
func newTestEnv(t testing.TB, slots int, specs ...tableSpec) *testEnv {
	t.Helper()
	if len(specs) == 0 {
		specs = []tableSpec{
			{"per_ip", "ip", "conn_cur,conn_cnt,conn_rate(10s),sess_cnt,http_req_cnt,http_req_rate(10s),http_err_cnt,http_fail_cnt,bytes_in_cnt,bytes_out_cnt,gpc(2),gpc_rate(2,10s),gpt(2),server_id", 100},
			{"per_key", "string", "conn_cur,conn_cnt,http_req_cnt,gpc0,gpc1,gpt0", 100},
		}
	}
	var defs []stick.Def
	var names []string
	for _, s := range specs {
		kt, err := stick.ParseKeyType(s.typ)
		if err != nil {
			t.Fatal(err)
		}
		st, err := stick.ParseStores(s.store)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, stick.Def{Name: s.name, Key: kt, Size: s.size, Expire: time.Minute, Store: st})
		names = append(names, s.name)
	}
	ts, err := stick.NewStore().Build(defs)
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{}
	clk.ms.Store(1_700_000_000_000)
	e, err := New(ts, names, Options{Slots: slots, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	reg, acts := fetch.NewRegistry(), rules.NewActions()
	if err := e.Register(reg, acts); err != nil {
		t.Fatal(err)
	}
	return &testEnv{e: e, clock: clk, reg: reg, acts: acts}
}

func (te *testEnv) env() *rules.Env {
	return &rules.Env{Fetches: te.reg, Actions: te.acts, HTTP: true}
}

// rule compiles one rule at p.
func (te *testEnv) rule(t testing.TB, p rules.Point, src string) *rules.Rule {
	t.Helper()
	r, err := rules.Compile(p, src, te.env())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expr compiles a sample expression and checks it against p's layers.
func (te *testEnv) expr(t testing.TB, p rules.Point, src string) *fetch.Expr {
	t.Helper()
	env := te.env()
	// A rule that evaluates the expression: set-var checks its layers.
	if _, err := rules.Compile(p, "set-var(proc.x) "+src, env); err != nil {
		t.Fatal(err)
	}
	x, err := te.reg.ParseExpr(src, fetch.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// conn is one client connection with its session.
type conn struct {
	c    session.Conn
	sess session.Session
}

func (te *testEnv) newConn(src string) *conn {
	k := &conn{}
	k.c.Src = netip.AddrPortFrom(netip.MustParseAddr(src), 40000)
	k.sess.Conn = &k.c
	te.e.StartSession(&k.sess)
	return k
}

// sessCtx is the context of tcp-request connection and session rules.
func (k *conn) sessCtx() *fetch.Ctx {
	ctx := &fetch.Ctx{}
	ctx.Bind(&k.c, &k.sess, nil, nil)
	return ctx
}

// stream is one HTTP stream of a connection.
func (k *conn) stream() (*session.Stream, *fetch.Ctx) {
	st := &session.Stream{Sess: &k.sess, Txn: &session.Txn{}}
	ctx := &fetch.Ctx{}
	ctx.Bind(&k.c, &k.sess, st, st.Txn)
	return st, ctx
}

// contentCtx is ctx restricted to tcp-request content's layers.
func contentCtx(ctx *fetch.Ctx) *fetch.Ctx {
	c := *ctx
	c.Layers = abi.LayerConn | abi.LayerSess | abi.LayerStrm
	c.Txn = nil
	return &c
}

// value evaluates x, returning -1 for "no sample".
func value(t testing.TB, x *fetch.Expr, ctx *fetch.Ctx) int64 {
	t.Helper()
	v, ok := x.Eval(ctx)
	if !ok {
		return -1
	}
	if v.Type == sample.TypeBool || v.Type == sample.TypeInt {
		return v.Int
	}
	t.Fatalf("%s gave a %s", x, v.Type)
	return 0
}

// get reads a value of key's entry in table, -1 when absent.
func (te *testEnv) get(t testing.TB, table, key string, dt stick.DataType, idx int) int64 {
	t.Helper()
	tb := te.e.Table(table)
	k, err := ParseKey(tb, key)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := tb.Lookup(k, te.clock.now())
	if !ok {
		return -1
	}
	v, ok := e.Get(dt, idx, te.clock.now())
	if !ok {
		t.Fatalf("%s does not store %s", table, dt)
	}
	return v
}

func (te *testEnv) refs(t testing.TB, table, key string) int {
	t.Helper()
	tb := te.e.Table(table)
	k, _ := ParseKey(tb, key)
	e, ok := tb.Lookup(k, te.clock.now())
	if !ok {
		return -1
	}
	return e.Refs()
}
