package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/filter"
)

// End-to-end tests of filter chains: a native Go filter (testFilter)
// stands for a Proxy-Wasm module, driven through a running proxy by real
// HTTP/1.1 and HTTP/2 clients over real sockets, every case of one table
// in both protocols, to HTTP/1.1 and HTTP/2 servers.

// testFilter is a filter whose callbacks are the case's functions; a nil
// function continues. It counts the streams it saw end.
type testFilter struct {
	name    string
	maxBody int
	caller  filter.Caller

	reqHeaders  func(f *testStream, end bool) filter.Status
	reqBody     func(f *testStream, b filter.Body, end bool) filter.Status
	respHeaders func(f *testStream, end bool) filter.Status
	respBody    func(f *testStream, b filter.Body, end bool) filter.Status
	reqTrailers func(f *testStream) filter.Status
	respTrailer func(f *testStream) filter.Status

	streams, logs, dones atomic.Int64
	trailerCalls         atomic.Int64 // RequestTrailers and ResponseTrailers calls
}

func (f *testFilter) Name() string { return f.name }
func (f *testFilter) MaxBody() int {
	if f.maxBody > 0 {
		return f.maxBody
	}
	return 1 << 20
}

func (f *testFilter) NewStream(s filter.Stream) (filter.StreamFilter, error) {
	f.streams.Add(1)
	return &testStream{f: f, s: s}, nil
}

// testStream is the testFilter's state for one stream.
type testStream struct {
	f          *testFilter
	s          filter.Stream
	logged     atomic.Int32
	done       atomic.Int32
	afterDone  atomic.Bool // a callback came after Done
	lateLogged atomic.Bool // Log came after Done
}

func (t *testStream) check() {
	if t.done.Load() > 0 {
		t.afterDone.Store(true)
	}
}

func (t *testStream) RequestHeaders(end bool) filter.Status {
	t.check()
	if t.f.reqHeaders != nil {
		return t.f.reqHeaders(t, end)
	}
	return filter.Continue
}

func (t *testStream) RequestBody(b filter.Body, end bool) filter.Status {
	t.check()
	if t.f.reqBody != nil {
		return t.f.reqBody(t, b, end)
	}
	return filter.Continue
}

func (t *testStream) RequestTrailers() filter.Status {
	t.check()
	t.f.trailerCalls.Add(1)
	if t.f.reqTrailers != nil {
		return t.f.reqTrailers(t)
	}
	return filter.Continue
}

func (t *testStream) ResponseHeaders(end bool) filter.Status {
	t.check()
	if t.f.respHeaders != nil {
		return t.f.respHeaders(t, end)
	}
	return filter.Continue
}

func (t *testStream) ResponseBody(b filter.Body, end bool) filter.Status {
	t.check()
	if t.f.respBody != nil {
		return t.f.respBody(t, b, end)
	}
	return filter.Continue
}

func (t *testStream) ResponseTrailers() filter.Status {
	t.check()
	t.f.trailerCalls.Add(1)
	if t.f.respTrailer != nil {
		return t.f.respTrailer(t)
	}
	return filter.Continue
}

func (t *testStream) Log() {
	if t.done.Load() > 0 {
		t.lateLogged.Store(true)
	}
	if t.logged.Add(1) == 1 {
		t.f.logs.Add(1)
	}
}

func (t *testStream) Done() {
	if t.done.Add(1) == 1 {
		t.f.dones.Add(1)
	}
	if t.logged.Load() != 1 || t.done.Load() != 1 || t.afterDone.Load() || t.lateLogged.Load() {
		t.f.dones.Add(1000) // fails the Log/Done count check below
	}
}

// testResolver hands out the case's filters by plugin name.
type testResolver map[string]*testFilter

func (r testResolver) Filter(c config.Filter, caller filter.Caller) (filter.Filter, error) {
	f := r[c.Plugin]
	if f == nil {
		return nil, fmt.Errorf("no test filter %q", c.Plugin)
	}
	f.caller = caller
	if c.MaxBody > 0 {
		f.maxBody = int(c.MaxBody)
	}
	return f, nil
}

