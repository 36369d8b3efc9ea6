package proxywasm

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// runStream drives one stream through every phase the way the engine
// does, and returns its statuses by phase.
func runStream(sf filter.StreamFilter, s *memStream, resp *memFields) []filter.Status {
	var st []filter.Status
	st = append(st, sf.RequestHeaders(false))
	st = append(st, sf.RequestBody(&memBody{b: []byte("ping")}, true))
	s.resp = resp
	st = append(st, sf.ResponseHeaders(false))
	st = append(st, sf.ResponseBody(&memBody{b: []byte("pong")}, true))
	sf.Log()
	sf.Done()
	return st
}

// Header add, replace and remove on both sides, a :path write, the plugin
// configuration, metrics of every kind on /metrics, proxy_on_log and
// proxy_log lines with the filter's name.
func TestFilter_Headers(t *testing.T) {
	var log testsupport.SyncBuffer
	p := loadPlugin(t, testHost(t, &log), "headers", nil)
	f, err := New(context.Background(), Config{Name: "hdrs", Plugin: p, PluginConfig: []byte("x-cfg")})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().ABIName; got != "proxy-wasm 0.2.0" {
		t.Errorf("ABI %q, want proxy-wasm 0.2.0", got)
	}
	req := request("/a", "x-replace", "old", "x-remove", "bye", "x-new-path", "/b?q=1")
	s, sf := open(t, f, req)
	if st := sf.RequestHeaders(true); st != filter.Continue {
		t.Fatalf("request headers: %v", st)
	}
	if req.at != 0 {
		t.Errorf("the host read the request head field by field %d times; a header-only filter must not copy it", req.at)
	}
	for name, want := range map[string]string{"x-cfg-added": "yes", "x-replace": "replaced", "x-remove": "", ":path": "/b?q=1"} {
		if got := req.get(name); got != want {
			t.Errorf("request %s = %q, want %q", name, got, want)
		}
	}
	// A filter that continues on headers and has nothing to do with bodies
	// continues on every body chunk: nothing is buffered for it.
	if st := sf.RequestBody(&memBody{b: []byte("x")}, false); st != filter.Continue {
		t.Errorf("request body: %v, want Continue", st)
	}
	s.resp = fields(":status", "200", "server", "app", "x-secret", "s")
	if st := sf.ResponseHeaders(false); st != filter.Continue {
		t.Fatalf("response headers: %v", st)
	}
	for name, want := range map[string]string{"x-cfg-response": "yes", "server": "strata-filter", "x-secret": ""} {
		if got := s.resp.get(name); got != want {
			t.Errorf("response %s = %q, want %q", name, got, want)
		}
	}
	sf.Log()
	sf.Done()

	m := telemetry.Gather(f.Gather, p.Gather)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"strata_wasm_requests_total", 1}, {"strata_wasm_completed_total", 1}, {"strata_wasm_inflight", 0},
		{"strata_wasm_path_len_count", 1}, {"strata_wasm_path_len_sum", 2},
	} {
		if v, ok := m.Value(c.name, "filter", "hdrs"); !ok || v != c.want {
			t.Errorf("%s{filter=hdrs} = %v (%v), want %v", c.name, v, ok, c.want)
		}
	}
	if v, ok := m.Value("strata_plugin_info", "plugin", "headers", "abi", "proxy-wasm 0.2.0"); !ok || v != 1 {
		t.Errorf("strata_plugin_info with the ABI: %v %v", v, ok)
	}
	out := log.String()
	for _, want := range []string{`msg="request /a"`, `msg="stream done"`, "filter=hdrs", "stream=11"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// proxy_on_configure returning false fails the filter at load, saying so.
func TestNew_ConfigureRefused(t *testing.T) {
	p := loadPlugin(t, testHost(t, nil), "headers", nil)
	_, err := New(context.Background(), Config{Plugin: p, PluginConfig: []byte("refuse")})
	if err == nil || !strings.Contains(err.Error(), "proxy_on_configure returned false") {
		t.Fatalf("err %v, want proxy_on_configure returned false", err)
	}
}

// The body filter pauses until the end of each body (the engine buffers)
// and rewrites it: upper-cased on the request, appended to on the response.
func TestFilter_Body(t *testing.T) {
	f := newFilter(t, "body", Config{}, nil)
	s, sf := open(t, f, request("/up", ":method", "POST"))
	defer sf.Done()
	if st := sf.RequestHeaders(false); st != filter.Continue {
		t.Fatalf("request headers: %v", st)
	}
	if st := sf.RequestBody(&memBody{b: []byte("hello ")}, false); st != filter.Pause {
		t.Fatalf("first chunk: %v, want Pause (buffer)", st)
	}
	body := &memBody{b: []byte("hello world")}
	if st := sf.RequestBody(body, true); st != filter.Continue {
		t.Fatalf("last chunk: %v", st)
	}
	if string(body.b) != "HELLO WORLD" {
		t.Errorf("request body %q, want HELLO WORLD", body.b)
	}
	s.resp = fields(":status", "200")
	if st := sf.ResponseHeaders(false); st != filter.Continue {
		t.Fatalf("response headers: %v", st)
	}
	rb := &memBody{b: []byte("answer")}
	if st := sf.ResponseBody(rb, true); st != filter.Continue {
		t.Fatalf("response body: %v", st)
	}
	if string(rb.b) != "answer-filtered" {
		t.Errorf("response body %q, want answer-filtered", rb.b)
	}
}

// A local response (401 with a header) stops the stream at the filter.
func TestFilter_LocalResponse(t *testing.T) {
	f := newFilter(t, "auth", Config{PluginConfig: []byte("authz"), Backends: []string{"authz"}}, nil)
	s, sf := open(t, f, request("/local"))
	defer sf.Done()
	if st := sf.RequestHeaders(true); st != filter.Pause {
		t.Fatalf("request headers: %v, want Pause", st)
	}
	r := s.replied()
	if r == nil || r.Status != 401 || string(r.Body) != "who are you?" ||
		len(r.Fields) != 1 || r.Fields[0] != [2]string{"www-authenticate", `Basic realm="strata"`} {
		t.Fatalf("reply %+v, want 401 with www-authenticate", r)
	}
}

// An auth filter pauses the request, asks a backend over a real socket,
// and resumes (allow, with a header from the answer) or answers 403
// (deny), on the instance and context that dispatched the call. A backend
// outside the filter's allow-list is refused without a dial.
func TestFilter_HTTPCall(t *testing.T) {
	authz := testsupport.StartAuthServer(t)
	caller := &httpCaller{addrs: map[string]string{"authz": authz.Addr, "other": authz.Addr}}
	f := newFilter(t, "auth", Config{PluginConfig: []byte("authz"), Backends: []string{"authz"}, Caller: caller}, nil)
	tests := []struct {
		name, user string
		wantEvent  string
		wantStatus int
	}{
		{name: "allow", user: "alice", wantEvent: "resume"},
		{name: "deny", user: "mallory", wantEvent: "reply", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("/api", "x-user", tt.user)
			s, sf := open(t, f, req)
			defer sf.Done()
			if st := sf.RequestHeaders(true); st != filter.Pause {
				t.Fatalf("request headers: %v, want Pause", st)
			}
			if ev := s.wait(t); ev != tt.wantEvent {
				t.Fatalf("event %s, want %s", ev, tt.wantEvent)
			}
			if tt.wantStatus != 0 {
				if r := s.replied(); r == nil || r.Status != tt.wantStatus {
					t.Fatalf("reply %+v, want %d", r, tt.wantStatus)
				}
				return
			}
			if got := req.get("x-auth"); got != "alice-ok" {
				t.Errorf("x-auth %q, want alice-ok (read from the answer during proxy_on_http_call_response)", got)
			}
		})
	}
	t.Run("backend not allowed", func(t *testing.T) {
		before := authz.Count()
		g := newFilter(t, "auth", Config{PluginConfig: []byte("other"), Backends: []string{"authz"}, Caller: caller}, nil)
		s, sf := open(t, g, request("/api", "x-user", "alice"))
		defer sf.Done()
		if st := sf.RequestHeaders(true); st != filter.Pause {
			t.Fatalf("request headers: %v", st)
		}
		r := s.replied()
		if r == nil || r.Status != 503 || !strings.Contains(string(r.Body), "bad argument") {
			t.Fatalf("reply %+v, want 503 saying bad argument", r)
		}
		if n := authz.Count(); n != before {
			t.Errorf("the backend got %d requests for a name outside the allow-list", n-before)
		}
	})
}

