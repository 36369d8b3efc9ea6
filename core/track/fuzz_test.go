package track

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzKeyAndFilter feeds the runtime API's parsers what an operator may
// type: a key of a string table must read back from its "show table" form
// as the same entry, and filters must parse or fail, never panic.
func FuzzKeyAndFilter(f *testing.F) {
	for _, s := range []string{"", "k1", `a\ b`, "a b=c\\d\te\x00\xff", `\x4`, `\`, "data.conn_cur gt 1", "key x", "data.gpc7_rate le -3", "data.gpc(99) eq 1"} {
		f.Add(s)
	}
	te := newTestEnv(f, 3)
	tb := te.e.Table("per_key")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(tb, s)
		if err != nil {
			t.Fatalf("a string table refused %q: %v", s, err)
		}
		ent, err := tb.Acquire(k, te.clock.now())
		if err != nil {
			return // full
		}
		k2, err := parseShownKey(tb, kindOf(tb), ent.Key())
		if err != nil {
			t.Fatalf("shown key %q: %v", ent.Key(), err)
		}
		if e2, ok := tb.Lookup(k2, te.clock.now()); !ok || e2 != ent {
			t.Fatalf("%q shows as %q, which finds another entry", s, ent.Key())
		}
		tb.Release(ent, te.clock.now())
		tb.Delete(k)
		parseFilters(tb, httptest.NewRequest("GET", "/v1/tables/per_key?filter="+url.QueryEscape(s), nil))
		dataRefOf(s)
	})
}
