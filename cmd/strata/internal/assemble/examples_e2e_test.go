package assemble

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
)

// Every example plugin, loaded from its .wasm through the configuration
// and exercised over real sockets with the real upstream server behind
// the proxy.

const webFrontend = `
global:
  access_log: { output: stdout, format: json }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 5s }
`

const appBackend = `
  app:
    mode: http
    timeouts: { connect: 2s, server: 10s }
    servers:
      s1: { address: "{{up}}" }
`

func TestUAClass_SetsHeaderFromFetch(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request: ["set-header x-client-class %[ua_class]"]
    default_backend: app
plugins:
  uaclass: { file: "{{wasm:uaclass}}", grants: [headers], call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)
	tests := []struct{ name, ua, want string }{
		{"bot", "Googlebot/2.1", "bot"},
		{"cli", "curl/8.5.0", "cli"},
		{"mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile", "mobile"},
		{"desktop", "Mozilla/5.0 (X11; Linux x86_64)", "desktop"},
		{"none", "", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.get(t, "web", "/", "User-Agent", tt.ua)
			if r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			if got, _ := decodeEcho(t, r).First("x-client-class"); got != tt.want {
				t.Errorf("x-client-class = %q, want %q", got, tt.want)
			}
		})
	}
	if s := p.stats(t, "uaclass"); s.Calls < uint64(len(tests)) || s.Errors != 0 || s.Traps != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestBucket_ConverterInExpression(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request: ["set-header x-bucket %[req.hdr(x-user),bucket(10)]"]
    default_backend: app
plugins:
  bucket: { file: "{{wasm:bucket}}", call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)
	for _, user := range []string{"alice", "bob", "carol"} {
		h := fnv.New64a()
		h.Write([]byte(user))
		want := strconv.FormatUint(h.Sum64()%10, 10)
		r := p.get(t, "web", "/", "x-user", user)
		if got, _ := decodeEcho(t, r).First("x-bucket"); got != want {
			t.Errorf("%s: x-bucket = %q, want %q", user, got, want)
		}
	}
}

