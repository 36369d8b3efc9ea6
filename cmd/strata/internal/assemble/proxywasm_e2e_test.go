package assemble

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// Proxy-Wasm filters written with the proxy-wasm-go-sdk (the test filters
// of plugins/proxywasm) running in strata, driven by real HTTP/1.1 and
// HTTP/2 clients over sockets: each behaviour is one table, run over both.

// pwFilters are the test filters the end-to-end tests load.
var pwFilters = []string{"headers", "body", "auth", "shared", "queue", "props", "bad"}

// pwConfig: the headers filter on the frontend; on the backends, body
// rewriting, an auth filter asking backend authz, shared data and a
// shared queue with a tick, properties, a filter that traps, and a body
// filter with a 16-byte limit; frontend short (http_request 1s) leads to
// a filter that never continues.
const pwConfig = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    timeouts: { client: 30s, http_request: 10s, http_keep_alive: 30s }
    filters:
      - { plugin: headers, config: x-cfg }
    use_backend:
      - "body if { path_beg /body/ }"
      - "auth if { path_beg /auth/ }"
      - "sq if { path_beg /sq/ }"
      - "props if { path_beg /props/ }"
      - "bad if { path_beg /bad/ }"
      - "small if { path_beg /small/ }"
    default_backend: app
  short:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    timeouts: { client: 30s, http_request: 1s, http_keep_alive: 30s }
    default_backend: never
plugins:
  headers: { file: "{{pw:headers}}", call_timeout: 5s }
  body: { file: "{{pw:body}}", call_timeout: 5s }
  auth: { file: "{{pw:auth}}", call_timeout: 5s }
  shared: { file: "{{pw:shared}}", call_timeout: 5s }
  queue: { file: "{{pw:queue}}", call_timeout: 5s }
  props: { file: "{{pw:props}}", call_timeout: 5s }
  bad: { file: "{{pw:bad}}", call_timeout: 5s, on_error: fail_closed }
backends:
  app: { mode: http, timeouts: { server: 20s }, servers: { s1: { address: "{{echo}}" } } }
  body: { mode: http, timeouts: { server: 20s }, filters: [body], servers: { s1: { address: "{{echo}}" } } }
  auth:
    mode: http
    timeouts: { server: 20s }
    filters: [{ plugin: auth, config: authz, backends: [authz] }]
    servers: { s1: { address: "{{echo}}" } }
  authz: { mode: http, servers: { s1: { address: "{{authz}}" } } }
  sq: { mode: http, timeouts: { server: 20s }, filters: [shared, queue], servers: { s1: { address: "{{echo}}" } } }
  props: { mode: http, timeouts: { server: 20s }, filters: [props], servers: { s1: { address: "{{echo}}" } } }
  bad: { mode: http, filters: [{ plugin: bad, config: "trap:request_headers" }], servers: { s1: { address: "{{echo}}" } } }
  never: { mode: http, filters: [{ plugin: bad, config: never }], servers: { s1: { address: "{{echo}}" } } }
  small: { mode: http, filters: [{ plugin: body, max_body: 16 }], servers: { s1: { address: "{{echo}}" } } }
