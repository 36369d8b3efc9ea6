package proxy

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Scenario tests of stick tables and tracking, one per rule context: a
// configuration, traffic over real sockets to the real upstream, and the
// exact counters read through the runtime API while connections are open
// and after they close.

const stickTables = `
stick_tables:
  per_ip:
    type: ip
    size: 1000
    expire: 30s
    store: ["conn_cur", "conn_cnt", "conn_rate(10s)", "sess_cnt", "http_req_cnt", "http_req_rate(10s)",
            "http_err_cnt", "http_fail_cnt", "bytes_in_cnt", "bytes_out_cnt", "gpc(2)", "gpt(1)"]
  per_key:
    type: string
    len: 64
    size: 1000
    expire: 10m
    store: ["conn_cur", "conn_cnt", "http_req_cnt", "bytes_out_rate(1m)"]
`

// stickHTTPConfig is an HTTP frontend whose rules are given (YAML indented
// by four spaces), in front of the upstream {{up}}.
func stickHTTPConfig(frontendRules string) string {
	return `
global:
  access_log: { output: none }
` + stickTables + `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 10s }
` + frontendRules + `
    default_backend: app
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{up}}" }
`
}

// scHeader shows what a stream reads of slot N in a response header.
func scHeader(n int) string {
	return fmt.Sprintf(`"set-header x-sc%d %%[sc%d_conn_cur]/%%[sc%d_conn_cnt]/%%[sc%d_http_req_cnt]/%%[sc%d_trackers]/%%[sc%d_tracked]"`, n, n, n, n, n, n)
}

// TestStick_SessionTracking: tcp-request connection (or session) track-sc0
// src; the streams of a keep-alive connection read and count through the
// session's tracker, which only the session releases.
func TestStick_SessionTracking(t *testing.T) {
	for _, point := range []string{"tcp_request_connection", "tcp_request_session"} {
		t.Run(point, func(t *testing.T) {
			up := startUpstream(t)
			p := startProxy(t, stickHTTPConfig(`
    `+point+`: ["track-sc0 src table per_ip"]
    http_after_response: [`+scHeader(0)+`]`), map[string]string{"up": up.Addr})
			api := startStickAPI(t, p.Proxy)

			cl := stDial(t, p.addr("web"), "127.0.0.1")
			paths := []string{"/a", "/status/404", "/status/503", "/b"}
			codes := []int{200, 404, 503, 200}
			for i, path := range paths {
				st, h := cl.get(t, path)
				if st != codes[i] {
					t.Fatalf("%s: status %d", path, st)
				}
				// conn_cur/conn_cnt/http_req_cnt/trackers/tracked, read by
				// the stream through the session's slot.
				if got, w := h.Get("x-sc0"), fmt.Sprintf("1/1/%d/1/1", i+1); got != w {
					t.Fatalf("request %d: x-sc0 %q, want %q", i+1, got, w)
				}
			}
			open := want{use: 1, data: map[string]int64{
				"conn_cur": 1, "conn_cnt": 1, "conn_rate": 1, "sess_cnt": 1, "http_req_cnt": 4, "http_req_rate": 4,
				"http_err_cnt": 1, "http_fail_cnt": 1, "bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
			}}
			api.expect(t, "per_ip", "127.0.0.1", open)

			cl.close()
			closed := open
			closed.use, closed.data["conn_cur"] = 0, 0
			api.expect(t, "per_ip", "127.0.0.1", closed)
		})
	}
}

// TestStick_StreamTracking: http-request (or tcp-request content)
// track-sc1 src; each stream owns its tracker and releases it when it
// ends, so conn_cur is 1 during a request and 0 between requests.
func TestStick_StreamTracking(t *testing.T) {
	for _, point := range []string{"http_request", "tcp_request_content"} {
		t.Run(point, func(t *testing.T) {
			up := startUpstream(t)
			p := startProxy(t, stickHTTPConfig(`
    `+point+`: ["track-sc1 src table per_ip"]
    http_after_response: [`+scHeader(1)+`]`), map[string]string{"up": up.Addr})
			api := startStickAPI(t, p.Proxy)

			cl := stDial(t, p.addr("web"), "127.0.0.1")
			for i := range 3 {
				_, h := cl.get(t, "/x")
				if got, w := h.Get("x-sc1"), fmt.Sprintf("1/%d/%d/1/1", i+1, i+1); got != w {
					t.Fatalf("request %d: x-sc1 %q, want %q", i+1, got, w)
				}
			}
			idle := want{use: 0, data: map[string]int64{
				"conn_cur": 0, "conn_cnt": 3, "sess_cnt": 0, "http_req_cnt": 3, "bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
			}}
			api.expect(t, "per_ip", "127.0.0.1", idle)

			// A slow request holds its tracker while it runs.
			done := make(chan error, 1)
			go func() {
				_, _, err := cl.try("/delay/1500ms")
				done <- err
			}()
			api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 4, "http_req_cnt": 4}})
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 4, "http_req_cnt": 4}})
			cl.close()
			api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{
				"conn_cur": 0, "conn_cnt": 4, "http_req_cnt": 4, "bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
			}})
		})
	}
}