func TestRewrite_ActionEditsAndRoutes(t *testing.T) {
	app := startUpstream(t, "-name", "app")
	api := startUpstream(t, "-name", "api", "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request: ["api_rewrite"]
    default_backend: app
plugins:
  rewrite:
    file: "{{wasm:rewrite}}"
    grants: [headers, route]
    call_timeout: 5s
    config: { prefix: /api, backend: api }
backends:`+appBackend+`
  api:
    mode: http
    servers:
      a1: { address: "{{api}}" }
`, map[string]string{"up": app.Addr, "api": api.Addr}, nil)

	r := p.get(t, "web", "/api/users?id=7")
	if r.status != 200 || r.header.Get("x-server") != "api" {
		t.Fatalf("/api/users: %d from %q", r.status, r.header.Get("x-server"))
	}
	e := decodeEcho(t, r)
	if prefix, _ := e.First("x-forwarded-prefix"); e.URI != "/users?id=7" || prefix != "/api" {
		t.Errorf("the api server got %q with x-forwarded-prefix %q", e.URI, prefix)
	}
	if r := p.get(t, "web", "/apix"); r.header.Get("x-server") != "app" {
		t.Errorf("/apix went to %q", r.header.Get("x-server"))
	}
	if l := p.logFor(t, "uri", "/api/users?id=7"); l["backend"] != "api" {
		t.Errorf("access log %v", l)
	}
}

func TestCanary_TargetChoosesBackend(t *testing.T) {
	v1 := startUpstream(t, "-name", "v1")
	v2 := startUpstream(t, "-name", "v2")
	p := startProxy(t, webFrontend+`
    use_backend: ["canary"]
    default_backend: stable
plugins:
  canary:
    file: "{{wasm:canary}}"
    grants: [headers, route]
    call_timeout: 5s
    config: { header: x-canary, cookie: canary, weight: 0, canary: next, stable: stable }
backends:
  stable:
    mode: http
    servers:
      s1: { address: "{{v1}}" }
  next:
    mode: http
    servers:
      s1: { address: "{{v2}}" }
`, map[string]string{"v1": v1.Addr, "v2": v2.Addr}, nil)
	tests := []struct {
		name    string
		headers []string
		want    string
	}{
		{"weight 0", nil, "v1"},
		{"header forces the canary", []string{"x-canary", "1"}, "v2"},
		{"header forces stable", []string{"x-canary", "never"}, "v1"},
		{"cookie", []string{"cookie", "a=b; canary=always"}, "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := p.get(t, "web", "/", tt.headers...); r.status != 200 || r.header.Get("x-server") != tt.want {
				t.Errorf("%d from %q, want %s", r.status, r.header.Get("x-server"), tt.want)
			}
		})
	}
}

func TestInspect_ServiceReportsRequestAndCounters(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, webFrontend+`
    http_request: ["track-sc0 src table per_ip"]
    use_service: ["inspect if { path_beg /_inspect }"]
    default_backend: app
stick_tables:
  per_ip: { type: ip, size: 1k, expire: 1m, store: ["http_req_cnt", "http_req_rate(10s)", "gpc0"] }
plugins:
  inspect: { file: "{{wasm:inspect}}", grants: [headers, stick_counters, respond], call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)

	p.get(t, "web", "/")
	r := p.get(t, "web", "/_inspect/x?q=1", "User-Agent", "inspector/1")
	if r.status != 200 || r.header.Get("content-type") != "application/json" {
		t.Fatalf("%d %q %s", r.status, r.header.Get("content-type"), r.body)
	}
	var rep struct {
		Method   string                      `json:"method"`
		Path     string                      `json:"path"`
		Query    string                      `json:"query"`
		Src      string                      `json:"src"`
		Headers  map[string]string           `json:"headers"`
		Counters map[string]map[string]int64 `json:"stick_counters"`
	}
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if rep.Method != "GET" || rep.Path != "/_inspect/x" || rep.Query != "q=1" || rep.Src != "127.0.0.1" || rep.Headers["user-agent"] != "inspector/1" {
		t.Errorf("report %+v", rep)
	}
	if sc := rep.Counters["sc0"]; sc["http_req_cnt"] != 2 || sc["http_req_rate"] != 2 {
		t.Errorf("stick counters %v, want 2 requests counted", rep.Counters)
	}
	if up.Requests(t) != 1 {
		t.Errorf("the service's request reached the server")
	}
	if l := p.logFor(t, "uri", "/_inspect/x?q=1"); l["service"] != "inspect" || l["termination_cause"] != "local" || l["termination_state"] != "LR" {
		t.Errorf("access log %v", l)
	}
	// The stream kept an instance for its life and gave it back at its end.
	if s := p.stats(t, "inspect"); s.Idle != s.Instances {
		t.Errorf("after the stream: %d idle of %d instances", s.Idle, s.Instances)
	}
}

func TestRateLimit_Answers429WithJSON(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, webFrontend+`
    http_request: ["track-sc0 src table per_ip", "rate_limit 2"]
    default_backend: app
stick_tables:
  per_ip: { type: ip, size: 1k, expire: 1m, store: ["http_req_rate(1m)", "gpc0"] }
plugins:
  ratelimit: { file: "{{wasm:ratelimit}}", grants: [stick_counters, respond], call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)
	for i := 1; i <= 4; i++ {
		r := p.get(t, "web", "/")
		if i <= 2 {
			if r.status != 200 {
				t.Fatalf("request %d: %d", i, r.status)
			}
			continue
		}
		// An action's reply contributes its status, content-type and body
		// (SPEC.md 6); the plugin's retry-after header is not sent.
		if r.status != 429 || r.header.Get("content-type") != "application/json" {
			t.Fatalf("request %d: %d %v", i, r.status, r.header)
		}
		var body struct {
			Error                string
			Rate, Limit, Refused int64
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		if body.Error != "rate limited" || body.Rate != int64(i) || body.Limit != 2 || body.Refused != int64(i-2) {
			t.Errorf("request %d: %+v", i, body)
		}
	}
	if n := up.Requests(t); n != 2 {
		t.Errorf("the server saw %d requests, want 2", n)
	}
	if l := p.logFor(t, "status", float64(429)); l["termination_cause"] != "denied" {
		t.Errorf("access log %v", l)
	}
}

func TestPathHeader_Action(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, webFrontend+`
    http_request: ["path_header", "path_header x-p2 if { path_beg /two }"]
    default_backend: app
plugins:
  pathheader: { file: "{{wasm:pathheader}}", grants: [headers], call_timeout: 5s }
backends:`+appBackend, map[string]string{"up": up.Addr}, nil)
	e := decodeEcho(t, p.get(t, "web", "/two/three?x=1"))
	if v, _ := e.First("x-path"); v != "/two/three" {
		t.Errorf("x-path = %q", v)
	}
	if v, _ := e.First("x-p2"); v != "/two/three" {
		t.Errorf("x-p2 = %q", v)
	}
}

// kitchen: every kind through the proxy, and a routing target choosing a
// backend, a server and a service.
const kitchenConfig = webFrontend + `
    http_request:
      - "set-header x-all %[all(first,7)] if { path_beg /all }"
      - "set-header x-up %[req.hdr(x-in),kupper] if { path_beg /upper }"
      - "kdeny if { path_beg /deny }"
    use_backend:
      - "kpick(backend,b2) if { path_beg /b2 }"
      - "kpick(service,kecho) if { path_beg /svc }"
      - "kpick(server,s2) if { path_beg /s2 }"
      - "kroute(b2) if { path_beg /kroute }"
    default_backend: app
  tcp:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    use_service: ["kecho"]
  tcpdeny:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    tcp_request_content: ["kdeny"]
    default_backend: tcpapp
plugins:
  kitchen:
    file: "{{wasm:kitchen}}"
    grants: [headers, body, vars, stick_counters, route, respond, log, trace, clock, random]
    call_timeout: 5s
    instances: { min: 1, max: 1 }
backends:
  app:
    mode: http
    use_service:
      - "kpick(server,s2) if { path_beg /bs2 }"
      - "kecho if { path_beg /becho }"
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
  b2:
    mode: http
    servers:
      b: { address: "{{b2}}" }
  tcpapp:
    mode: tcp
    servers:
      t: { address: "{{s1}}" }
`

func TestKitchen_EveryKindThroughTheProxy(t *testing.T) {
	s1 := startUpstream(t, "-name", "s1", "-mode", "echo")
	s2 := startUpstream(t, "-name", "s2")
	b2 := startUpstream(t, "-name", "b2")
	p := startProxy(t, kitchenConfig, map[string]string{"s1": s1.Addr, "s2": s2.Addr, "b2": b2.Addr}, nil)

	t.Run("target chooses a backend", func(t *testing.T) {
		for _, path := range []string{"/b2", "/kroute"} {
			if r := p.get(t, "web", path); r.header.Get("x-server") != "b2" {
				t.Errorf("%s went to %q", path, r.header.Get("x-server"))
			}
		}
	})
	t.Run("target chooses a server", func(t *testing.T) {
		for i := range 4 {
			if r := p.get(t, "web", "/s2"); r.header.Get("x-server") != "s2" {
				t.Fatalf("request %d went to %q, want s2 every time", i, r.header.Get("x-server"))
			}
		}
		if got := p.logFor(t, "uri", "/s2"); got["server"] != "s2" {
			t.Errorf("access log %v", got)
		}
	})
	t.Run("backend use_service: a target chooses the server, a service answers", func(t *testing.T) {
		for i := range 4 {
			if r := p.get(t, "web", "/bs2"); r.header.Get("x-server") != "s2" {
				t.Fatalf("request %d went to %q, want s2 every time", i, r.header.Get("x-server"))
			}
		}
		r := p.get(t, "web", "/becho")
		if r.status != 200 || r.body != "echo /becho" {
			t.Errorf("%d %q", r.status, r.body)
		}
		if l := p.logFor(t, "uri", "/becho"); l["backend"] != "app" || l["service"] != "kecho" {
			t.Errorf("access log %v", l)
		}
	})
	t.Run("target chooses a service", func(t *testing.T) {
		// Two streams on one connection: each gets its own service state
		// (the END event resets the plugin's counter before the instance
		// goes back to the pool).
		for i := range 2 {
			r := p.get(t, "web", "/svc/x")
			if r.status != 200 || r.body != "echo /svc/x" || r.header.Get("x-calls") != "1" {
				t.Fatalf("request %d: %d %q x-calls %q", i, r.status, r.body, r.header.Get("x-calls"))
			}
		}
	})
	t.Run("every host function", func(t *testing.T) {
		e := decodeEcho(t, p.get(t, "web", "/all?q=1", "Host", "kitchen.test"))
		all, _ := e.First("x-all")
		for _, want := range []string{"arg0:first=ok", "arg1:7=ok", "sample:kitchen.test=ok", "req_header_get:kitchen.test=ok",
			"method:GET=ok", "path:/all=ok", "query:q=1=ok", "var_get:v=ok", "route_set=ok", "log=ok", "random_fill=ok"} {
			if !strings.Contains(all, want) {
				t.Errorf("x-all lacks %q:\n%s", want, all)
			}
		}
		if e.Method != "PUT" || e.URI != "/new?x=1" {
			t.Errorf("the request was not edited: %s %s", e.Method, e.URI)
		}
	})
	t.Run("converter", func(t *testing.T) {
		if v, _ := decodeEcho(t, p.get(t, "web", "/upper", "x-in", "shout")).First("x-up"); v != "SHOUT" {
			t.Errorf("x-up = %q", v)
		}
	})
	t.Run("action denies with its reply", func(t *testing.T) {
		if r := p.get(t, "web", "/deny"); r.status != 403 || r.body != "no\n" {
			t.Errorf("%d %q", r.status, r.body)
		}
	})
	t.Run("tcp service answers the stream", func(t *testing.T) {
		if got := rawExchange(t, p.addr("tcp"), "hello, tcp", true); got != "hello, tcp" {
			t.Errorf("got %q", got)
		}
		l := p.logFor(t, "frontend", "tcp")
		if l["service"] != "kecho" || l["termination_cause"] != "none" || l["bytes_in"] != float64(len("hello, tcp")) {
			t.Errorf("access log %v", l)
		}
	})
	t.Run("tcp action rejects", func(t *testing.T) {
		if got := rawExchange(t, p.addr("tcpdeny"), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false); got != "" {
			t.Errorf("got %q", got)
		}
		if l := p.logFor(t, "frontend", "tcpdeny"); l["termination_cause"] != "denied" {
			t.Errorf("access log %v", l)
		}
	})
	if s := p.stats(t, "kitchen"); s.Traps != 0 || s.Idle != s.Instances {
		t.Errorf("stats %+v", s)
	}
}