`

// startPW starts strata with pwConfig and returns it with an HTTP/1.1
// and an HTTP/2 (h2c) client, by name.
func startPW(t *testing.T) (*testProxy, map[string]*http.Client) {
	t.Helper()
	vars := map[string]string{"echo": startUpstream(t, "-mode", "echo").Addr, "authz": testsupport.StartAuthServer(t).Addr}
	for _, name := range pwFilters {
		file, err := testsupport.BuildWasm("../../../../plugins/proxywasm/testdata/filters", name)
		if err != nil {
			t.Fatal(err)
		}
		vars["pw:"+name] = file
	}
	p := startProxy(t, pwConfig, vars, nil)
	var dials atomic.Int64
	return p, map[string]*http.Client{
		"HTTP/1.1":       {Timeout: 30 * time.Second},
		"HTTP/2":         h2cClient(p.addr("web"), &dials),
		"HTTP/2 (short)": h2cClient(p.addr("short"), &dials),
	}
}

// do sends a request with c and returns the answer.
func do(t *testing.T, c *http.Client, method, url, body string, headers ...string) response {
	t.Helper()
	r, err := send(c, method, url, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestProxyWasm_EndToEnd(t *testing.T) {
	p, clients := startPW(t)
	base := "http://" + p.addr("web")
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		c := clients[proto]
		t.Run(proto+"/headers", func(t *testing.T) {
			r := do(t, c, "GET", base+"/hdrs/a", "", "x-replace", "old", "x-remove", "bye", "x-new-path", "/hdrs/rewritten")
			e := testsupport.DecodeEcho(t, []byte(r.body))
			if v, _ := e.First("x-cfg-added"); v != "yes" {
				t.Errorf("x-cfg-added %q", v)
			}
			if v, _ := e.First("x-replace"); v != "replaced" {
				t.Errorf("x-replace %q", v)
			}
			if _, ok := e.First("x-remove"); ok {
				t.Error("x-remove reached the server")
			}
			if e.URI != "/hdrs/rewritten" {
				t.Errorf("the server got %s; a write of :path rewrites the request line", e.URI)
			}
			if r.header.Get("x-cfg-response") != "yes" || r.header.Get("server") != "strata-filter" {
				t.Errorf("response headers %v", r.header)
			}
		})
		t.Run(proto+"/request trailers", func(t *testing.T) {
			// The headers filter reads a request trailer and adds one;
			// the (HTTP/1.1) server gets both in the chunked body's
			// trailer section.
			req, err := http.NewRequest("POST", base+"/hdrs/trailers", io.MultiReader(strings.NewReader("with trailers")))
			if err != nil {
				t.Fatal(err)
			}
			req.Trailer = http.Header{"X-Req-Trailer": {"client"}}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			e := testsupport.DecodeEcho(t, body)
			got := map[string]string{}
			for _, f := range e.Trailers {
				got[strings.ToLower(f[0])] = f[1]
			}
			if got["x-req-trailer"] != "client" || got["x-cfg-trailer"] != "saw client" || e.BodyLength != 13 {
				t.Errorf("the server got trailers %q and %d body bytes", e.Trailers, e.BodyLength)
			}
		})
		t.Run(proto+"/body", func(t *testing.T) {
			r := do(t, c, "POST", base+"/body/a", "hello world")
			want := sha256.Sum256([]byte("HELLO WORLD"))
			if !strings.HasSuffix(r.body, "-filtered") {
				t.Fatalf("response body %q does not end with -filtered", r.body)
			}
			var e testsupport.Echoed
			decodeJSON(t, strings.TrimSuffix(r.body, "-filtered"), &e)
			if e.BodyLength != 11 || e.BodySHA256 != hex.EncodeToString(want[:]) {
				t.Errorf("the server got %d bytes %s, want HELLO WORLD", e.BodyLength, e.BodySHA256)
			}
		})
		t.Run(proto+"/auth", func(t *testing.T) {
			r := do(t, c, "GET", base+"/auth/a", "", "x-user", "alice")
			if r.status != 200 {
				t.Fatalf("allowed user: %d %s", r.status, r.body)
			}
			if v, _ := testsupport.DecodeEcho(t, []byte(r.body)).First("x-auth"); v != "alice-ok" {
				t.Errorf("x-auth %q, want the authz backend's answer", v)
			}
			if r := do(t, c, "GET", base+"/auth/a", "", "x-user", "mallory"); r.status != 403 || r.body != "denied" {
				t.Errorf("denied user: %d %q", r.status, r.body)
			}
			r = do(t, c, "GET", base+"/auth/local", "")
			if r.status != 401 || r.header.Get("www-authenticate") != `Basic realm="strata"` || r.body != "who are you?" {
				t.Errorf("local response: %d %v %q", r.status, r.header, r.body)
			}
		})
		t.Run(proto+"/shared data and queue", func(t *testing.T) {
			mark := "/sq/mark-" + strings.ReplaceAll(proto, "/", "")
			r1 := do(t, c, "GET", base+mark, "")
			r2 := do(t, c, "GET", base+"/sq/next", "")
			var h1, h2 int
			fmt.Sscan(r1.header.Get("x-hits"), &h1)
			fmt.Sscan(r2.header.Get("x-hits"), &h2)
			if h1 == 0 || h2 <= h1 {
				t.Errorf("x-hits %q then %q: want a growing counter", r1.header.Get("x-hits"), r2.header.Get("x-hits"))
			}
			for i := 0; ; i++ {
				r := do(t, c, "GET", base+"/sq/poll", "")
				if strings.Contains(r.header.Get("x-seen"), mark+",") && r.header.Get("x-ticked") == "yes" {
					break
				}
				if i == 200 {
					t.Fatalf("the queue's root context never saw %s or never ticked: x-seen %q x-ticked %q",
						mark, r.header.Get("x-seen"), r.header.Get("x-ticked"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		t.Run(proto+"/properties", func(t *testing.T) {
			props := "request.path,request.method,request.protocol,plugin_name,strata.src,source.address,response.code"
			r := do(t, c, "GET", base+"/props/a?x=1", "", "x-props", props)
			want := map[string]string{"request.path": "/props/a?x=1", "request.method": "GET", "request.protocol": proto,
				"plugin_name": "props", "strata.src": "127.0.0.1",
				"response.code": "error:error status returned by host: not found"}
			for k, w := range want {
				if got := r.header.Get("x-prop-" + k); got != w {
					t.Errorf("%s = %q, want %q", k, got, w)
				}
			}
			if !strings.HasPrefix(r.header.Get("x-prop-source.address"), "127.0.0.1:") {
				t.Errorf("source.address %q", r.header.Get("x-prop-source.address"))
			}
		})
		t.Run(proto+"/trap", func(t *testing.T) {
			if r := do(t, c, "GET", base+"/bad/a", ""); r.status != 500 {
				t.Errorf("trapping filter: %d, want 500", r.status)
			}
			if r := do(t, c, "GET", base+"/hdrs/after", ""); r.status != 200 {
				t.Errorf("after a trap: %d", r.status)
			}
		})
		t.Run(proto+"/body over the limit", func(t *testing.T) {
			if r := do(t, c, "POST", base+"/small/a", strings.Repeat("x", 100)); r.status != 413 {
				t.Errorf("a 100-byte body through a filter buffering 16: %d, want 413", r.status)
			}
			if r := do(t, c, "POST", base+"/small/a", "tiny"); r.status != 200 {
				t.Errorf("a body within the limit: %d", r.status)
			}
		})
		t.Run(proto+"/never continues", func(t *testing.T) {
			sc := clients["HTTP/2 (short)"]
			short := "http://" + p.addr("short")
			if proto == "HTTP/1.1" {
				sc = c
			}
			if r := do(t, sc, "GET", short+"/", ""); r.status != 504 {
				t.Errorf("a filter that never continues: %d, want 504 (the phase's timeout)", r.status)
			}
			if r := do(t, c, "GET", base+"/hdrs/after", ""); r.status != 200 {
				t.Errorf("afterwards: %d", r.status)
			}
		})
	}

	// Metrics (the filters' own and the plugins') on /metrics, ABIs in
	// /v1/plugins, and proxy_on_log once per stream.
	RegisterMetrics(p.Proxy, func() *Bundle { return p.gen })
	var m map[string]float64
	for i := 0; ; i++ {
		m = p.scrape(t)
		if m[`strata_wasm_completed_total{filter="headers",entry="frontends.web.filters[0]"}`] == m[`strata_wasm_requests_total{filter="headers",entry="frontends.web.filters[0]"}`] {
			break
		}
		if i == 100 {
			t.Fatalf("proxy_on_log ran %v times for %v streams", m[`strata_wasm_completed_total{filter="headers",entry="frontends.web.filters[0]"}`], m[`strata_wasm_requests_total{filter="headers",entry="frontends.web.filters[0]"}`])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := m[`strata_wasm_requests_total{filter="headers",entry="frontends.web.filters[0]"}`]; n < 20 {
		t.Errorf("strata_wasm_requests_total{filter=\"headers\"} = %v", n)
	}
	wantMetric(t, m, `strata_plugin_info{plugin="headers",abi="proxy-wasm 0.2.0"}`, 1)
	if m[`strata_plugin_traps_total{plugin="bad"}`] < 2 {
		t.Errorf("traps of bad: %v", m[`strata_plugin_traps_total{plugin="bad"}`])
	}
	if s := p.stats(t, "auth"); s.ABIName != "proxy-wasm 0.2.0" {
		t.Errorf("/v1/plugins/auth abi_name %q", s.ABIName)
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %q", err, s)
	}
}

// The WAF filter (Coraza with the OWASP Core Rule Set) in strata, with
// settings that fit a WAF: a script in the query and a urlencoded SQL
// injection are answered 403, a benign GET and POST reach the server, over
// HTTP/1.1 and HTTP/2.
func TestProxyWasm_WAF(t *testing.T) {
	file, err := testsupport.BuildWasm("../../../../examples/proxywasm", "waf", "no_fs_access")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	up := startUpstream(t, "-mode", "echo")
	// The 30 MB module's compiled code is kept across runs beside it.
	p := startProxyCached(t, `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    timeouts: { client: 30s, http_request: 10s, http_keep_alive: 30s }
    filters: [waf]
    default_backend: app