// filterUpstream is an in-test server on 127.0.0.1 that echoes what it
// received: the request body as the response body, the path, host and
// x-filter, x-auth fields and the body's length in response fields.
// /check answers the filters' calls; /big answers 100 bytes. The request's
// trailers come back in x-got-trailers ("name=value;" sorted); /trailers
// answers with a trailer x-up-trailer.
func filterUpstream(t *testing.T) (addr string, hits *atomic.Int64) {
	hits = &atomic.Int64{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/check" {
			w.Write([]byte("granted:" + r.Header.Get("x-who")))
			return
		}
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		h := w.Header()
		var trs []string
		for k, v := range r.Trailer {
			trs = append(trs, strings.ToLower(k)+"="+strings.Join(v, ","))
		}
		slices.Sort(trs)
		h.Set("x-got-trailers", strings.Join(trs, ";"))
		if r.URL.Path == "/trailers" {
			h.Set("trailer", "x-up-trailer")
			defer h.Set("x-up-trailer", "up")
		}
		h.Set("x-got-path", r.URL.RequestURI())
		h.Set("x-got-host", r.Host)
		h.Set("x-got-filter", r.Header.Get("x-filter"))
		h.Set("x-got-auth", r.Header.Get("x-auth"))
		h.Set("x-got-length", strconv.FormatInt(r.ContentLength, 10))
		if r.URL.Path == "/halves" { // 100 bytes in two writes
			w.Write(bytes.Repeat([]byte("h"), 50))
			w.(http.Flusher).Flush()
			body = bytes.Repeat([]byte("h"), 50)
		}
		if r.URL.Path == "/big" {
			// Half of the body, then the rest once the proxy has
			// closed the connection (or after a while): the first half
			// reaches the filters alone, whatever the timing.
			w.Write(bytes.Repeat([]byte("b"), 50))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			body = bytes.Repeat([]byte("b"), 50)
		}
		w.Write(body)
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // for servers with h2: true (prior knowledge)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hits
}

const filterConfig = `
global:
  access_log: { output: stderr }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    h2: { h2c: true }
    timeouts: { http_request: 500ms }
    filters: [{ plugin: front, max_body: 16, backends: [auth] }]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "{{up}}", h2: {{h2}} } }
    filters: [back]
  auth:
    servers: { s1: { address: "{{up}}" } }
plugins:
  front: { file: front.wasm }
  back: { file: back.wasm }
`

// bufferUntilEnd pauses body callbacks until the body's end, then lets
// edit rewrite the whole body.
func bufferUntilEnd(edit func(b filter.Body)) func(*testStream, filter.Body, bool) filter.Status {
	return func(_ *testStream, b filter.Body, end bool) filter.Status {
		if !end {
			return filter.Pause
		}
		edit(b)
		return filter.Continue
	}
}

func replyAt(status int, body string) func(*testStream, bool) filter.Status {
	return func(t *testStream, _ bool) filter.Status {
		t.s.Reply(filter.Reply{Status: status, Body: []byte(body), Fields: [][2]string{{"x-replied", "yes"}}})
		return filter.Pause
	}
}

func replyInBody(status int, body string) func(*testStream, filter.Body, bool) filter.Status {
	return func(t *testStream, _ filter.Body, _ bool) filter.Status {
		t.s.Reply(filter.Reply{Status: status, Body: []byte(body), Fields: [][2]string{{"x-replied", "yes"}}})
		return filter.Pause
	}
}

