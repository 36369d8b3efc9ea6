package proxywasm

import (
	"testing"

	"github.com/strata-proxy/strata/core/filter"
)

// BenchmarkFilter_AddHeader is the host's share of a stream through a
// Go filter that adds one request header: context create, request
// headers, done, log and delete (five calls into the guest). The proxy's
// own share is measured by the engine's benchmarks.
func BenchmarkFilter_AddHeader(b *testing.B) {
	f := newFilter(b, "addheader", Config{}, nil)
	req := request("/bench")
	s := newStream(req)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req.kv = req.kv[:4]
		sf, err := f.NewStream(s)
		if err != nil {
			b.Fatal(err)
		}
		if st := sf.RequestHeaders(true); st != filter.Continue {
			b.Fatal(st)
		}
		sf.Log()
		sf.Done()
	}
	b.StopTimer()
	if req.get("x-filtered") != "1" {
		b.Fatal("the header was not added")
	}
}

// BenchmarkProperty_Get is proxy_get_property's host side for the paths
// a filter reads most: a request attribute and a header (NUL-separated, as
// the SDKs send them), a dotted one, and a property the filter set.
func BenchmarkProperty_Get(b *testing.B) {
	f := newFilter(b, "props", Config{}, nil)
	f.mu.Lock()
	v := f.vms[0]
	f.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cur = &stream{v: v, s: newStream(request("/bench?x=1", "x-key", "k1")),
		props: map[string][]byte{"my.own.prop": []byte("mine")}}
	defer func() { v.cur = nil }()
	paths := []struct{ name, path, want string }{
		{"request.path NUL", "request\x00path", "/bench?x=1"},
		{"header NUL", "request\x00headers\x00x-key", "k1"},
		{"dotted", "request.method", "GET"},
		{"set property", "my\x00own\x00prop", "mine"},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			path := []byte(p.path)
			b.ReportAllocs()
			for range b.N {
				val, err := v.getProperty(path)
				if err != nil || string(val) != p.want {
					b.Fatalf("%q: %q %v", p.path, val, err)
				}
			}
		})
	}
}
