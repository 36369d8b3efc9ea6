package proxy

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestStick_H2Multiplexed: with HTTP/2, one connection carries many
// streams at once. The session's tracker (tcp-request connection) counts
// the connection once — conn_cur 1 and conn_cnt 1 however many streams
// run — and every stream reads it; each stream's own tracker
// (http-request) is taken and released by that stream alone, so the key
// shared by ten concurrent streams shows conn_cur 10 while they run and 0
// after; http_req_cnt counts each stream once on each entry.
func TestStick_H2Multiplexed(t *testing.T) {
	up := startUpstream(t, "-mode", "fixed")
	p, sink := startLoggedProxy(t, `
global:
  access_log: { output: none }
stick_tables:
  per_ip:  { type: ip, size: 100, expire: 1m, store: ["conn_cur", "conn_cnt", "sess_cnt", "http_req_cnt"] }
  per_key: { type: string, len: 32, size: 100, expire: 1m, store: ["conn_cur", "conn_cnt", "http_req_cnt"] }
frontends:
  clear:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    http_request:
      - "track-sc1 req.hdr(x-key) table per_key"
      - "set-header x-seen %[sc0_http_req_cnt]"
    default_backend: app
backends:
  app:
    servers: { s1: { address: "{{up}}" } }
`, map[string]string{"up": up.Addr})
	api := startStickAPI(t, p)
	addr := p.Addrs("clear")[0]

	var conn net.Conn
	c := testsupport.NewClient(addr, testsupport.Client{
		Proto:           testsupport.H2C,
		FollowRedirects: true,
		Dialer:          &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}},
		OnDial:          func(c net.Conn) { conn = c },
	})
	get := func(path string) {
		req, _ := http.NewRequest("GET", "http://a.test"+path, nil)
		req.Header.Set("x-key", "k1")
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	get("/") // opens the connection
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); get("/delay/1s") }()
	}
	testsupport.WaitFor(t, 5*time.Second, "ten streams in flight", func() bool { return frontendStats(&testProxy{Proxy: p}, "clear").CurStreams == 10 })
	api.expect(t, "per_ip", "127.0.0.7", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 1, "sess_cnt": 1, "http_req_cnt": 11}})
	api.expect(t, "per_key", "k1", want{use: 10, data: map[string]int64{"conn_cur": 10, "http_req_cnt": 11}})
	wg.Wait()
	api.expect(t, "per_ip", "127.0.0.7", want{use: 1, data: map[string]int64{"conn_cur": 1, "conn_cnt": 1, "http_req_cnt": 11}})
	api.expect(t, "per_key", "k1", want{use: 0, data: map[string]int64{"conn_cur": 0, "http_req_cnt": 11}})
	c.CloseIdleConnections()
	if conn != nil {
		conn.Close()
	}
	testsupport.WaitFor(t, 5*time.Second, "the session ends", func() bool { return frontendStats(&testProxy{Proxy: p}, "clear").CurSessions == 0 })
	api.expect(t, "per_ip", "127.0.0.7", want{use: 0, data: map[string]int64{"conn_cur": 0, "conn_cnt": 1, "http_req_cnt": 11}})
	if errs := sink.errors(); len(errs) > 0 {
		t.Fatalf("the proxy logged errors: %v", errs)
	}
}
