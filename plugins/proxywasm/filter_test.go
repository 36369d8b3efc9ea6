package proxywasm

import (
	"context"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/telemetry"
	"github.com/strata-proxy/strata/internal/testsupport"
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
	s := newStream(req)
	sf, err := f.NewStream(s)
	if err != nil {
		t.Fatal(err)
	}
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
