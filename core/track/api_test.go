package track

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/stick"
)

// apiCall serves one request of the runtime API and decodes a 2xx JSON
// answer into v.
func apiCall(t *testing.T, a *admin.Server, method, path, body string, v any) (int, string) {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if v != nil && rec.Code/100 == 2 {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, rec.Body)
		}
	}
	return rec.Code, rec.Body.String()
}

func TestAPI(t *testing.T) {
	te := newTestEnv(t, 3)
	a := admin.New("tok", nil)
	RegisterAPI(a, func() *Engine { return te.e })

	// Two clients tracked by their sessions; one of them still connected.
	var held *conn
	for i, src := range []string{"10.1.0.1", "10.1.0.2"} {
		k := te.newConn(src)
		te.rule(t, rules.TCPConnection, "track-sc0 src table per_ip").Eval(k.sessCtx())
		for range i + 1 {
			st, _ := k.stream()
			te.e.CountRequest(st)
			te.e.EndStream(st, true)
		}
		if i == 0 {
			te.e.EndSession(&k.sess)
		} else {
			held = k
		}
	}

	var tables []TableInfo
	if st, body := apiCall(t, a, "GET", "/v1/tables", "", &tables); st != 200 || len(tables) != 2 {
		t.Fatalf("GET /v1/tables: %d %s", st, body)
	}
	if ti := tables[1]; ti.Name != "per_key" || ti.Type != "string" || ti.Len != 32 || ti.Size != 100 || ti.ExpireMS != 60000 ||
		ti.Used != 0 || strings.Join(ti.Store, ",") != "gpt0,gpc0,conn_cnt,conn_cur,http_req_cnt,gpc1" {
		t.Fatalf("per_key: %+v", ti)
	}
	if tables[0].Header != "# table: per_ip, type: ip, size:100, used:2" {
		t.Fatalf("header %q", tables[0].Header)
	}

	var d TableDump
	apiCall(t, a, "GET", "/v1/tables/per_ip", "", &d)
	if len(d.Entries) != 2 || d.Entries[0].Key != "10.1.0.1" || d.Entries[1].Key != "10.1.0.2" {
		t.Fatalf("entries %+v", d.Entries)
	}
	e := d.Entries[1]
	if e.Use != 1 || e.Data["conn_cur"] != 1 || e.Data["http_req_cnt"] != 2 || e.Data["gpc1"] != 0 || e.Data["gpc0_rate"] != 0 ||
		e.Data["gpt1"] != 0 || e.ExpMS != 60000 {
		t.Fatalf("entry %+v", e)
	}
	if !strings.HasPrefix(e.Show, "key=10.1.0.2 use=1 exp=60000 server_id=0 conn_cnt=1 conn_rate(10000)=1 conn_cur=1 sess_cnt=0 http_req_cnt=2 ") {
		t.Fatalf("show %q", e.Show)
	}

	// Filters.
	for _, tc := range []struct {
		query string
		keys  string
	}{
		{"filter=" + url.QueryEscape("data.http_req_cnt gt 1"), "10.1.0.2"},
		{"filter=" + url.QueryEscape("data.conn_cur eq 0"), "10.1.0.1"},
		{"filter=" + url.QueryEscape("data.http_req_cnt ge 1") + "&filter=" + url.QueryEscape("data.conn_cur lt 1"), "10.1.0.1"},
		{"filter=" + url.QueryEscape("data.gpc1 ne 0"), ""},
		{"key=10.1.0.1", "10.1.0.1"},
		{"filter=" + url.QueryEscape("key 10.1.0.2"), "10.1.0.2"},
		{"key=10.9.9.9", ""},
	} {
		var d TableDump
		if st, body := apiCall(t, a, "GET", "/v1/tables/per_ip?"+tc.query, "", &d); st != 200 {
			t.Fatalf("%s: %d %s", tc.query, st, body)
		}
		var keys []string
		for _, e := range d.Entries {
			keys = append(keys, e.Key)
		}
		if strings.Join(keys, ",") != tc.keys {
			t.Errorf("%s: %v, want %s", tc.query, keys, tc.keys)
		}
	}
	for _, tc := range []struct {
		path, msg string
		status    int
	}{
		{"/v1/tables/nope", `(tables: per_ip, per_key)`, 404},
		{"/v1/tables/per_ip?filter=" + url.QueryEscape("data.sess_rate gt 1"), "table per_ip does not store sess_rate", 400},
		{"/v1/tables/per_ip?filter=" + url.QueryEscape("data.conn_cur about 1"), `use eq, ne, lt, le, gt or ge`, 400},
		{"/v1/tables/per_ip?filter=" + url.QueryEscape("conn_cur gt 1"), "write data.TYPE OP VALUE", 400},
		{"/v1/tables/per_ip?key=not-an-ip", "table per_ip holds addresses", 400},
	} {
		if st, body := apiCall(t, a, "GET", tc.path, "", nil); st != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("GET %s: %d %s, want %d ...%s...", tc.path, st, body, tc.status, tc.msg)
		}
	}

	// Set values, creating an entry.
	var got Entry
	if st, body := apiCall(t, a, "POST", "/v1/tables/per_key/entries/a%20key", `{"data": {"gpt0": 4, "gpc1": 7, "conn_cnt": 3}}`, &got); st != 200 {
		t.Fatalf("POST: %d %s", st, body)
	}
	if got.Key != `a\ key` || got.Use != 0 || got.Data["gpt0"] != 4 || got.Data["gpc1"] != 7 || got.Data["conn_cnt"] != 3 {
		t.Fatalf("after set: %+v", got)
	}
	if v := te.get(t, "per_key", "a key", stick.DataGPC1, 0); v != 7 {
		t.Fatalf("gpc1 = %d", v)
	}
	apiCall(t, a, "POST", "/v1/tables/per_ip/entries/10.1.0.2", `{"data": {"gpc(1)": 2, "gpt1": 5, "http_req_rate": 9}}`, &got)
	if got.Use != 1 || got.Data["gpc1"] != 2 || got.Data["gpt1"] != 5 || got.Data["http_req_rate"] != 9 {
		t.Fatalf("per_ip after set: %+v", got)
	}
	for _, tc := range []struct {
		path, body, msg string
		status          int
	}{
		{"/v1/tables/per_key/entries/x", `{"data": {"sess_cnt": 1}}`, "table per_key does not store sess_cnt", 400},
		{"/v1/tables/per_key/entries/x", `{"data": {"gpt7": 1}}`, "does not store gpt7", 400},
		{"/v1/tables/per_key/entries/x", `{"data": {}}`, "nothing to set", 400},
		{"/v1/tables/per_key/entries/x", `{"values": {}}`, "invalid JSON body", 400},
		{"/v1/tables/per_ip/entries/x", `{"data": {"gpc0": 1}}`, "holds addresses", 400},
	} {
		if st, body := apiCall(t, a, "POST", tc.path, tc.body, nil); st != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("POST %s %s: %d %s, want %d ...%s...", tc.path, tc.body, st, body, tc.status, tc.msg)
		}
	}

	// Delete: refused while a tracker holds the entry.
	if st, body := apiCall(t, a, "DELETE", "/v1/tables/per_ip/entries/10.1.0.2", "", nil); st != 409 || !strings.Contains(body, "in use") {
		t.Fatalf("DELETE in use: %d %s", st, body)
	}
	if st, _ := apiCall(t, a, "DELETE", "/v1/tables/per_ip/entries/10.1.0.1", "", nil); st != 200 {
		t.Fatalf("DELETE: %d", st)
	}
	if st, _ := apiCall(t, a, "DELETE", "/v1/tables/per_ip/entries/10.1.0.1", "", nil); st != 404 {
		t.Fatalf("DELETE again: %d", st)
	}
	// Clear every unused entry (with and without a filter).
	apiCall(t, a, "POST", "/v1/tables/per_key/entries/b", `{"data": {"gpc0": 1}}`, nil)
	apiCall(t, a, "POST", "/v1/tables/per_key/entries/c%0Aline", `{"data": {"gpc0": 2}}`, nil)
	var res ClearResult
	apiCall(t, a, "DELETE", "/v1/tables/per_key/entries?filter="+url.QueryEscape("data.gpc0 eq 2"), "", &res)
	if res.Removed != 1 {
		t.Fatalf("clear gpc0 eq 2: %+v", res)
	}
	apiCall(t, a, "DELETE", "/v1/tables/per_ip/entries", "", &res)
	if res.Removed != 0 || res.InUse != 1 {
		t.Fatalf("clear per_ip: %+v", res)
	}
	apiCall(t, a, "DELETE", "/v1/tables/per_key/entries", "", &res)
	if res.Removed != 2 || res.InUse != 0 {
		t.Fatalf("clear per_key: %+v", res)
	}
	te.e.EndSession(&held.sess)

	// Without the token.
	req := httptest.NewRequest("GET", "/v1/tables", nil)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", rec.Code)
	}
}