// TestStick_SessionAndStreamSameEntry: the session and each stream track
// the same entry. conn_cur counts both trackers; every request is counted
// once on the entry, not once per slot.
func TestStick_SessionAndStreamSameEntry(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, stickHTTPConfig(`
    tcp_request_connection: ["track-sc0 src table per_ip"]
    http_request: ["track-sc1 src table per_ip"]
    http_after_response: [`+scHeader(0)+`, `+scHeader(1)+`]`), map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	cl := stDial(t, p.addr("web"), "127.0.0.1")
	for i := range 3 {
		_, h := cl.get(t, "/x")
		// Both slots show the same entry: two trackers hold it.
		w := fmt.Sprintf("2/%d/%d/2/1", i+2, i+1)
		if h.Get("x-sc0") != w || h.Get("x-sc1") != w {
			t.Fatalf("request %d: x-sc0 %q x-sc1 %q, want %q", i+1, h.Get("x-sc0"), h.Get("x-sc1"), w)
		}
	}
	api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{
		"conn_cur": 1, "conn_cnt": 4, "sess_cnt": 1, "http_req_cnt": 3, "http_req_rate": 3,
		"bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
	}})
	done := make(chan error, 1)
	go func() {
		_, _, err := cl.try("/delay/1500ms")
		done <- err
	}()
	api.expect(t, "per_ip", "127.0.0.1", want{use: 2, data: map[string]int64{"conn_cur": 2, "conn_cnt": 5, "http_req_cnt": 4}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cl.close()
	api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{
		"conn_cur": 0, "conn_cnt": 5, "sess_cnt": 1, "http_req_cnt": 4, "bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
	}})
}

// TestStick_SessionAndStreamDifferentEntries: the session tracks the
// client address, streams an API key in another table; each entry counts
// the requests it saw.
func TestStick_SessionAndStreamDifferentEntries(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, stickHTTPConfig(`
    tcp_request_connection: ["track-sc0 src table per_ip"]
    http_request: ["track-sc1 req.hdr(x-api-key) table per_key"]
    http_after_response: [`+scHeader(0)+`, `+scHeader(1)+`]`), map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	cl := stDial(t, p.addr("web"), "127.0.0.1")
	keys := []string{"k1", "k1", "", "k2"}
	sc1 := []string{"1/1/1/1/1", "1/2/2/1/1", "////0", "1/1/1/1/1"} // untracked: no sample, tracked is false
	var k1out int64
	for i, k := range keys {
		var hdr []string
		if k != "" {
			hdr = append(hdr, "x-api-key: "+k)
		}
		before := cl.recv
		_, h := cl.get(t, "/x", hdr...)
		if k == "k1" {
			k1out += cl.recv - before
		}
		if w := fmt.Sprintf("1/1/%d/1/1", i+1); h.Get("x-sc0") != w {
			t.Fatalf("request %d: x-sc0 %q, want %q", i+1, h.Get("x-sc0"), w)
		}
		if h.Get("x-sc1") != sc1[i] {
			t.Fatalf("request %d: x-sc1 %q, want %q", i+1, h.Get("x-sc1"), sc1[i])
		}
	}
	api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 1, "http_req_cnt": 4}})
	api.expect(t, "per_key", "k1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 2, "http_req_cnt": 2, "bytes_out_rate": k1out}})
	api.expect(t, "per_key", "k2", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 1, "http_req_cnt": 1}})
	cl.close()
	api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 1, "http_req_cnt": 4}})
	if d := api.dump(t, "per_key", ""); len(d.Entries) != 2 {
		t.Fatalf("per_key has %d entries, want 2 (a request without the header tracks nothing)", len(d.Entries))
	}
}