func TestFilter_Chain(t *testing.T) {
	type want struct {
		status  int
		body    string
		fields  map[string]string
		term    string // termination_state of the log line
		noHit   bool   // the server never saw the request
		contLen int64  // the response's Content-Length (0: not checked)
		reset   bool   // the client gets no response: its connection or stream is cut
		// trailers the client gets (nil: not checked), and how many
		// trailer callbacks the filters got (checked in every case).
		trailers     map[string]string
		trailerCalls int64
	}
	tests := []struct {
		name        string
		front, back *testFilter
		method      string
		path        string
		body        string
		chunked     bool // the request body's length is not known beforehand
		// trailers: the request's trailers (its body is then chunked);
		// an empty value declares the field in the Trailer header only.
		trailers map[string]string
		want     want
	}{
		{name: "request trailers read and added to",
			front: &testFilter{reqTrailers: func(t *testStream) filter.Status {
				tr := t.s.RequestTrailers()
				v, _ := tr.Get([]byte("x-req-trailer"))
				if err := tr.Add([]byte("x-added"), append([]byte("saw "), v...)); err != nil {
					return filter.Fail
				}
				return filter.Continue
			}},
			back: &testFilter{reqTrailers: func(t *testStream) filter.Status {
				// The backend's filter sees the frontend's edit; a
				// pseudo-header field is refused.
				if _, ok := t.s.RequestTrailers().Get([]byte("x-added")); !ok ||
					t.s.RequestTrailers().Set([]byte(":path"), []byte("/x")) == nil {
					return filter.Fail
				}
				return filter.Continue
			}},
			// x-added is declared by the client, as Go's HTTP/2 server
			// keeps only declared trailers; the filter sends it.
			method: "POST", path: "/echo", body: "with trailers", trailers: map[string]string{"x-req-trailer": "client", "x-added": ""},
			want: want{status: 200, body: "with trailers", fields: map[string]string{
				"x-got-trailers": "x-added=saw client;x-req-trailer=client",
			}, term: "--", trailerCalls: 2}},
		{name: "response trailer edited",
			front: &testFilter{respTrailer: func(t *testStream) filter.Status {
				tr := t.s.ResponseTrailers()
				v, _ := tr.Get([]byte("x-up-trailer"))
				tr.Set([]byte("x-up-trailer"), append(v, "+front"...))
				return filter.Continue
			}},
			back: &testFilter{respTrailer: func(t *testStream) filter.Status {
				// Response filters run in reverse: the backend's first.
				tr := t.s.ResponseTrailers()
				if _, ok := tr.Get([]byte("x-up-trailer")); !ok {
					return filter.Fail
				}
				tr.Add([]byte("x-back"), []byte("yes"))
				return filter.Continue
			}},
			path: "/trailers",
			want: want{status: 200, trailers: map[string]string{"x-up-trailer": "up+front", "x-back": "yes"},
				fields: map[string]string{"x-got-trailers": ""}, term: "--", trailerCalls: 2}},
		{name: "no trailers no trailer callback",
			method: "POST", path: "/echo", body: "no trailers", chunked: true,
			want: want{status: 200, body: "no trailers", fields: map[string]string{"x-got-trailers": ""}, term: "--"}},
		{name: "header edits and pseudo-headers",
			front: &testFilter{
				reqHeaders: func(t *testStream, _ bool) filter.Status {
					h := t.s.RequestHeaders()
					h.Set([]byte("x-filter"), []byte("front"))
					h.Set([]byte(":path"), []byte("/rewritten?q=1"))
					h.Set([]byte(":authority"), []byte("other.test"))
					return filter.Continue
				},
				respHeaders: func(t *testStream, _ bool) filter.Status {
					h := t.s.ResponseHeaders()
					path, _ := h.Get([]byte("x-got-path"))
					h.Set([]byte("x-seen-by-front"), path)
					h.Set([]byte(":status"), []byte("203"))
					return filter.Continue
				},
			},
			back: &testFilter{
				reqHeaders: func(t *testStream, _ bool) filter.Status {
					// The backend's filter sees the frontend's edits.
					p, _ := t.s.RequestHeaders().Get([]byte(":path"))
					t.s.RequestHeaders().Add([]byte("x-filter"), append([]byte("back saw "), p...))
					return filter.Continue
				},
			},
			path: "/orig",
			want: want{status: 203, fields: map[string]string{
				"x-got-path": "/rewritten?q=1", "x-got-host": "other.test", "x-got-filter": "front",
				"x-seen-by-front": "/rewritten?q=1",
			}, term: "--"}},
		{name: "pause then resume from another goroutine",
			front: &testFilter{
				reqHeaders: func(t *testStream, _ bool) filter.Status {
					go func() {
						time.Sleep(20 * time.Millisecond)
						t.s.RequestHeaders().Set([]byte("x-filter"), []byte("resumed"))
						t.s.Resume()
					}()
					return filter.Pause
				},
			},
			path: "/pause",
			want: want{status: 200, fields: map[string]string{"x-got-filter": "resumed"}, term: "--"}},
		{name: "pause at the body's end, resumed from another goroutine",
			back: &testFilter{
				reqBody: func(t *testStream, b filter.Body, end bool) filter.Status {
					if !end {
						return filter.Pause
					}
					go func() {
						time.Sleep(10 * time.Millisecond)
						t.s.Resume()
					}()
					return filter.Pause
				},
				respBody: func(t *testStream, b filter.Body, end bool) filter.Status {
					if !end {
						return filter.Pause
					}
					b.Replace(0, 0, []byte("<"))
					go t.s.Resume()
					return filter.Pause
				},
			},
			method: "POST", path: "/echo", body: "held",
			want: want{status: 200, body: "<held", term: "--", contLen: 5}},
		{name: "body rewrite both ways with the length fixed",
			front: &testFilter{
				reqBody: bufferUntilEnd(func(b filter.Body) {
					b.Replace(0, len(b.Bytes()), append(bytes.ToUpper(b.Bytes()), '!'))
				}),
			},
			back: &testFilter{
				respBody: bufferUntilEnd(func(b filter.Body) {
					b.Replace(len(b.Bytes()), 0, []byte("+resp"))
				}),
			},
			method: "POST", path: "/echo", body: "hello",
			want: want{status: 200, body: "HELLO!+resp", fields: map[string]string{"x-got-length": "6"}, term: "--", contLen: 11}},
		{name: "chunked request body rewritten",
			back: &testFilter{ // the backend's filter: max_body 1MiB
				reqBody: bufferUntilEnd(func(b filter.Body) {
					b.Replace(0, 0, []byte(">"))
				}),
			},
			method: "POST", path: "/echo", body: strings.Repeat("chunk", 1000), chunked: true,
			want: want{status: 200, body: ">" + strings.Repeat("chunk", 1000), fields: map[string]string{"x-got-length": "5001"}, term: "--"}},
		{name: "body passed on as it comes",
			front: &testFilter{
				reqBody: func(_ *testStream, b filter.Body, _ bool) filter.Status {
					b.Replace(0, len(b.Bytes()), bytes.ToUpper(b.Bytes()))
					return filter.Continue
				},
			},
			method: "POST", path: "/echo", body: strings.Repeat("abc", 10000), chunked: true,
			want: want{status: 200, body: strings.Repeat("ABC", 10000), term: "--"}},
		{name: "reply at request headers",
			front: &testFilter{reqHeaders: replyAt(403, "no entry")},
			path:  "/deny",
			want:  want{status: 403, body: "no entry", fields: map[string]string{"x-replied": "yes"}, term: "LR", noHit: true}},
		{name: "reply at request body",
			back:   &testFilter{reqBody: replyInBody(401, "who are you")},
			method: "POST", path: "/body", body: "secret",
			want: want{status: 401, body: "who are you", term: "LR", noHit: true}},
		{name: "reply at response headers",
			back: &testFilter{respHeaders: replyAt(418, "teapot")},
			path: "/resp",
			want: want{status: 418, body: "teapot", fields: map[string]string{"x-replied": "yes"}, term: "LH"}},
		{name: "reply at response body",
			front: &testFilter{respBody: replyInBody(451, "censored")},
			path:  "/resp-body", method: "POST", body: "text",
			want: want{status: 451, body: "censored", term: "LH"}},
		{name: "request body over the limit",
			front:  &testFilter{reqBody: bufferUntilEnd(func(filter.Body) {})},
			method: "POST", path: "/large", body: strings.Repeat("x", 100),
			want: want{status: 413, term: "PR", noHit: true}},
		{name: "response body over the limit",
			front: &testFilter{respBody: bufferUntilEnd(func(filter.Body) {})},
			path:  "/big",
			want:  want{status: 502, term: "PH"}},
		{name: "a filter that never continues",
			front: &testFilter{reqHeaders: func(*testStream, bool) filter.Status { return filter.Pause }},
			path:  "/forever",
			want:  want{status: 504, term: "IR", noHit: true}},
		{name: "close the stream",
			back: &testFilter{reqHeaders: func(t *testStream, _ bool) filter.Status {
				t.s.Close()
				return filter.Pause
			}},
			path: "/close",
			want: want{reset: true, term: "PR", noHit: true}},
		{name: "fail",
			back: &testFilter{respHeaders: func(*testStream, bool) filter.Status { return filter.Fail }},
			path: "/fail",
			want: want{status: 500, term: "IH"}},
		{name: "call a backend",
			front: &testFilter{
				reqHeaders: func(t *testStream, _ bool) filter.Status {
					go func() {
						resp, err := t.f.caller.Call(context.Background(), &filter.CallRequest{
							Backend: "auth", Timeout: 5 * time.Second,
							Fields: [][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "auth.test"}, {"x-who", "alice"}},
						})
						v := "error: " + fmt.Sprint(err)
						if err == nil {
							v = resp.Fields[0][1] + " " + string(resp.Body)
						}
						t.s.RequestHeaders().Set([]byte("x-auth"), []byte(v))
						t.s.Resume()
					}()
					return filter.Pause
				},
			},
			path: "/called",
			want: want{status: 200, fields: map[string]string{"x-got-auth": "200 granted:alice"}, term: "--"}},
	}
	for _, mode := range []struct{ proto, server string }{{"h1", "h1"}, {"h2", "h1"}, {"h1", "h2"}, {"h2", "h2"}} {
		proto := mode.proto
		for _, tt := range tests {
			t.Run(proto+"-to-"+mode.server+"/"+tt.name, func(t *testing.T) {
				front, back := tt.front, tt.back
				if front == nil {
					front = &testFilter{}
				}
				if back == nil {
					back = &testFilter{}
				}
				// The table's filters are shared by both protocols' runs:
				// each run counts from zero.
				front.streams.Store(0)
				front.logs.Store(0)
				front.dones.Store(0)
				back.streams.Store(0)
				back.logs.Store(0)
				back.dones.Store(0)
				front.trailerCalls.Store(0)
				back.trailerCalls.Store(0)
				front.name, back.name = "front", "back"
				up, hits := filterUpstream(t)
				p := startProxyWith(t, filterConfig, map[string]string{"up": up, "h2": strconv.FormatBool(mode.server == "h2")},
					generation.BuildOptions{Filters: testResolver{"front": front, "back": back}})
				var dials atomic.Int64
				client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableCompression: true}}
				if proto == "h2" {
					client = h2Client(p.addr("web"), nil, &dials)
				}
				method := tt.method
				if method == "" {
					method = "GET"
				}
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
					if tt.chunked || tt.trailers != nil {
						body = io.MultiReader(body) // hides the length: chunked (HTTP/1.1), no content-length (HTTP/2)
					}
				}
				req, err := http.NewRequest(method, "http://"+p.addr("web")+tt.path, body)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.trailers {
					if req.Trailer == nil {
						req.Trailer = http.Header{}
					}
					req.Trailer[http.CanonicalHeaderKey(k)] = nil
					if v != "" {
						req.Trailer.Set(k, v)
					}
				}
				resp, err := client.Do(req)
				if tt.want.reset {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("got a response (%d), want the stream cut", resp.StatusCode)
					}
					if line := p.logLines(t, 1)[0]; line["termination_state"] != tt.want.term {
						t.Errorf("termination %v, want %s", line["termination_state"], tt.want.term)
					}
					checkLogDone(t, front, back)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("reading the body: %v", err)
				}
				w := tt.want
				if resp.StatusCode != w.status {
					t.Errorf("status %d, want %d (body %q)", resp.StatusCode, w.status, got)
				}
				if w.body != "" && string(got) != w.body {
					t.Errorf("body %q, want %q", got, w.body)
				}
				for k, v := range w.fields {
					if g := resp.Header.Get(k); g != v {
						t.Errorf("%s: %q, want %q", k, g, v)
					}
				}
				for k, v := range w.trailers {
					if g := resp.Trailer.Get(k); g != v {
						t.Errorf("trailer %s: %q, want %q (trailers %v)", k, g, v, resp.Trailer)
					}
				}
				if n := front.trailerCalls.Load() + back.trailerCalls.Load(); n != w.trailerCalls {
					t.Errorf("%d trailer callbacks, want %d", n, w.trailerCalls)
				}
				if w.contLen != 0 && resp.ContentLength != w.contLen {
					t.Errorf("content-length %d, want %d", resp.ContentLength, w.contLen)
				}
				if w.noHit && hits.Load() != 0 {
					t.Errorf("the server saw %d requests, want none", hits.Load())
				}
				line := p.logLines(t, 1)[0]
				if line["termination_state"] != w.term {
					t.Errorf("termination %v, want %s (%v)", line["termination_state"], w.term, line)
				}
				checkLogDone(t, front, back)
			})
		}
	}
}

