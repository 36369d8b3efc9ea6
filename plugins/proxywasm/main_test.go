package proxywasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// The test filters, written with the proxy-wasm-go-sdk in the nested
// module testdata/filters (one main package each), built once per content
// by TestMain.
var filterNames = []string{"headers", "body", "auth", "shared", "queue", "props", "bad", "addheader"} // waf: built by its own test

var (
	filterFiles = map[string]string{}
	buildErr    error
	cacheDir    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-proxywasm-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	buildErr = buildFilters()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildFilters() error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	sem := make(chan struct{}, 2) // the machine is shared: two builds at a time
	for _, name := range filterNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := testsupport.BuildWasm("testdata/filters", name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			filterFiles[name] = out
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// testHost returns a plugin host that serves Proxy-Wasm, logging into log.
func testHost(t testing.TB, log io.Writer) *plugins.Host { return testHostIn(t, log, cacheDir) }

// testHostIn is testHost with its compiled modules kept in dir.
func testHostIn(t testing.TB, log io.Writer, dir string) *plugins.Host {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	h, err := plugins.NewHost(plugins.HostOptions{Samples: fetch.NewRegistry(), CacheDir: dir,
		Logger:   slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Flavours: []plugins.Flavour{Flavour}, LogRate: 1e6, LogBurst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// loadPlugin loads test filter name into h.
func loadPlugin(t testing.TB, h *plugins.Host, name string, adjust func(*plugins.Config)) *plugins.Plugin {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cfg := plugins.Config{Name: name, File: filterFiles[name], InitTimeout: time.Minute}
	if adjust != nil {
		adjust(&cfg)
	}
	p, err := h.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newFilter loads test filter name and builds a chain entry of it with
// cfg (Plugin is set here).
func newFilter(t testing.TB, name string, cfg Config, adjust func(*plugins.Config)) *Filter {
	t.Helper()
	cfg.Plugin = loadPlugin(t, testHost(t, nil), name, adjust)
	f, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// --- an in-memory engine side: filter.Stream, Fields and Body ---

// memFields is a head or trailer block. It counts positional reads, so a
// test can tell that a filter did not copy a head it did not ask for.
type memFields struct {
	kv [][2][]byte
	at int // At calls
}

func fields(kv ...string) *memFields {
	f := &memFields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.kv = append(f.kv, [2][]byte{[]byte(kv[i]), []byte(kv[i+1])})
	}
	return f
}

func (f *memFields) Len() int { return len(f.kv) }
func (f *memFields) At(i int) ([]byte, []byte) {
	f.at++
	return f.kv[i][0], f.kv[i][1]
}

func (f *memFields) Get(name []byte) ([]byte, bool) {
	for _, kv := range f.kv {
		if session.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return nil, false
}

func (f *memFields) Set(name, value []byte) error {
	if bytes.ContainsAny(value, "\r\n\x00") {
		return errors.New("invalid value")
	}
	for i, kv := range f.kv {
		if session.EqualFold(kv[0], name) {
			f.kv[i][1] = append([]byte(nil), value...)
			return nil
		}
	}
	return f.Add(name, value)
}

func (f *memFields) Add(name, value []byte) error {
	if bytes.ContainsAny(value, "\r\n\x00") || len(name) == 0 {
		return errors.New("invalid field")
	}
	f.kv = append(f.kv, [2][]byte{append([]byte(nil), name...), append([]byte(nil), value...)})
	return nil
}

func (f *memFields) Del(name []byte) error {
	if len(name) > 0 && name[0] == ':' {
		return errors.New("a pseudo-header cannot be removed")
	}
	out := f.kv[:0]
	for _, kv := range f.kv {
		if !session.EqualFold(kv[0], name) {
			out = append(out, kv)
		}
	}
	f.kv = out
	return nil
}

func (f *memFields) get(name string) string {
	v, _ := f.Get([]byte(name))
	return string(v)
}

type memBody struct{ b []byte }

func (b *memBody) Bytes() []byte { return b.b }
func (b *memBody) Replace(off, n int, data []byte) error {
	off = min(off, len(b.b))
	end := min(off+n, len(b.b))
	b.b = append(append(append([]byte(nil), b.b[:off]...), data...), b.b[end:]...)
	return nil
}

// memStream is the engine's side of one stream.
type memStream struct {
	req, resp, reqTr, respTr *memFields
	ctx                      *fetch.Ctx

	mu      sync.Mutex
	reply   *filter.Reply
	closed  bool
	events  chan string // "resume", "reply", "close"
	started bool        // the response head went out: Reply fails
}

func newStream(req *memFields) *memStream {
	conn := &session.Conn{ID: 7, Src: netip.MustParseAddrPort("192.0.2.10:40000"), Dst: netip.MustParseAddrPort("198.51.100.1:8080")}
	sess := &session.Session{ID: 1, Conn: conn, Frontend: "web"}
	strm := &session.Stream{ID: 11, Sess: sess, Start: time.Now(), Backend: "app"}
	txn := &session.Txn{}
	for _, kv := range req.kv {
		if kv[0][0] != ':' {
			txn.Req.Fields = append(txn.Req.Fields, h1.Field{Name: kv[0], Value: kv[1]})
		}
	}
	strm.Txn = txn
	ctx := &fetch.Ctx{Proc: &sample.SharedVars{}}
	ctx.Bind(conn, sess, strm, txn)
	return &memStream{req: req, ctx: ctx, events: make(chan string, 16)}
}

func orNil(f *memFields) filter.Fields {
	if f == nil {
		return nil
	}
	return f
}

func (s *memStream) RequestHeaders() filter.Fields   { return orNil(s.req) }
func (s *memStream) ResponseHeaders() filter.Fields  { return orNil(s.resp) }
func (s *memStream) RequestTrailers() filter.Fields  { return orNil(s.reqTr) }
func (s *memStream) ResponseTrailers() filter.Fields { return orNil(s.respTr) }
func (s *memStream) Protocol() string                { return "HTTP/1.1" }
func (s *memStream) Sample() *fetch.Ctx              { return s.ctx }

func (s *memStream) Reply(r filter.Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("response head already sent")
	}
	s.reply = &r
	s.events <- "reply"
	return nil
}

func (s *memStream) Resume() { s.events <- "resume" }

func (s *memStream) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.events <- "close"
}

// wait returns the next event of a paused stream, or fails the test after
// a bound that only a broken host reaches.
func (s *memStream) wait(t testing.TB) string {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("the paused stream was never resumed, answered or closed")
		return ""
	}
}

func (s *memStream) replied() *filter.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reply
}

// request returns a GET request head for path.
func request(path string, more ...string) *memFields {
	return fields(append([]string{":method", "GET", ":scheme", "http", ":authority", "example.test", ":path", path}, more...)...)
}

// httpCaller is the engine's filter.Caller for the tests: it sends the
// call over a real socket to the 127.0.0.1 listener of each backend.
type httpCaller struct {
	addrs map[string]string
}

func (c *httpCaller) Call(ctx context.Context, req *filter.CallRequest) (*filter.CallResponse, error) {
	addr, ok := c.addrs[req.Backend]
	if !ok {
		return nil, fmt.Errorf("unknown backend %s", req.Backend)
	}
	var method, path, host string
	hdr := http.Header{}
	for _, kv := range req.Fields {
		switch kv[0] {
		case ":method":
			method = kv[1]
		case ":path":
			path = kv[1]
		case ":authority":
			host = kv[1]
		case ":scheme":
		default:
			hdr.Add(kv[0], kv[1])
		}
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	hr.Header, hr.Host = hdr, host
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &filter.CallResponse{Fields: [][2]string{{":status", fmt.Sprint(resp.StatusCode)}}, Body: body}
	for k, vs := range resp.Header {
		for _, v := range vs {
			out.Fields = append(out.Fields, [2]string{strings.ToLower(k), v})
		}
	}
	return out, nil
}

// open starts a stream of request req on f.
func open(t testing.TB, f *Filter, req *memFields) (*memStream, filter.StreamFilter) {
	t.Helper()
	s := newStream(req)
	sf, err := f.NewStream(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, sf
}