// TestStick_SameKeyTwoSlots: one entry tracked in two slots of the
// session. conn_cur and conn_cnt count trackers (2, as in HAProxy); events
// are counted once on the entry (HAProxy counts them once per slot).
func TestStick_SameKeyTwoSlots(t *testing.T) {
	up := startUpstream(t)
	p := startProxy(t, stickHTTPConfig(`
    tcp_request_connection: ["track-sc0 src table per_ip", "track-sc1 src table per_ip", "track-sc0 src table per_ip"]
    http_request: ["sc-inc-gpc(0,0)", "sc-inc-gpc(0,1)", "sc-set-gpt(0,1) 7"]
    http_after_response: [`+scHeader(0)+`, `+scHeader(1)+`]`), map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	cl := stDial(t, p.addr("web"), "127.0.0.1")
	for i := range 3 {
		_, h := cl.get(t, "/x")
		w := fmt.Sprintf("2/2/%d/2/1", i+1)
		if h.Get("x-sc0") != w || h.Get("x-sc1") != w {
			t.Fatalf("request %d: x-sc0 %q x-sc1 %q, want %q", i+1, h.Get("x-sc0"), h.Get("x-sc1"), w)
		}
	}
	// The third track-sc0 finds the slot in use and does nothing. Actions
	// act on the entry once per rule: gpc0 goes up by 2 per request.
	api.expect(t, "per_ip", "127.0.0.1", want{use: 2, data: map[string]int64{
		"conn_cur": 2, "conn_cnt": 2, "conn_rate": 2, "sess_cnt": 1, "http_req_cnt": 3, "gpc0": 6, "gpt0": 7,
		"bytes_in_cnt": cl.sent, "bytes_out_cnt": cl.recv,
	}})
	cl.close()
	api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 2, "http_req_cnt": 3, "gpc0": 6}})
}

// TestStick_TCPMode: a TCP frontend tracks the session in tcp-request
// connection and the stream in tcp-request content; bytes are counted on
// both entries when the tunnel ends.
func TestStick_TCPMode(t *testing.T) {
	up := startUpstream(t, "-mode", "tcp")
	p := startProxy(t, `
global:
  access_log: { output: none }
`+stickTables+`
frontends:
  raw:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 10s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    tcp_request_content: ["track-sc1 src table per_key"]
    default_backend: echo
backends:
  echo:
    mode: tcp
    servers:
      e1: { address: "{{up}}" }
`, map[string]string{"up": up.Addr})
	api := startStickAPI(t, p.Proxy)

	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).Dial("tcp", p.addr("raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "hello, tracked tunnel"
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 1, "sess_cnt": 1, "http_req_cnt": 0}})
	api.expect(t, "per_key", "127.0.0.1", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 1}})
	c.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	n := int64(len(msg))
	api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 1, "bytes_in_cnt": n, "bytes_out_cnt": n}})
	api.expect(t, "per_key", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 1, "bytes_out_rate": n}})
}

// TestStick_StickOnSource: a backend sticks on the client address. Each
// client stays on the server it was first balanced to; when that server
// goes into maintenance the next request is balanced again and the new
// server is stored.
func TestStick_StickOnSource(t *testing.T) {
	ups := map[string]string{}
	for _, n := range []string{"s1", "s2", "s3"} {
		ups[n] = startUpstream(t, "-name", n).Addr
	}
	p := startProxy(t, `
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 1000, expire: 30s, store: ["conn_cur", "http_req_cnt"] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    default_backend: app
backends:
  app:
    mode: http
    balance: roundrobin
    stick: { on: src, table: per_ip }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
      s3: { address: "{{s3}}" }
`, ups)
	api := startStickAPI(t, p.Proxy)

	// Three clients, each from its own address, four new connections each.
	first := map[string]string{}
	for round := range 4 {
		for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			cl := stDial(t, p.addr("web"), src)
			_, h := cl.get(t, "/")
			cl.close()
			srv := h.Get("x-server")
			if round == 0 {
				first[src] = srv
			} else if srv != first[src] {
				t.Fatalf("round %d: %s went to %s, stuck to %s", round, src, srv, first[src])
			}
		}
	}
	if len(map[string]bool{first["127.0.0.2"]: true, first["127.0.0.3"]: true, first["127.0.0.4"]: true}) != 3 {
		t.Fatalf("round robin should have spread the first requests: %v", first)
	}
	id := func(name string) int64 { return int64(name[1] - '0') } // s1 is server 1
	for src, srv := range first {
		api.expect(t, "per_ip", src, want{use: 0, data: map[string]int64{"server_id": id(srv), "conn_cur": 0}})
	}

	// Maintenance of the server of 127.0.0.2: the next request is balanced
	// again, and stuck to its new server.
	moved := first["127.0.0.2"]
	if st, body := api.do(t, "PUT", "/v1/backends/app/servers/"+moved, `{"state": "maint"}`, nil); st != 200 {
		t.Fatalf("maint: %d %s", st, body)
	}
	cl := stDial(t, p.addr("web"), "127.0.0.2")
	_, h := cl.get(t, "/")
	cl.close()
	now := h.Get("x-server")
	if now == moved || now == "" {
		t.Fatalf("after maint of %s the request went to %q", moved, now)
	}
	api.expect(t, "per_ip", "127.0.0.2", want{use: 0, data: map[string]int64{"server_id": id(now)}})
	if st, body := api.do(t, "PUT", "/v1/backends/app/servers/"+moved, `{"state": "ready"}`, nil); st != 200 {
		t.Fatalf("ready: %d %s", st, body)
	}
	cl = stDial(t, p.addr("web"), "127.0.0.2")
	if _, h := cl.get(t, "/"); h.Get("x-server") != now {
		t.Fatalf("back in service, %s took 127.0.0.2 from %s", moved, now)
	}
	cl.close()
	// The entry shows server_id as HAProxy's show table does.
	e, _ := api.entry(t, "per_ip", "127.0.0.2")
	if !strings.Contains(e.Show, fmt.Sprintf("server_id=%d", id(now))) {
		t.Fatalf("show: %s", e.Show)
	}
}