// sharedValue reads the process-wide shared data the guests write.
func sharedValue(key string) []byte {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if e := shared.m[key]; e != nil {
		return e.value
	}
	return nil
}

// Streams on four instances increment one shared counter with a
// compare-and-swap loop, from eight goroutines at once: no update is lost
// and no value is handed out twice.
func TestFilter_SharedDataCAS(t *testing.T) {
	f := newFilter(t, "shared", Config{}, func(c *plugins.Config) { c.InstancesMax = 4 })
	// Four streams open at once force four instances.
	var held []filter.StreamFilter
	for range 4 {
		_, sf := open(t, f, request("/warm"))
		held = append(held, sf)
	}
	for _, sf := range held {
		sf.Done()
	}
	if n := f.p.Stats().Created; n < 4 {
		t.Fatalf("%d instances created, want 4", n)
	}
	const workers, each = 8, 25
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				s := newStream(request("/cas"))
				sf, err := f.NewStream(s)
				if err != nil {
					t.Error(err)
					return
				}
				sf.RequestHeaders(true)
				s.resp = fields(":status", "200")
				sf.ResponseHeaders(true)
				sf.Done()
				n, err := strconv.Atoi(s.resp.get("x-hits"))
				mu.Lock()
				if err != nil || seen[n] {
					t.Errorf("x-hits %q: unreadable or handed out twice", s.resp.get("x-hits"))
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	final := binary.LittleEndian.Uint64(sharedValue("hits"))
	if len(seen) != workers*each {
		t.Fatalf("%d distinct values, want %d", len(seen), workers*each)
	}
	for n := range seen {
		if uint64(n) > final || uint64(n) <= final-workers*each {
			t.Errorf("value %d outside (%d, %d]: an update was lost", n, final-workers*each, final)
		}
	}
}

// eventually polls cond, bounded in count and time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: never happened", what)
}

