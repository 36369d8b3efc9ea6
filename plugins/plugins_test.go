package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
)

func TestPlugin_UAClassFetch(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass")})
	tests := []struct {
		name, ua, want string
	}{
		{"cli", "curl/8.5.0", "cli"},
		{"bot", "Googlebot/2.1", "bot"},
		{"desktop", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "desktop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := e.eval(t, "ua_class", httpCtx("Host", "example.com", "User-Agent", tt.ua))
			if !ok || v.String() != tt.want {
				t.Fatalf("ua_class = %q, %v; want %q", v.String(), ok, tt.want)
			}
		})
	}
	// A converter of the core applies to the plugin's sample.
	v, ok := e.eval(t, "ua_class,upper", httpCtx("User-Agent", "curl/1"))
	if !ok || v.String() != "CLI" {
		t.Errorf("ua_class,upper = %q %v", v.String(), ok)
	}
	if s := p.Stats(); s.Calls < 4 || s.Traps != 0 || s.ABI != 1 || len(s.Registrations) != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A plugin fetch needing TXN is refused at tcp-request connection by the
// configuration validator, like a built-in.
func TestPlugin_FetchLayerCheckedAtConfig(t *testing.T) {
	e := newEnv(t)
	e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass")})
	_, err := rules.Compile(rules.TCPConnection, "set-var(sess.cls) ua_class", &rules.Env{Fetches: e.reg})
	if err == nil {
		t.Fatal("ua_class accepted at tcp-request connection")
	}
	for _, want := range []string{"ua_class", "TXN", "tcp-request connection"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := rules.Compile(rules.HTTPRequest, "set-var(txn.cls) ua_class", &rules.Env{Fetches: e.reg, HTTP: true}); err != nil {
		t.Errorf("http-request: %v", err)
	}
}

// A host function that needs TXN, called from a tcp-request rule, returns
// the layer error to the guest.
func TestPlugin_TxnHostFunctionFromTCPRule(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave")})
	acts := rules.NewActions().Clone()
	if err := Attach(p, nil, acts); err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(rules.TCPConnection, "peek", &rules.Env{Fetches: e.reg, Actions: acts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tcpCtx()
	if v := r.Eval(ctx); v.Kind != rules.Continue {
		t.Fatalf("verdict %v", v.Kind)
	}
	got, ok := ctx.Proc.Get("peek_status")
	if !ok || got.Int != int64(abi.ErrLayer) {
		t.Fatalf("peek_status = %v %v, want %d (layer error)", got, ok, abi.ErrLayer)
	}
	// The same action at http-request reads the header.
	r, err = rules.Compile(rules.HTTPRequest, "peek", &rules.Env{Fetches: e.reg, Actions: acts, HTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx = httpCtx("host", "example.com")
	r.Eval(ctx)
	if got, _ := ctx.Proc.Get("peek_status"); got.Int != 0 {
		t.Errorf("peek_status at http-request = %d", got.Int)
	}
}

func TestPlugin_Converter(t *testing.T) {
	e := newEnv(t)
	e.load(t, Config{Name: "bucket", File: wasmFile(t, "bucket")})
	v, ok := e.eval(t, "req.hdr(host),bucket(10)", httpCtx("host", "example.com"))
	if !ok || v.Type != sample.TypeInt || v.Int < 0 || v.Int >= 10 {
		t.Fatalf("bucket = %v %v", v, ok)
	}
	again, _ := e.eval(t, "req.hdr(host),bucket(10)", httpCtx("host", "example.com"))
	if again.Int != v.Int {
		t.Error("bucket is not stable across calls")
	}
}

func TestPlugin_RewriteAction(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "rewrite", File: wasmFile(t, "rewrite"), Grants: []string{"headers", "route"},
		Settings: map[string]any{"prefix": "/api", "backend": "api_v2"}})
	acts := rules.NewActions().Clone()
	if err := Attach(p, nil, acts); err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(rules.HTTPRequest, "api_rewrite", &rules.Env{Fetches: e.reg, Actions: acts, HTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpCtx("host", "example.com")
	if v := r.Eval(ctx); v.Kind != rules.Continue {
		t.Fatalf("verdict %v", v.Kind)
	}
	if got := string(ctx.Txn.Req.Path); got != "/users" {
		t.Errorf("path %q", got)
	}
	if got := string(ctx.Txn.Req.Query); got != "id=7" {
		t.Errorf("query %q", got)
	}
	if !ctx.Txn.ReqEdited {
		t.Error("request not marked edited")
	}
	found := false
	for _, f := range ctx.Txn.Req.Fields {
		found = found || (string(f.Name) == "x-forwarded-prefix" && string(f.Value) == "/api")
	}
	if !found {
		t.Error("x-forwarded-prefix not set")
	}
	if rt := RouteOf(ctx.Strm); rt == nil || rt.Backend != "api_v2" {
		t.Errorf("route %+v", rt)
	}
	// Not allowed at a tcp point: the action registered for http-request only.
	if _, err := rules.Compile(rules.TCPContent, "api_rewrite", &rules.Env{Fetches: e.reg, Actions: acts}); err == nil {
		t.Error("api_rewrite accepted at tcp-request content")
	}
}

func TestPlugin_CanaryTarget(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "canary", File: wasmFile(t, "canary"), Grants: []string{"headers", "route"},
		Settings: map[string]any{"header": "x-canary", "weight": 0, "canary": "app_v2", "stable": "app_v1"}})
	tgt := p.Target("canary")
	if tgt == nil {
		t.Fatal("no target canary")
	}
	tests := []struct {
		name    string
		headers []string
		want    string
	}{
		{"weight 0", nil, "app_v1"},
		{"header override", []string{"X-Canary", "always"}, "app_v2"},
		{"cookie override", []string{"cookie", "x=1; canary=1"}, "app_v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := httpCtx(tt.headers...)
			rt, err := tgt.Route(ctx, nil)
			if err != nil || rt == nil || rt.Backend != tt.want {
				t.Fatalf("route %+v err %v, want %s", rt, err, tt.want)
			}
		})
	}
}

func TestPlugin_InspectService(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "inspect", File: wasmFile(t, "inspect"), Grants: []string{"headers", "stick_counters", "respond"}})
	svc := p.Service("inspect")
	if svc == nil || svc.Modes() != abi.ServiceHTTP {
		t.Fatal("no http service inspect")
	}
	ctx := httpCtx("host", "example.com", "user-agent", "curl/8")
	ctx.Sess.Ext.Trackers = struct{}{} // sc0 is tracked
	var r Reply
	done, err := svc.Serve(ctx, abi.EventRequest, nil, &r)
	if err != nil || !done {
		t.Fatal(done, err)
	}
	if ctx.Strm.Ext.Plugin == nil {
		t.Error("the stream does not keep its instance")
	}
	body := string(r.Body)
	if r.Status != 200 || string(r.HeaderValue("content-type")) != "application/json" {
		t.Errorf("reply %d %q", r.Status, r.HeaderValue("content-type"))
	}
	for _, want := range []string{`"method":"GET"`, `"path":"/api/users"`, `"query":"id=7"`, `"src":"192.0.2.10"`, `"host":"example.com"`, `"http_req_rate":7`} {
		if !strings.Contains(body, want) {
			t.Errorf("body %s lacks %s", body, want)
		}
	}
	EndStream(ctx)
	if ctx.Strm.Ext.Plugin != nil {
		t.Error("EndStream left the instance on the stream")
	}
	if s := p.Stats(); s.Idle != s.Instances {
		t.Errorf("instance not returned: %d idle of %d", s.Idle, s.Instances)
	}
}