func TestParseKey(t *testing.T) {
	te := newTestEnv(t, 3,
		tableSpec{"ip", "ip", "conn_cur", 10},
		tableSpec{"int", "integer", "conn_cur", 10},
		tableSpec{"str", "string", "conn_cur", 10},
		tableSpec{"bin", "binary", "conn_cur", 10},
	)
	for _, tc := range []struct {
		table, in, show string
		bad             bool
	}{
		{table: "ip", in: "192.0.2.1", show: "192.0.2.1"},
		{table: "ip", in: "::ffff:192.0.2.1", show: "192.0.2.1"},
		{table: "ip", in: "2001:db8::1", show: "2001:db8::1"},
		{table: "ip", in: "example.com", bad: true},
		{table: "int", in: "4294967295", show: "4294967295"},
		{table: "int", in: "4294967296", bad: true},
		{table: "int", in: "-1", bad: true},
		{table: "str", in: "a b=c\\d\te", show: `a\ b\=c\\d\te`},
		{table: "bin", in: "00ff", show: "00FF" + strings.Repeat("00", 30)},
		{table: "bin", in: "zz", bad: true},
	} {
		tb := te.e.Table(tc.table)
		k, err := ParseKey(tb, tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%s %q: %v", tc.table, tc.in, err)
			continue
		}
		if tc.bad {
			continue
		}
		ent, err := tb.Acquire(k, te.clock.now())
		if err != nil {
			t.Fatal(err)
		}
		if ent.Key() != tc.show {
			t.Errorf("%s %q shows as %q, want %q", tc.table, tc.in, ent.Key(), tc.show)
		}
		// The shown form reads back as the same entry.
		k2, err := parseShownKey(tb, kindOf(tb), ent.Key())
		if err != nil {
			t.Fatal(err)
		}
		if e2, ok := tb.Lookup(k2, te.clock.now()); !ok || e2 != ent {
			t.Errorf("%s: shown key %q does not find the entry", tc.table, ent.Key())
		}
		tb.Release(ent, te.clock.now())
	}
}

func TestDataRef(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  dataRef
		ok   bool
	}{
		{"conn_cur", dataRef{stick.DataConnCur, 0}, true},
		{"http_req_rate", dataRef{stick.DataHTTPReqRate, 0}, true},
		{"gpc0", dataRef{stick.DataGPC0, 0}, true},
		{"gpc1_rate", dataRef{stick.DataGPC1Rate, 0}, true},
		{"gpc7", dataRef{stick.DataGPC, 7}, true},
		{"gpt3", dataRef{stick.DataGPT, 3}, true},
		{"gpc2_rate", dataRef{stick.DataGPCRate, 2}, true},
		{"gpc(4)", dataRef{stick.DataGPC, 4}, true},
		{"gpc_rate(1)", dataRef{stick.DataGPCRate, 1}, true},
		{"conn_cur(1)", dataRef{}, false},
		{"gpc100", dataRef{}, false},
		{"gpt2_rate", dataRef{}, false},
		{"gpc", dataRef{stick.DataGPC, 0}, true},
		{"nope", dataRef{}, false},
	} {
		r, ok := dataRefOf(tc.name)
		if ok != tc.ok || r != tc.ref {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, r, ok, tc.ref, tc.ok)
		}
	}
}
