// Command shared is a Proxy-Wasm test filter for shared data: each request
// increments the process-wide counter "hits" with a compare-and-swap loop
// (retrying on CAS_MISMATCH), reports the value it wrote in the response
// header x-hits, and enqueues the request's path on the shared queue
// "paths" when one is registered.
package main

import (
	"encoding/binary"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &httpContext{} })
}

type httpContext struct {
	types.DefaultHttpContext
	hits uint64
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	for {
		val, cas, err := proxywasm.GetSharedData("hits")
		var n uint64
		if err == nil && len(val) == 8 {
			n = binary.LittleEndian.Uint64(val)
		} else if err != nil && err != types.ErrorStatusNotFound {
			panic(err)
		}
		n++
		err = proxywasm.SetSharedData("hits", binary.LittleEndian.AppendUint64(nil, n), cas)
		if err == nil {
			h.hits = n
			break
		}
		if err != types.ErrorStatusCasMismatch {
			panic(err)
		}
	}
	if q, err := proxywasm.ResolveSharedQueue("", "paths"); err == nil {
		path, _ := proxywasm.GetHttpRequestHeader(":path")
		if err := proxywasm.EnqueueSharedQueue(q, []byte(path)); err != nil {
			panic(err)
		}
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if err := proxywasm.AddHttpResponseHeader("x-hits", strconv.FormatUint(h.hits, 10)); err != nil {
		panic(err)
	}
	return types.ActionContinue
}
