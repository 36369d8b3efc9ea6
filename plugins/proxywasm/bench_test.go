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