func TestPlugin_RateLimitAction(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "ratelimit", File: wasmFile(t, "ratelimit"), Grants: []string{"stick_counters", "respond"}})
	acts := rules.NewActions().Clone()
	if err := Attach(p, nil, acts); err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(rules.HTTPRequest, "rate_limit 10", &rules.Env{Fetches: e.reg, Actions: acts, HTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpCtx()
	ctx.Sess.Ext.Trackers = struct{}{}
	e.scRate = 5
	if v := r.Eval(ctx); v.Kind != rules.Continue {
		t.Fatalf("under the limit: %v", v.Kind)
	}
	e.scRate = 11
	v := r.Eval(ctx)
	if v.Kind != rules.Deny || v.Status != 429 || string(v.ContentType) != "application/json" {
		t.Fatalf("over the limit: %+v", v)
	}
	if want := `{"error":"rate limited","rate":11,"limit":10,"refused":1}`; !strings.Contains(string(v.Body), want) {
		t.Errorf("body %s", v.Body)
	}
	if e.counters.gpc[0] != 1 {
		t.Errorf("gpc0 = %d", e.counters.gpc[0])
	}
}

func TestPlugin_TrapReplacesInstance(t *testing.T) {
	for _, onErr := range []OnError{FailOpen, FailClosed} {
		t.Run(onErr.String(), func(t *testing.T) {
			e := newEnv(t)
			p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, OnError: onErr})
			if _, ok := e.eval(t, "trap", httpCtx()); ok {
				t.Fatal("trap gave a sample")
			}
			if s := p.Stats(); s.Traps != 1 {
				t.Fatalf("traps = %d", s.Traps)
			}
			if got, want := e.failures(), map[OnError]int{FailOpen: 0, FailClosed: 1}[onErr]; got != want {
				t.Errorf("OnFailClosed called %d times, want %d", got, want)
			}
			// A fresh instance serves the next call.
			v, ok := e.eval(t, "ok", httpCtx())
			if !ok || v.Int != 42 {
				t.Fatalf("ok after trap = %v %v", v, ok)
			}
			if s := p.Stats(); s.Created < 2 || s.Instances != 1 {
				t.Errorf("created %d live %d", s.Created, s.Instances)
			}
			if !strings.Contains(e.logs.String(), "misbehave: deliberate trap") {
				t.Error("the guest's panic message did not reach the log")
			}
		})
	}
}