// One filter enqueues on a shared queue another registered; the
// registering root context is told (proxy_on_queue_ready) and dequeues.
// The same root context ticks.
func TestFilter_SharedQueueAndTick(t *testing.T) {
	q := newFilter(t, "queue", Config{}, nil)
	_ = q
	f := newFilter(t, "shared", Config{}, nil)
	for _, path := range []string{"/q1", "/q2"} {
		_, sf := open(t, f, request(path))
		sf.RequestHeaders(true)
		sf.Done()
	}
	eventually(t, "the queue's items reach the registering filter", func() bool {
		s := string(sharedValue("seen"))
		return strings.Contains(s, "/q1,") && strings.Contains(s, "/q2,")
	})
	eventually(t, "two ticks", func() bool {
		b := sharedValue("ticks")
		return len(b) == 8 && binary.LittleEndian.Uint64(b) >= 2
	})
}

// Properties with Envoy's names and encodings, strata's own fetches under
// strata. (with the layer checks: a fetch the call cannot make is not
// found), unknown ones NOT_FOUND, and a property the filter sets.
func TestFilter_Properties(t *testing.T) {
	f := newFilter(t, "props", Config{RootID: "root-a"}, nil)
	props := []string{"request.path", "request.url_path", "request.query", "request.method", "request.host",
		"request.scheme", "request.headers.x-props", "source.address", "source.port", "destination.address",
		"destination.port", "connection.id", "connection.mtls", "plugin_name", "plugin_root_id", "plugin_vm_id",
		"cluster_name", "response.code", "nosuch.thing", "strata.src", "strata.req.hdr(x-one)", "strata.no_such_fetch"}
	s, sf := open(t, f, request("/p/q?x=1", "x-props", strings.Join(props, ","), "x-one", "v1"))
	defer sf.Done()
	sf.RequestHeaders(true)
	s.resp = fields(":status", "204")
	sf.ResponseHeaders(true)
	want := map[string]string{
		"request.path": "/p/q?x=1", "request.url_path": "/p/q", "request.query": "x=1", "request.method": "GET",
		"request.host": "example.test", "request.scheme": "http", "request.headers.x-props": strings.Join(props, ","),
		"source.address": "192.0.2.10:40000", "source.port": "40000", "destination.address": "198.51.100.1:8080",
		"destination.port": "8080", "connection.id": "7", "connection.mtls": "0", "plugin_name": "props",
		"plugin_root_id": "root-a", "plugin_vm_id": "", "cluster_name": "app",
		"response.code": "error:error status returned by host: not found", // read at request time: no response yet
		"nosuch.thing":  "error:error status returned by host: not found",
		"strata.src":    "192.0.2.10", "strata.req.hdr(x-one)": "v1",
		"strata.no_such_fetch": "error:error status returned by host: not found",
		"my.note":              "kept",
	}
	for p, w := range want {
		if got := s.resp.get("x-prop-" + p); got != w {
			t.Errorf("%s = %q, want %q", p, got, w)
		}
	}
}