// checkLogDone checks that every filter that started on the stream got Log
// then Done, once each, and that the frontend's filter started once.
func checkLogDone(t *testing.T, front, back *testFilter) {
	t.Helper()
	for _, f := range []*testFilter{front, back} {
		deadline := time.Now().Add(5 * time.Second)
		for f.dones.Load() != f.streams.Load() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if s, l, d := f.streams.Load(), f.logs.Load(), f.dones.Load(); l != s || d != s {
			t.Errorf("filter %s: %d streams, %d logged, %d done (each once, Log first)", f.name, s, l, d)
		}
	}
	if front.streams.Load() != 1 {
		t.Errorf("front filter started %d times, want 1", front.streams.Load())
	}
}

// TestFilter_ClientResetWhilePaused: an HTTP/2 client that resets a
// stream its filter holds paused ends the stream at once as the client's
// abort (not at the phase's timeout), and the filter still gets Log and
// Done.
func TestFilter_ClientResetWhilePaused(t *testing.T) {
	paused := make(chan struct{}, 1)
	front := &testFilter{name: "front", reqHeaders: func(*testStream, bool) filter.Status {
		paused <- struct{}{}
		return filter.Pause
	}}
	back := &testFilter{name: "back"}
	up, hits := filterUpstream(t)
	cfg := strings.Replace(filterConfig, "http_request: 500ms", "http_request: 1m", 1)
	p := startProxyWith(t, cfg, map[string]string{"up": up, "h2": "false"},
		generation.BuildOptions{Filters: testResolver{"front": front, "back": back}})
	var dials atomic.Int64
	client := h2Client(p.addr("web"), nil, &dials)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.addr("web")+"/held", nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-paused
	cancel() // RST_STREAM
	if err := <-errc; err == nil {
		t.Fatal("the request succeeded, want it canceled")
	}
	line := p.logLines(t, 1)[0]
	if line["termination_state"] != "CD" {
		t.Errorf("termination %v, want CD (the client's abort)", line["termination_state"])
	}
	if hits.Load() != 0 {
		t.Errorf("the server saw %d requests, want none", hits.Load())
	}
	checkLogDone(t, front, back)
}