func TestPlugin_ActionOnError(t *testing.T) {
	tests := []struct {
		name   string
		onErr  OnError
		point  abi.Point
		ctx    func() *Config
		want   rules.VerdictKind
		status int
	}{
		{name: "open", onErr: FailOpen, point: abi.PointHTTPRequest, want: rules.Continue},
		{name: "closed http", onErr: FailClosed, point: abi.PointHTTPRequest, want: rules.Deny, status: 500},
		{name: "closed tcp", onErr: FailClosed, point: abi.PointTCPContent, want: rules.Reject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			p := e.load(t, Config{Name: "spec", File: watFile(t, "spec"), Grants: []string{"headers", "respond"}, OnError: tt.onErr})
			p.Close(context.Background()) // every call now fails
			a := &Action{p: p, reg: &p.regs[3], point: tt.point, tcp: !tt.point.Layers().Has(abi.LayerTxn)}
			v := a.Do(httpCtx())
			if v.Kind != tt.want || v.Status != tt.status {
				t.Errorf("verdict %v %d, want %v %d", v.Kind, v.Status, tt.want, tt.status)
			}
		})
	}
}

func TestPlugin_CallTimeout(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), CallTimeout: 50 * time.Millisecond, InstancesMax: 1, OnError: FailOpen})
	start := time.Now()
	if _, ok := e.eval(t, "spin", httpCtx()); ok {
		t.Fatal("spin gave a sample")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the loop ran %v", d)
	}
	if s := p.Stats(); s.Timeouts != 1 || s.Traps != 0 {
		t.Fatalf("timeouts %d traps %d", s.Timeouts, s.Traps)
	}
	if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
		t.Fatal("no service after a timeout")
	}
}

func TestPlugin_MemoryLimit(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), MemoryLimit: 48 << 20, CallTimeout: 10 * time.Second, InstancesMax: 1})
	if _, ok := e.eval(t, "grow", httpCtx()); ok {
		t.Fatal("grow gave a sample")
	}
	if s := p.Stats(); s.MemoryFaults != 1 {
		t.Fatalf("memory faults %d (traps %d, timeouts %d)", s.MemoryFaults, s.Traps, s.Timeouts)
	}
	if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
		t.Fatal("no service after memory exhaustion")
	}
}

