package assemble

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
	"golang.org/x/net/http2"
)

// WebAssembly plugins under HTTP/2: many streams of one h2c connection,
// each a strata stream with its own transaction, so each gets its own
// plugin calls, its own routing and its own failure.

// h2PluginConfig serves h2c on frontend web. Every request gets its own
// path in x-path from the pathheader action; /b/ goes to backend b by a
// use_backend rule; /canary/ is routed by the canary plugin's target from
// the stream's own x-canary header (1: b, 0: a); /trap/action/ and
// /trap/target/ trap in the misbehave plugin (an action, a routing target)
// and fail closed.
const h2PluginConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true, max_concurrent_streams: 100 }
` + pluginRules + pluginsAndBackends

// pluginRules are the rules of h2PluginConfig's frontend.
const pluginRules = `    timeouts: { client: 30s, http_request: 10s, http_keep_alive: 30s }
    http_request:
      - "path_header"
      - "trap_action if { path_beg /trap/action/ }"
    use_backend:
      - "b if { path_beg /b/ }"
      - "canary if { path_beg /canary/ }"
      - "trap_target if { path_beg /trap/target/ }"
    default_backend: a
`

// pluginsAndBackends are the plugins and backends of h2PluginConfig.
const pluginsAndBackends = `plugins:
  pathheader: { file: "{{wasm:pathheader}}", grants: [headers], call_timeout: 5s }
  canary:
    file: "{{wasm:canary}}"
    grants: [headers, route]
    call_timeout: 5s
    config: { header: x-canary, weight: 0, canary: b, stable: a }
  mb:
    file: "{{wasm:misbehave}}"
    on_error: fail_closed
    call_timeout: 5s
    instances: { min: 1, max: 4 }
backends:
  a:
    mode: http
    timeouts: { connect: 2s, server: 20s }
    servers: { s1: { address: "{{a}}" } }
  b:
    mode: http
    timeouts: { connect: 2s, server: 20s }
    servers: { s1: { address: "{{b}}" } }
