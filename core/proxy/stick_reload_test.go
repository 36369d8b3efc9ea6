package proxy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/stick"
)

// TestStick_TablesSurviveReload: generations built from one store share
// the tables whose definition did not change, entries included; a changed
// table starts empty; the new set becomes current when its generation
// starts.
func TestStick_TablesSurviveReload(t *testing.T) {
	store := stick.NewStore()
	build := func(tables string) *generation.Generation {
		t.Helper()
		cfg, err := config.Load(config.Sources{YAML: []byte(`
stick_tables:
` + tables + `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["track-sc0 src table per_ip"]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "127.0.0.1:1" } }
`)})
		if err != nil {
			t.Fatal(err)
		}
		g, err := generation.Build(cfg, generation.BuildOptions{Stick: store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		return g
	}
	g1 := build(`  per_ip: { type: ip, size: 100, expire: 1m, store: [conn_cnt, "gpc(1)"] }
  per_x: { type: integer, size: 10, store: [gpc0] }`)
	g1.Start()
	t1 := g1.StickEngine().Table("per_ip")
	now := generation.StickNow()
	e, err := t1.Acquire(stick.KeyFromIP(netip.MustParseAddr("192.0.2.1")), now)
	if err != nil {
		t.Fatal(err)
	}
	e.IncGPC(0, now)
	t1.Release(e, now)
	x1 := g1.StickEngine().Table("per_x")
	x1.Acquire(stick.KeyFromInt(7), now)

	// The same per_ip written in another order; per_x grows; per_y is new.
	g2 := build(`  per_ip: { type: ip, size: 100, expire: 60s, store: ["gpc(1)", conn_cnt] }
  per_x: { type: integer, size: 20, store: [gpc0] }
  per_y: { type: string, size: 10, store: [gpc0] }`)
	if g2.StickEngine().Table("per_ip") != t1 {
		t.Fatal("an unchanged table was not kept")
	}
	if g2.StickEngine().Table("per_x") == x1 || g2.StickEngine().Table("per_x").Len() != 0 {
		t.Fatal("a changed table kept its entries")
	}
	if store.Current().Get("per_y") != nil {
		t.Fatal("the new set is current before its generation starts")
	}
	g2.Start()
	if store.Current().Get("per_y") == nil {
		t.Fatal("the new set is not current once its generation started")
	}
	var shown []string
	t1.Dump(now, nil, func(v stick.EntryView) { shown = append(shown, v.String()) })
	if len(shown) != 1 || !strings.Contains(shown[0], "gpc0=1") {
		t.Fatalf("per_ip after the reload: %v", shown)
	}
	// The old generation's table stays usable by what still holds it.
	x1.Release(mustLookup(t, x1, stick.KeyFromInt(7)), now)
}

func mustLookup(t *testing.T, tb *stick.Table, k stick.Key) *stick.Entry {
	t.Helper()
	e, ok := tb.Lookup(k, generation.StickNow())
	if !ok {
		t.Fatal("entry gone")
	}
	return e
}