func TestPlugin_Quarantine(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, OnError: FailOpen,
		Quarantine: Quarantine{Failures: 3, Window: 10 * time.Second, Backoff: 300 * time.Millisecond}})
	for range 3 {
		e.eval(t, "trap", httpCtx())
	}
	st := p.Stats()
	if !st.Quarantine.Active || st.Quarantine.Level != 1 {
		t.Fatalf("not quarantined after 3 traps: %+v", st.Quarantine)
	}
	if !strings.Contains(e.logs.String(), "plugin quarantined") {
		t.Error("quarantine not logged")
	}
	// Quarantined: rules apply on_error without calling the plugin.
	calls := p.Stats().Calls
	if _, ok := e.eval(t, "ok", httpCtx()); ok {
		t.Error("a quarantined plugin was called")
	}
	if s := p.Stats(); s.Calls != calls || s.Skipped != 1 {
		t.Errorf("calls %d→%d skipped %d", calls, s.Calls, s.Skipped)
	}
	// The backoff expires: a failing probe doubles it.
	time.Sleep(350 * time.Millisecond)
	e.eval(t, "trap", httpCtx())
	st = p.Stats()
	if !st.Quarantine.Active || st.Quarantine.Level != 2 {
		t.Fatalf("probe failure: %+v", st.Quarantine)
	}
	if d := time.Until(st.Quarantine.Until); d < 300*time.Millisecond || d > 600*time.Millisecond {
		t.Errorf("second backoff %v, want 600ms (doubled) less the time since", d)
	}
	// A successful probe ends it.
	time.Sleep(time.Until(st.Quarantine.Until) + 20*time.Millisecond)
	if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
		t.Fatal("probe call failed")
	}
	if st := p.Stats().Quarantine; st.Active || st.Probing || st.Level != 0 || st.Total != 2 {
		t.Errorf("after recovery: %+v", st)
	}
}

// One source's failures quarantine that source, not the plugin: others
// keep being served. Failures from Sources distinct sources that are most
// of the calls quarantine the plugin for everyone.
func TestPlugin_QuarantinePerSource(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, OnError: FailOpen,
		Quarantine: Quarantine{Failures: 3, Window: 10 * time.Second, Backoff: time.Minute}})
	bad, good := httpCtxFrom("192.0.2.66:1000"), httpCtxFrom("192.0.2.10:2000")
	for i := range 10 {
		e.eval(t, "trap", bad)
		if v, ok := e.eval(t, "ok", good); !ok || v.Int != 42 {
			t.Fatalf("round %d: a good source was not served", i)
		}
	}
	st := p.Stats()
	if st.Quarantine.Active || st.Quarantine.Sources != 1 || st.Quarantine.SourcesTotal != 1 {
		t.Fatalf("after one source's traps: %+v", st.Quarantine)
	}
	if st.Traps != 3 || st.Skipped != 7 {
		t.Errorf("traps %d skipped %d, want 3 and 7 (the source is held after 3)", st.Traps, st.Skipped)
	}
	if !strings.Contains(e.logs.String(), "plugin quarantined for one source") {
		t.Error("source quarantine not logged")
	}
	// An IPv6 client's whole /64 is one source.
	for i := range 3 {
		e.eval(t, "trap", httpCtxFrom(fmt.Sprintf("[2001:db8::%d]:1000", i+1)))
	}
	if _, ok := e.eval(t, "ok", httpCtxFrom("[2001:db8::99]:1000")); ok {
		t.Error("another address of a held /64 was served")
	}
	// More sources fail at every call while the good one stays away:
	// once failures are half the calls of the window, the plugin is
	// quarantined for everyone.
	for i := range 3 {
		for range 3 {
			e.eval(t, "trap", httpCtxFrom(fmt.Sprintf("192.0.2.%d:1000", 100+i)))
		}
	}
	if st := p.Stats().Quarantine; !st.Active || st.Narrow {
		t.Fatalf("failures from many sources, most of the calls: %+v", st)
	}
	if _, ok := e.eval(t, "ok", good); ok {
		t.Error("a wide quarantine let a call through")
	}
}

// A plugin whose every call fails from one source is quarantined as a
// whole (narrow), but a call from another source goes through as a probe
// and ends it when it works.
func TestPlugin_QuarantineNarrow(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, OnError: FailOpen,
		Quarantine: Quarantine{Failures: 3, Window: 10 * time.Second, Backoff: time.Minute}})
	lone := httpCtxFrom("192.0.2.66:1000")
	for range 3 {
		e.eval(t, "trap", lone)
	}
	if st := p.Stats().Quarantine; !st.Active || !st.Narrow {
		t.Fatalf("every call failed: %+v", st)
	}
	if _, ok := e.eval(t, "ok", lone); ok {
		t.Error("the culprit was served")
	}
	if v, ok := e.eval(t, "ok", httpCtxFrom("192.0.2.10:2000")); !ok || v.Int != 42 {
		t.Fatal("another source's probe was refused")
	}
	if st := p.Stats().Quarantine; st.Active || st.Level != 0 || st.Total != 1 {
		t.Errorf("after another source's successful probe: %+v", st)
	}
}