`

// h2cClient is Go's HTTP/2 client speaking cleartext HTTP/2 with prior
// knowledge to addr, whatever the URL says; dials counts its connections.
func h2cClient(addr string, dials *atomic.Int64) *http.Client {
	// x/net's client, not net/http's: net/http's may open a connection
	// per request while its first HTTP/2 connection is being set up,
	// which this test, about streams of one connection, must not see.
	//lint:ignore SA1019 deprecated in favour of net/http, see above
	tr := &http2.Transport{
		AllowHTTP:          true, //lint:ignore SA1019 as above
		DisableCompression: true, //lint:ignore SA1019 as above
		//lint:ignore SA1019 as above
		DialTLSContext: func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// h2Stream is one request of TestH2_PluginsPerStream and what it must get.
type h2Stream struct {
	name       string
	path       string
	canary     string    // x-canary request header, when set
	body       io.Reader // a POST body, when set
	bodyLen    int       // its length, for the server to have read
	wantStatus int
	wantServer string // x-server of the upstream that must answer
	wantPath   string // x-path the upstream must see (the plugin's action)
}

// h2Streams returns n requests of every kind, each with its own path.
func h2Streams(n int) []h2Stream {
	var out []h2Stream
	for i := range n {
		var s h2Stream
		switch i % 5 {
		case 0:
			s = h2Stream{name: "default backend", path: fmt.Sprintf("/a/%d", i), wantStatus: 200, wantServer: "A"}
		case 1:
			s = h2Stream{name: "use_backend rule", path: fmt.Sprintf("/b/%d", i), wantStatus: 200, wantServer: "B"}
		case 2:
			// The plugin's routing target reads this stream's header:
			// neighbours on the connection go different ways.
			s = h2Stream{name: "plugin target", path: fmt.Sprintf("/canary/%d", i), canary: "1", wantStatus: 200, wantServer: "B"}
			if i%2 == 1 {
				s.canary, s.wantServer = "0", "A"
			}
		case 3:
			s = h2Stream{name: "action traps", path: fmt.Sprintf("/trap/action/%d", i), wantStatus: 500}
		case 4:
			s = h2Stream{name: "target traps", path: fmt.Sprintf("/trap/target/%d", i), wantStatus: 500}
		}
		s.wantPath = s.path
		out = append(out, s)
	}
	return out
}

// check sends s on c (HTTP/2 in clear text) and checks its answer.
func (s h2Stream) check(c *http.Client) error { return s.checkOver(c, testsupport.H2C) }

// checkOver sends s on c, which speaks proto, and checks its answer.
func (s h2Stream) checkOver(c *http.Client, proto testsupport.Proto) error {
	method := "GET"
	if s.body != nil {
		method = "POST"
	}
	req, err := http.NewRequest(method, proto.Scheme()+"://h2.test"+s.path, s.body)
	if err != nil {
		return err
	}
	if s.canary != "" {
		req.Header.Set("x-canary", s.canary)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %v", s.name, s.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: body: %v", s.name, s.path, err)
	}
	if wantMajor := 1 + btoi(proto == testsupport.H2C || proto == testsupport.H2TLS); resp.ProtoMajor != wantMajor {
		return fmt.Errorf("%s %s: %s, want HTTP/%d", s.name, s.path, resp.Proto, wantMajor)
	}
	if resp.StatusCode != s.wantStatus {
		return fmt.Errorf("%s %s: status %d, want %d: %s", s.name, s.path, resp.StatusCode, s.wantStatus, body)
	}
	if s.wantStatus != 200 {
		return nil
	}
	if got := resp.Header.Get("x-server"); got != s.wantServer {
		return fmt.Errorf("%s %s: served by %q, want %q", s.name, s.path, got, s.wantServer)
	}
	var e testsupport.Echoed
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Errorf("%s %s: %v in %q", s.name, s.path, err, body)
	}
	if e.URI != s.path {
		return fmt.Errorf("%s %s: the server got %q", s.name, s.path, e.URI)
	}
	if got, _ := e.First("x-path"); got != s.wantPath {
		return fmt.Errorf("%s %s: path_header gave x-path %q, want %q", s.name, s.path, got, s.wantPath)
	}
	if s.body != nil {
		var l struct {
			BodyLength int `json:"body_length"`
		}
		if err := json.Unmarshal(body, &l); err != nil || l.BodyLength != s.bodyLen {
			return fmt.Errorf("%s %s: the server read %d body bytes (%v), want %d", s.name, s.path, l.BodyLength, err, s.bodyLen)
		}
	}
	return nil
}

// TestH2_PluginsPerStream: many concurrent streams on one h2c connection.
// Each stream runs its own plugin calls: the action's header carries the
// stream's own path, the plugin's routing target and a use_backend rule
// send neighbouring streams to different backends, and a plugin trapping
// (in an action or a routing target) fails its own stream with 500 while
// the other streams of the connection, including ones in flight at the
// server the whole time, complete with 200.
func TestH2_PluginsPerStream(t *testing.T) {
	a := startUpstream(t, "-mode", "echo", "-name", "A")
	b := startUpstream(t, "-mode", "echo", "-name", "B")
	p := startProxy(t, h2PluginConfig, map[string]string{"a": a.Addr, "b": b.Addr}, nil)
	var dials atomic.Int64
	c := h2cClient(p.addr("web"), &dials)
	defer c.CloseIdleConnections()

	// Held streams first: POSTs whose bodies the client finishes only
	// once every other stream has ended, so they are in flight, at the
	// server, while the others come and go (and trap) on the connection.
	const nHeld, firstHalf, secondHalf = 4, "first half;", "second half"
	held := make(chan error, nHeld)
	var bodies []*io.PipeWriter
	for k := range nHeld {
		pr, pw := io.Pipe()
		bodies = append(bodies, pw)
		t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
		path := fmt.Sprintf("/held/%d", k)
		body := io.MultiReader(strings.NewReader(firstHalf), pr)
		go func() {
			held <- h2Stream{name: "held", path: path, body: body, bodyLen: len(firstHalf + secondHalf),
				wantStatus: 200, wantServer: "A", wantPath: path}.check(c)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for k := range nHeld {
		for a.Received(t, fmt.Sprintf("/held/%d", k)) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("held stream %d did not reach the server", k)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	streams := h2Streams(60)
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.check(c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(held); n != 0 {
		t.Errorf("%d held streams ended before the client finished their bodies", n)
	}
	for _, pw := range bodies {
		go func() {
			io.WriteString(pw, secondHalf)
			pw.Close()
		}()
	}
	for range nHeld {
		if err := <-held; err != nil {
			t.Errorf("a stream in flight during the traps: %v", err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections, want every stream on one", n)
	}

	// Each trap cost one instance and nothing else.
	traps := 0
	for _, s := range streams {
		if s.wantStatus == 500 {
			traps++
		}
	}
	if st := p.stats(t, "mb"); st.Traps != uint64(traps) {
		t.Errorf("misbehave counted %d traps, want %d (one per trapping stream): %+v", st.Traps, traps, st)
	}
	for _, name := range []string{"pathheader", "canary"} {
		if st := p.stats(t, name); st.Traps != 0 || st.Errors != 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	checkH2AccessLog(t, p, streams, nHeld)
}

// checkH2AccessLog waits for the access-log lines of every stream and
// checks that they came on one client connection (one session id, a
// stream id each), went to the backend the stream wanted, and ended with
// the cause they should: plugin for a trap, none otherwise.
func checkH2AccessLog(t *testing.T, p *testProxy, streams []h2Stream, nHeld int) {
	t.Helper()
	want := make(map[string]h2Stream, len(streams))
	for _, s := range streams {
		want[s.path] = s
	}
	var lines []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(p.alog.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				lines = append(lines, m)
			}
		}
		if len(lines) >= len(streams)+nHeld {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access-log lines, want %d:\n%s", len(lines), len(streams)+nHeld, p.alog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sessions := map[any]bool{}
	streamIDs := map[any]bool{}
	for _, l := range lines {
		sessions[l["session_id"]] = true
		streamIDs[l["stream_id"]] = true
		uri, _ := l["uri"].(string)
		if strings.HasPrefix(uri, "/held/") {
			if l["status"] != float64(200) || l["backend"] != "a" || l["termination_cause"] != "none" {
				t.Errorf("held stream: access log %v", l)
			}
			continue
		}
		s, ok := want[uri]
		if !ok {
			t.Errorf("an access-log line for no stream of the test: %v", l)
			continue
		}
		delete(want, uri)
		switch {
		case s.wantStatus == 500:
			if l["status"] != float64(500) || l["termination_cause"] != "plugin" {
				t.Errorf("%s %s: access log %v, want 500 with termination cause plugin", s.name, uri, l)
			}
		case l["status"] != float64(200) || l["termination_cause"] != "none" || l["backend"] != strings.ToLower(s.wantServer):
			t.Errorf("%s %s: access log %v, want 200 from backend %s", s.name, uri, l, strings.ToLower(s.wantServer))
		}
	}
	for uri := range want {
		t.Errorf("no access-log line for %s", uri)
	}
	if len(sessions) != 1 {
		t.Errorf("streams logged on %d client sessions, want one: %v", len(sessions), sessions)
	}
	if len(streamIDs) != len(lines) {
		t.Errorf("%d stream ids for %d streams, want one each", len(streamIDs), len(lines))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
