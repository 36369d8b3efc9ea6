package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/track"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// Helpers of the stick-table scenario tests: a keep-alive client that can
// bind a loopback source address, and the tables API.

// stClient is one client connection. sent and recv count the bytes it
// wrote and read: the proxy's bytes_in and bytes_out for it.
type stClient struct {
	c          net.Conn
	br         *bufio.Reader
	sent, recv int64
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// stDial connects to addr from src (a 127.0.0.0/8 address; "" for any).
func stDial(t testing.TB, addr, src string) *stClient {
	t.Helper()
	c := testsupport.DialFrom(t, addr, src)
	cl := &stClient{c: c}
	cl.br = bufio.NewReader(countReader{c, &cl.recv})
	return cl
}

// get sends one request with extra header lines and returns the response
// status and its headers; the body is read and dropped.
func (cl *stClient) get(t testing.TB, path string, headers ...string) (int, http.Header) {
	t.Helper()
	st, h, err := cl.try(path, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return st, h
}

func (cl *stClient) try(path string, headers ...string) (int, http.Header, error) {
	cl.c.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: stick.test\r\n", path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	n, err := io.WriteString(cl.c, b.String())
	cl.sent += int64(n)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: "GET"})
	if err != nil {
		return 0, nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, err
}

func (cl *stClient) close() { cl.c.Close() }

// stickAPI is the runtime API of a test proxy.
type stickAPI struct {
	base string
	hc   *http.Client
}

func startStickAPI(t testing.TB, p *Proxy) *stickAPI {
	t.Helper()
	a := admin.New("tok", nil)
	p.RegisterAPI(a)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(t.Context()) })
	return &stickAPI{base: "http://" + a.Addr().String(), hc: &http.Client{Timeout: 10 * time.Second}}
}

// do calls the API and decodes a 2xx answer into v; it returns the status
// and the raw body.
func (a *stickAPI) do(t testing.TB, method, path, body string, v any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// dump reads a table, with a raw query string ("" for every entry).
func (a *stickAPI) dump(t testing.TB, table, query string) track.TableDump {
	t.Helper()
	var d track.TableDump
	path := "/v1/tables/" + url.PathEscape(table)
	if query != "" {
		path += "?" + query
	}
	if st, body := a.do(t, "GET", path, "", &d); st != 200 {
		t.Fatalf("GET %s: %d %s", path, st, body)
	}
	return d
}

// tryDump is dump for goroutines other than the test's: it returns an
// error instead of failing the test.
func (a *stickAPI) tryDump(table string) (track.TableDump, error) {
	var d track.TableDump
	req, _ := http.NewRequest("GET", a.base+"/v1/tables/"+url.PathEscape(table), nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := a.hc.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return d, fmt.Errorf("GET /v1/tables/%s: status %d", table, resp.StatusCode)
	}
	return d, json.NewDecoder(resp.Body).Decode(&d)
}

// entry reads one entry; ok is false when the table has no such key.
func (a *stickAPI) entry(t testing.TB, table, key string) (track.Entry, bool) {
	t.Helper()
	d := a.dump(t, table, "key="+url.QueryEscape(key))
	if len(d.Entries) == 0 {
		return track.Entry{}, false
	}
	return d.Entries[0], true
}

// want is what an entry should hold: the reference count and some values.
type want struct {
	use  int
	data map[string]int64
}

// diff returns "" when e matches w, else what differs.
func (w want) diff(e track.Entry) string {
	var bad []string
	if e.Use != w.use {
		bad = append(bad, fmt.Sprintf("use=%d want %d", e.Use, w.use))
	}
	keys := make([]string, 0, len(w.data))
	for k := range w.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := e.Data[k]
		if !ok {
			bad = append(bad, k+" not stored")
		} else if got != w.data[k] {
			bad = append(bad, fmt.Sprintf("%s=%d want %d", k, got, w.data[k]))
		}
	}
	return strings.Join(bad, ", ")
}

// expect waits (bounded) until the entry of key matches w: counters that
// the end of a stream settles (bytes, releases) are updated right after
// the client has its response.
func (a *stickAPI) expect(t testing.TB, table, key string, w want) track.Entry {
	t.Helper()
	var e track.Entry
	var last string
	for i := 0; i < 500; i++ {
		var ok bool
		e, ok = a.entry(t, table, key)
		if !ok {
			last = "no entry"
		} else if last = w.diff(e); last == "" {
			return e
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s[%s]: %s\n%s", table, key, last, e.Show)
	return e
}

// fakeClock is a millisecond clock the tests step by hand.
type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) set(ms int64)        { c.ms.Store(ms) }
func (c *fakeClock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// useFakeClock makes c the tracking clock until the test ends. Call it
// before starting the proxy, so that the proxy stops before the clock is
// given back.
func useFakeClock(t testing.TB, c *fakeClock) {
	f := c.now
	generation.StickClock.Store(&f)
	t.Cleanup(func() { generation.StickClock.Store(nil) })
}

// errorSink records the error-level messages of a proxy's logger, to tell
// that no connection handler panicked.
type errorSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *errorSink) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (s *errorSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	s.msgs = append(s.msgs, b.String())
	return nil
}
func (s *errorSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *errorSink) WithGroup(string) slog.Handler      { return s }
func (s *errorSink) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// startLoggedProxy is startProxy with a logger that records errors.
func startLoggedProxy(t testing.TB, yaml string, vars map[string]string) (*Proxy, *errorSink) {
	t.Helper()
	for k, v := range vars {
		yaml = strings.ReplaceAll(yaml, "{{"+k+"}}", v)
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(yaml)})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sink := &errorSink{}
	log := slog.New(sink)
	g, err := generation.Build(cfg, generation.BuildOptions{Logger: log})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	p, err := New(g, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, sink
}