// TestFilter_HTTP10Client: a response body that filters see and that does
// not come whole in one piece reaches an HTTP/1.0 client delimited by the
// connection's close, never chunked, which HTTP/1.0 does not know.
func TestFilter_HTTP10Client(t *testing.T) {
	front := &testFilter{name: "front", respBody: func(_ *testStream, b filter.Body, _ bool) filter.Status {
		b.Replace(0, len(b.Bytes()), bytes.ToUpper(b.Bytes()))
		return filter.Continue
	}}
	back := &testFilter{name: "back"}
	up, _ := filterUpstream(t)
	p := startProxyWith(t, filterConfig, map[string]string{"up": up, "h2": "false"},
		generation.BuildOptions{Filters: testResolver{"front": front, "back": back}})
	out := rawExchange(t, p.addr("web"), "GET /halves HTTP/1.0\r\nHost: a.test\r\n\r\n")
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.HasPrefix(out, "HTTP/1.0 200 ") && statusOf(out) != 200 {
		t.Fatalf("response %q", out)
	}
	if strings.Contains(strings.ToLower(head), "transfer-encoding") {
		t.Errorf("a chunked response to an HTTP/1.0 client:\n%s", head)
	}
	if want := strings.Repeat("H", 100); body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	checkLogDone(t, front, back)
}
