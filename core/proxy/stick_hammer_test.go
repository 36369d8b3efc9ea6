package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/strata-proxy/strata/core/track"
)

// TestStick_Hammer runs thousands of connections with random keep-alive
// lengths, HTTP/2 connections of concurrent streams with random
// RST_STREAM and connection drops, client aborts, invalid requests, server errors, server aborts,
// server timeouts and a server that dies, against tracking at every level
// (tcp-request connection, tcp-request content, http-request, stick on,
// a TCP frontend), while a poller reads every entry through the runtime
// API. At every observation conn_cur and the reference count are at least
// 0; once the traffic stops every conn_cur and every reference count is
// exactly 0, and no connection handler failed. (conn_cur <= use holds at
// every instant, but a dump reads the two counters at different instants
// while trackers come and go, so it is checked only at rest, where both
// must be 0.)
func TestStick_Hammer(t *testing.T) {
	if testing.Short() {
		t.Skip("hammer test: skipped in -short mode")
	}
	good := startUpstream(t, "-name", "good")
	dying := startUpstream(t, "-name", "dying")
	echo := startUpstream(t, "-mode", "tcp")
	p, sink := startLoggedProxy(t, `
global:
  access_log: { output: none }
stick_tables:
  per_ip:
    type: ip
    size: 10000
    expire: 1m
    store: ["conn_cur", "conn_cnt", "sess_cnt", "http_req_cnt", "http_req_rate(10s)", "http_err_cnt",
            "http_fail_cnt", "bytes_in_cnt", "bytes_out_cnt", "gpc(1)"]
  per_key:
    type: string
    size: 10000
    expire: 1m
    store: ["conn_cur", "conn_cnt", "http_req_cnt", "http_err_cnt"]
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 2s, http_request: 1s, http_keep_alive: 1s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    tcp_request_content: ["track-sc1 src table per_key"]
    http_request:
      - "track-sc2 req.hdr(x-api-key) table per_key"
      - "sc-inc-gpc(0,0)"
      - "deny status 429 if { req.hdr(x-deny) -m found }"
    default_backend: app
  mux:
    bind: ["127.0.0.1:0"]
    mode: http
    h2: { h2c: true }
    timeouts: { client: 2s, http_request: 1s, http_keep_alive: 1s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    tcp_request_content: ["track-sc1 src table per_key"]
    http_request:
      - "track-sc2 req.hdr(x-api-key) table per_key"
      - "sc-inc-gpc(0,0)"
      - "deny status 429 if { req.hdr(x-deny) -m found }"
    default_backend: app
  raw:
    bind: ["127.0.0.1:0"]
    mode: tcp
    timeouts: { client: 2s }
    tcp_request_connection: ["track-sc0 src table per_ip"]
    tcp_request_content: ["track-sc1 src table per_key"]
    default_backend: echo
backends:
  app:
    mode: http
    timeouts: { connect: 1s, server: 300ms, queue: 1s }
    retries: 1
    redispatch: true
    stick: { on: src, table: per_ip }
    servers:
      good: { address: "{{good}}" }
      dying: { address: "{{dying}}" }
  echo:
    mode: tcp
    servers:
      e1: { address: "{{echo}}" }
`, map[string]string{"good": good.Addr, "dying": dying.Addr, "echo": echo.Addr})
	api := startStickAPI(t, p)
	web, raw, mux := p.Addrs("web")[0], p.Addrs("raw")[0], p.Addrs("mux")[0]

	const (
		conns   = 2000
		workers = 48
	)
	var observations, started atomic.Int64
	stop := make(chan struct{})
	var pollErr atomic.Value
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	go func() {
		defer pollWG.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, table := range []string{"per_ip", "per_key"} {
				d, err := api.tryDump(table)
				if err != nil {
					pollErr.CompareAndSwap(nil, err.Error())
					continue
				}
				for _, e := range d.Entries {
					observations.Add(1)
					if cur := e.Data["conn_cur"]; cur < 0 || e.Use < 0 {
						pollErr.CompareAndSwap(nil, fmt.Sprintf("%s[%s] during traffic: %s", table, e.Key, e.Show))
					}
				}
			}
		}
	}()

	// The dying server goes away a third of the way through.
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range jobs {
				if i == conns/3 {
					dying.Cmd.Process.Kill()
				}
				started.Add(1)
				src := fmt.Sprintf("127.0.0.%d", 1+r.IntN(20))
				switch r.IntN(8) {
				case 0:
					hammerTCP(r, raw, src)
				case 1, 2:
					hammerH2(r, mux, src)
				default:
					hammerHTTP(r, web, src)
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := range conns {
		if time.Now().After(deadline) {
			t.Errorf("traffic stopped after %d connections: too slow", i)
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	pollWG.Wait()
	if v := pollErr.Load(); v != nil {
		t.Fatal(v)
	}
	if observations.Load() == 0 {
		t.Fatal("the poller observed nothing")
	}

	// Quiet: every tracker is released.
	for _, table := range []string{"per_ip", "per_key"} {
		var last []track.Entry
		settled := false
		for range 500 {
			last = api.dump(t, table, "").Entries
			settled = len(last) > 0
			for _, e := range last {
				if e.Data["conn_cur"] != 0 || e.Use != 0 {
					settled = false
				}
			}
			if settled {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !settled {
			var lines []string
			for _, e := range last {
				lines = append(lines, e.Show)
			}
			t.Fatalf("%s after the traffic:\n%s", table, strings.Join(lines, "\n"))
		}
	}
	var reqs, conns0 int64
	for _, e := range api.dump(t, "per_ip", "").Entries {
		reqs += e.Data["http_req_cnt"]
		conns0 += e.Data["conn_cnt"]
	}
	if conns0 != started.Load() {
		t.Errorf("per_ip conn_cnt sums to %d, want one per connection: %d", conns0, started.Load())
	}
	if errs := sink.errors(); len(errs) > 0 {
		t.Fatalf("the proxy logged errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("%d connections, %d requests counted, %d entry observations", started.Load(), reqs, observations.Load())
}

// hammerHTTP runs one client connection of 1 to 6 random requests.
func hammerHTTP(r *rand.Rand, addr, src string) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for range 1 + r.IntN(6) {
		key := ""
		if r.IntN(2) == 0 {
			key = fmt.Sprintf("x-api-key: k%d\r\n", r.IntN(10))
		}
		path := "/"
		switch n := r.IntN(100); {
		case n < 8: // invalid request: 400, connection closed
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
			io.Copy(io.Discard, br)
			return
		case n < 14: // client aborts in the middle of the head
			io.WriteString(c, "GET /partial HTTP/1.1\r\nHo")
			time.Sleep(time.Duration(r.IntN(5)) * time.Millisecond)
			return
		case n < 18: // client aborts while the server is answering
			io.WriteString(c, "GET /delay/200ms HTTP/1.1\r\nHost: x\r\n"+key+"\r\n")
			time.Sleep(time.Duration(r.IntN(100)) * time.Millisecond)
			return
		case n < 22: // client never finishes its head: 408 after 1s
			if r.IntN(4) == 0 {
				io.WriteString(c, "GET /slow HTTP/1.1\r\n")
				io.Copy(io.Discard, br)
				return
			}
			path = "/"
		case n < 30:
			path = "/status/404"
		case n < 36:
			path = "/status/503"
		case n < 40: // server timeout: 504
			path = "/delay/1s"
		case n < 44: // server closes without answering: 502
			path = "/close"
		case n < 48:
			key += "x-deny: 1\r\n"
		}
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+key+"\r\n"); err != nil {
			return
		}
		if !readHammerResponse(br) {
			return
		}
	}
}

// readHammerResponse reads one response; false when the connection is no
// longer usable.
func readHammerResponse(br *bufio.Reader) bool {
	status, err := br.ReadString('\n')
	if err != nil {
		return false
	}
	length, closeConn := -1, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			fmt.Sscan(strings.TrimSpace(v), &length)
		case "connection":
			closeConn = strings.EqualFold(strings.TrimSpace(v), "close")
		}
	}
	if length < 0 {
		return false
	}
	if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
		return false
	}
	return !closeConn && strings.HasPrefix(status, "HTTP/1.1 ")
}

// hammerTCP runs one tunnel through the TCP frontend: an echo, or an
// abort.
func hammerTCP(r *rand.Rand, addr, src string) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("x", 1+r.IntN(4096))
	if _, err := io.WriteString(c, msg); err != nil {
		return
	}
	if r.IntN(3) == 0 {
		return // abort
	}
	io.ReadFull(c, make([]byte, len(msg)))
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// hammerH2 runs one HTTP/2 connection (h2c) of 1 to 8 concurrent streams
// of the same kinds as hammerHTTP's requests, resetting some streams and
// sometimes dropping the connection with streams in flight.
func hammerH2(r *rand.Rand, addr, src string) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return
	}
	fr := http2.NewFramer(c, c)
	if fr.WriteSettings() != nil {
		return
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	open := map[uint32]bool{}
	for i := range 1 + r.IntN(8) {
		id := uint32(2*i + 1)
		block.Reset()
		path := [...]string{"/", "/", "/", "/status/404", "/status/503", "/delay/1s", "/close", "/delay/200ms"}[r.IntN(8)]
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if r.IntN(2) == 0 {
			enc.WriteField(hpack.HeaderField{Name: "x-api-key", Value: fmt.Sprintf("k%d", r.IntN(10))})
		}
		if r.IntN(12) == 0 {
			enc.WriteField(hpack.HeaderField{Name: "x-deny", Value: "1"})
		}
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}) != nil {
			return
		}
		open[id] = true
		if r.IntN(5) == 0 {
			time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
			delete(open, id)
		}
	}
	if r.IntN(6) == 0 {
		time.Sleep(time.Duration(r.IntN(50)) * time.Millisecond)
		return // the connection drops with streams in flight
	}
	for len(open) > 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				delete(open, f.StreamID)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				delete(open, f.StreamID)
			}
		case *http2.RSTStreamFrame:
			delete(open, f.StreamID)
		case *http2.GoAwayFrame:
			return
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		}
	}
}