// Many streams paused on HTTP calls share two instances: each answer
// reaches the stream that asked (its user's verdict), whatever the
// interleaving of callbacks and answers on the instance.
func TestFilter_HTTPCallHammer(t *testing.T) {
	authz := testsupport.StartAuthServer(t)
	caller := &httpCaller{addrs: map[string]string{"authz": authz.Addr}}
	f := newFilter(t, "auth", Config{PluginConfig: []byte("authz"), Backends: []string{"authz"}, Caller: caller},
		func(c *plugins.Config) { c.InstancesMax = 2 })
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				user, want := "alice", "resume"
				if (w+i)%2 == 1 {
					user, want = "mallory", "reply"
				}
				req := request("/api", "x-user", user)
				s := newStream(req)
				sf, err := f.NewStream(s)
				if err != nil {
					t.Error(err)
					return
				}
				if st := sf.RequestHeaders(true); st != filter.Pause {
					t.Errorf("request headers: %v", st)
				}
				var ev string
				select { // not s.wait: t.Fatal belongs to the test's goroutine
				case ev = <-s.events:
				case <-time.After(30 * time.Second):
				}
				if ev != want {
					t.Errorf("%s: %q, want %s", user, ev, want)
				}
				if want == "resume" && req.get("x-auth") != "alice-ok" {
					t.Errorf("alice's stream got x-auth %q", req.get("x-auth"))
				}
				sf.Log()
				sf.Done()
			}
		}()
	}
	wg.Wait()
	if n := f.p.Stats().Created; n > 3 { // the one Load checks, and at most two
		t.Errorf("%d instances created for a filter allowed two", n)
	}
}

// TestNew_StartsInstancesMin: instances.min instances are configured when
// the filter is built, not when the first requests come (a WAF's
// configure takes seconds); instances.max still bounds them.
func TestNew_StartsInstancesMin(t *testing.T) {
	for _, tc := range []struct{ min, max, want int }{{0, 4, 1}, {3, 4, 3}, {2, 2, 2}} {
		f := newFilter(t, "headers", Config{}, func(c *plugins.Config) { c.InstancesMin, c.InstancesMax = tc.min, tc.max })
		f.mu.Lock()
		n := len(f.vms)
		f.mu.Unlock()
		if n != tc.want {
			t.Errorf("instances min %d max %d: %d instances started, want %d", tc.min, tc.max, n, tc.want)
		}
	}
}