func TestPlugin_KeepsServingDuringFailures(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMin: 2, InstancesMax: 3,
		CallTimeout: 300 * time.Millisecond, InstanceWait: time.Second, OnError: FailOpen,
		Quarantine: Quarantine{Failures: 100}})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.eval(t, "spin", httpCtx()) }()
	go func() { defer wg.Done(); e.eval(t, "trap", httpCtx()) }()
	for range 20 {
		if v, ok := e.eval(t, "ok", httpCtx()); !ok || v.Int != 42 {
			t.Fatal("a healthy call failed while others failed")
		}
	}
	wg.Wait()
	if s := p.Stats(); s.Timeouts != 1 || s.Traps != 1 {
		t.Errorf("timeouts %d traps %d", s.Timeouts, s.Traps)
	}
}

func TestLoad_UngrantedImportRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.host.Load(context.Background(), Config{Name: "kitchen", File: wasmFile(t, "kitchen"), Grants: []string{"headers"}})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"lacks grants:", "body (req_body_read)", "route (route_set)", "respond (reply_body_write, reply_header_add, reply_status)",
		"stick_counters (sc_get, sc_gpc_add, sc_gpt_set)", "vars (", "log (log)", "clock (clock_monotonic, clock_wall)", "random (random_fill)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not list %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "headers (") {
		t.Error("a granted capability is listed as lacking")
	}
}

func TestLoad_WrongVersionRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.host.Load(context.Background(), Config{Name: "v2", File: watFile(t, "v2")})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "targets ABI v2") || !strings.Contains(err.Error(), "serves v1") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad_UnknownImportRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.host.Load(context.Background(), Config{Name: "unknown", File: watFile(t, "unknown")})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"strata_v1.teleport", "strata_v1.layers is (i64) -> (i32)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
}

func TestLoad_BadConfig(t *testing.T) {
	e := newEnv(t)
	_, err := e.host.Load(context.Background(), Config{Name: "x", File: wasmFile(t, "uaclass"), Grants: []string{"teleport"}})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("unknown grant: %v", err)
	}
	if _, err := ParseOnError("sometimes"); !errors.Is(err, ErrConfig) {
		t.Errorf("on_error: %v", err)
	}
}

// The plugin written in WebAssembly text from SPEC.md alone.
func TestPlugin_WAT(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "spec", File: watFile(t, "spec"), Grants: []string{"headers", "respond"}, OnError: FailOpen})
	if v, ok := e.eval(t, "wat_host_len", httpCtx("Host", "example.com")); !ok || v.Int != int64(len("example.com")) {
		t.Errorf("wat_host_len = %v %v", v, ok)
	}
	if _, ok := e.eval(t, "wat_host_len", httpCtx()); ok {
		t.Error("wat_host_len without a host header gave a sample")
	}
	if v, ok := e.eval(t, "wat_layers", httpCtx()); !ok || v.Int != int64(allLayers) {
		t.Errorf("wat_layers (http) = %v", v)
	}
	if v, ok := e.eval(t, "wat_layers", tcpCtx()); !ok || v.Int != int64(abi.LayerConn|abi.LayerSess) {
		t.Errorf("wat_layers (tcp) = %v", v)
	}
	if _, ok := e.eval(t, "wat_trap", httpCtx()); ok {
		t.Error("wat_trap gave a sample")
	}
	if s := p.Stats(); s.Traps != 1 {
		t.Errorf("traps %d", s.Traps)
	}
	a, err := p.NewAction("wat_deny", abi.PointHTTPRequest)
	if err != nil {
		t.Fatal(err)
	}
	v := a.Do(httpCtx())
	if v.Kind != rules.Deny || v.Status != 418 || string(v.Body) != "I'm a teapot\n" || string(v.ContentType) != "text/plain" {
		t.Errorf("wat_deny: %+v", v)
	}
}