plugins:
  waf: { file: "{{waf}}", memory_limit: 512MiB, init_timeout: 60s, call_timeout: 2s, instances: { max: 2 } }
backends:
  app: { mode: http, timeouts: { server: 20s }, servers: { s1: { address: "{{up}}" } } }
`, map[string]string{"waf": file, "up": up.Addr}, nil, filepath.Join(base, "strata", "testwasm", "compiled"))
	var dials atomic.Int64
	clients := map[string]*http.Client{"HTTP/1.1": {Timeout: 30 * time.Second}, "HTTP/2": h2cClient(p.addr("web"), &dials)}
	url := "http://" + p.addr("web")
	form := []string{"content-type", "application/x-www-form-urlencoded"}
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		c := clients[proto]
		for _, tt := range []struct {
			name, method, path, body string
			want                     int
		}{
			{"xss in the query", "GET", "/?q=<script>alert(1)</script>", "", 403},
			{"sql injection in the body", "POST", "/login", "user=admin&pass=' OR '1'='1' --", 403},
			{"benign get", "GET", "/index.html?page=2", "", 200},
			{"benign post", "POST", "/login", "user=alice&pass=wonderland", 200},
		} {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				var hdrs []string
				if tt.body != "" {
					hdrs = form
				}
				r := do(t, c, tt.method, url+strings.ReplaceAll(tt.path, "<", "%3C"), tt.body, hdrs...)
				if r.status != tt.want {
					t.Errorf("%d, want %d (%s)", r.status, tt.want, r.header.Get("x-waf-rule"))
				}
			})
		}
	}
}