// TestStick_FeatureConfig runs the configuration of the feature's
// statement, word for word but for the addresses. Its per_key table does
// not store http_req_rate, so sc1_http_req_rate gives no sample and the
// 429 rule never fires (as in HAProxy); storing it makes the 51st request
// of one key in 10 s denied.
func TestStick_FeatureConfig(t *testing.T) {
	const cfg = `
global:
  access_log: { output: none }
stick_tables:
  per_ip:  { type: ip, size: 200000, expire: 30s, store: ["conn_cur", "conn_rate(10s)", "http_req_rate(10s)", "http_err_rate(10s)", "gpc(2)", "gpt(1)"] }
  per_key: { type: string, len: 64, size: 10000, expire: 10m, store: ["http_req_cnt", "bytes_out_rate(1m)"PERKEY] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["track-sc0 src table per_ip", "reject if { sc0_conn_cur gt 100 }"]
    http_request: ["track-sc1 req.hdr(x-api-key) table per_key", "deny status 429 if { sc1_http_req_rate gt 50 }", "sc-inc-gpc(0,0) if { path_beg /login }"]
    default_backend: app
backends:
  app:
    stick: { on: src, table: per_ip }                 # server persistence through server_id
    servers:
      s1: { address: "{{up}}" }
`
	for _, tc := range []struct {
		name   string
		perKey string
		denied int
		logins int64 // the deny rule comes first: a denied /login is not counted
	}{
		{name: "as written", denied: 0, logins: 6},
		{name: "per_key stores http_req_rate", perKey: `, "http_req_rate(10s)"`, denied: 10, logins: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t)
			p := startProxy(t, strings.Replace(cfg, "PERKEY", tc.perKey, 1), map[string]string{"up": up.Addr})
			api := startStickAPI(t, p.Proxy)
			cl := stDial(t, p.addr("web"), "127.0.0.1")
			denied := 0
			for i := range 60 {
				path := "/page"
				if i%10 == 0 {
					path = "/login"
				}
				st, _ := cl.get(t, path, "x-api-key: k1")
				if st == 429 {
					denied++ // the connection stays open, as in HAProxy
				}
			}
			if denied != tc.denied {
				t.Fatalf("%d requests denied, want %d", denied, tc.denied)
			}
			api.expect(t, "per_key", "k1", want{use: 0, data: map[string]int64{"http_req_cnt": 60}})
			const conns = 1 // every request, denied or not, on the one connection
			api.expect(t, "per_ip", "127.0.0.1", want{use: 1, data: map[string]int64{
				"conn_cur": 1, "conn_rate": conns, "http_req_rate": 60, "http_err_rate": int64(tc.denied),
				"gpc0": tc.logins, "gpc1": 0, "gpt0": 0, "server_id": 1,
			}})
			cl.close()
			api.expect(t, "per_ip", "127.0.0.1", want{use: 0, data: map[string]int64{"conn_cur": 0}})
		})
	}
}