// Every host function of ABI v1 through the SDK: the imports match.
func TestPlugin_KitchenCallsEveryHostFunction(t *testing.T) {
	e := newEnv(t)
	all := make([]string, len(abi.AllGrants))
	for i, g := range abi.AllGrants {
		all[i] = string(g)
	}
	p := e.load(t, Config{Name: "kitchen", File: wasmFile(t, "kitchen"), Grants: all, Settings: map[string]any{"k": "v"}})
	if !strings.Contains(e.logs.String(), `kitchen init, config {\"k\":\"v\"}`) {
		t.Errorf("init log line missing:\n%s", e.logs.String())
	}
	ctx := httpCtx("host", "example.com")
	ctx.Sess.Ext.Trackers = struct{}{}
	ctx.Strm.Content = []byte("payload")
	ctx.Txn.Resp.Status = 200
	v, ok := e.eval(t, `all(abc,5)`, ctx)
	if !ok {
		t.Fatalf("no sample; log:\n%s", e.logs.String())
	}
	got := v.String()
	for _, want := range []string{"arg0:abc=ok", "arg1:5=ok", "argc:2=ok", "sample:example.com=ok", "req_header_get:example.com=ok",
		"req_header_del:2=ok", "resp_header_get=not found", "resp_header_del:2=ok", "method:GET=ok", "set_method=ok",
		"path:/api/users=ok", "query:id=7=ok", "status:200=ok", "set_status=ok", "body:payload=ok", "var_get:v=ok",
		"sc_get:7=ok", "sc_gpc_add:2=ok", "sc_gpt_set=ok", "route_set=ok",
		"reply_status=not allowed here", "log=ok", "span_attr_str=ok", "span_event=ok", "clock=ok", "random_fill=ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if string(ctx.Txn.Req.Method) != "PUT" || string(ctx.Txn.Req.Path) != "/new" || string(ctx.Txn.Req.Query) != "x=1" || ctx.Txn.Resp.Status != 201 {
		t.Errorf("edits: %s %s ? %s, %d", ctx.Txn.Req.Method, ctx.Txn.Req.Path, ctx.Txn.Req.Query, ctx.Txn.Resp.Status)
	}
	if n, ok := ctx.Sess.Vars.Get("n"); !ok || n.Int != 7 {
		t.Error("sess.n not set")
	}
	if RouteOf(ctx.Strm).Server != "s1" {
		t.Error("server not chosen")
	}
	// Services keep their instance for the stream.
	svc := p.Service("kecho")
	var r Reply
	for i := 1; i <= 3; i++ {
		r.Reset()
		if _, err := svc.Serve(ctx, abi.EventRequest, nil, &r); err != nil {
			t.Fatal(err)
		}
		if got := string(r.HeaderValue("x-calls")); got != string(rune('0'+i)) {
			t.Errorf("call %d: x-calls %s: the stream changed instance", i, got)
		}
	}
	EndStream(ctx)
}

// A handle kept from one call is refused in the next.
func TestPlugin_StaleHandle(t *testing.T) {
	e := newEnv(t)
	e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1})
	e.eval(t, "stale", httpCtx())
	v, ok := e.eval(t, "stale", httpCtx())
	if !ok || v.Int != int64(abi.ErrHandle) {
		t.Fatalf("stale handle gave %v, want %d", v, abi.ErrHandle)
	}
}

// Restarting with an unchanged module reads the compiled code from the
// cache directory instead of compiling again: no file is written.
func TestHost_CompilationCache(t *testing.T) {
	dir := t.TempDir()
	file := wasmFile(t, "uaclass")
	load := func() {
		e := newEnv(t, func(o *HostOptions) { o.CacheDir = dir })
		e.load(t, Config{Name: "uaclass", File: file})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.host.Close(ctx)
	}
	load()
	before := snapshot(t, dir)
	if len(before) == 0 {
		t.Fatal("nothing cached")
	}
	old := time.Now().Add(-time.Hour)
	for f := range before {
		os.Chtimes(f, old, old)
	}
	load()
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Fatalf("cache files %d → %d: the module was compiled again", len(before), len(after))
	}
	for f, m := range after {
		if !m.Equal(old) {
			t.Errorf("%s rewritten: the module was compiled again", filepath.Base(f))
		}
	}
}

func snapshot(t *testing.T, dir string) map[string]time.Time {
	m := map[string]time.Time{}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			m[path] = info.ModTime()
		}
		return nil
	})
	return m
}

// Hammer: many goroutines share a bounded pool.
func TestPool_Hammer(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass"), InstancesMax: 3, InstanceWait: 5 * time.Second})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				ua, want := "curl/1", "cli"
				if (g+i)%2 == 0 {
					ua, want = "Googlebot", "bot"
				}
				if v, ok := e.eval(t, "ua_class", httpCtx("user-agent", ua)); !ok || v.String() != want {
					t.Errorf("got %q want %q", v.String(), want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.Instances > 3 || s.Calls != 240 || s.Busy != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Every instance busy: the call waits InstanceWait, then follows on_error.
func TestPool_BusyFollowsOnError(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "misbehave", File: wasmFile(t, "misbehave"), InstancesMax: 1, InstanceWait: 10 * time.Millisecond,
		CallTimeout: 2 * time.Second, OnError: FailClosed})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := httpCtx()
		x, _ := e.reg.ParseExpr("spin", fetchOpts)
		close(started)
		x.Eval(ctx)
	}()
	<-started
	deadline := time.Now().Add(time.Second)
	for p.Stats().Idle != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if _, ok := e.eval(t, "ok", httpCtx()); ok {
		t.Error("a call succeeded with every instance busy")
	}
	if s := p.Stats(); s.Busy != 1 || e.failures() < 1 {
		t.Errorf("busy %d, fail-closed reports %d", s.Busy, e.failures())
	}
	<-done
}

// Registrations join the core registry like built-ins: a clash is refused.
func TestAttach_NameClash(t *testing.T) {
	e := newEnv(t)
	e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass")})
	p2, err := e.host.Load(context.Background(), Config{Name: "uaclass2", File: wasmFile(t, "uaclass")})
	if err != nil {
		t.Fatal(err)
	}
	if err := Attach(p2, e.reg, nil); !errors.Is(err, ErrRegistration) || !strings.Contains(err.Error(), "ua_class") {
		t.Errorf("err = %v", err)
	}
}

var fetchOpts = fetch.ParseOptions{}

// WASI isolation: no environment and no files unless granted; stdout goes
// to the log with the plugin's name.
func TestPlugin_WASIIsolation(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		grants []string
		want   string
	}{
		{"none", []string{"log"}, "env= file=denied"},
		{"env and fs", []string{"log", "env", "fs"}, "env=secret file=ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			p, err := e.host.Load(context.Background(), Config{Name: "kitchen", File: wasmFile(t, "kitchen"), Grants: append(tt.grants,
				"headers", "body", "vars", "stick_counters", "route", "respond", "trace", "clock", "random"),
				Env: map[string]string{"PROBE": "secret"}, Dirs: map[string]string{"/data": dir}})
			if err != nil {
				t.Fatal(err)
			}
			if err := Attach(p, e.reg, nil); err != nil {
				t.Fatal(err)
			}
			v, ok := e.eval(t, "kenv", httpCtx())
			if !ok || v.String() != tt.want {
				t.Errorf("kenv = %q, want %q", v.String(), tt.want)
			}
			if logs := e.logs.String(); !strings.Contains(logs, "kitchen says hello on stdout") || !strings.Contains(logs, "plugin=kitchen") {
				t.Errorf("stdout not in the log:\n%s", logs)
			}
		})
	}
}

// A TCP service: data events on a stream without a transaction.
func TestPlugin_TCPService(t *testing.T) {
	e := newEnv(t)
	all := make([]string, len(abi.AllGrants))
	for i, g := range abi.AllGrants {
		all[i] = string(g)
	}
	p := e.load(t, Config{Name: "kitchen", File: wasmFile(t, "kitchen"), Grants: all})
	svc := p.Service("kecho")
	ctx := httpCtx()
	ctx.Bind(ctx.Conn, ctx.Sess, ctx.Strm, nil) // TCP: no transaction
	ctx.Strm.Txn = nil
	ctx.Strm.Content = []byte("ping")
	var r Reply
	done, err := svc.Serve(ctx, abi.EventData, nil, &r)
	if err != nil || done || string(r.Body) != "ping" {
		t.Fatalf("data: done %v err %v body %q", done, err, r.Body)
	}
	ctx.Strm.Content = nil
	if done, err = svc.Serve(ctx, abi.EventData, nil, &r); err != nil || !done {
		t.Fatalf("end of data: done %v err %v", done, err)
	}
	EndStream(ctx)
}
