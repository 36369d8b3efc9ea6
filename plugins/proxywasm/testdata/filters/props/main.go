// Command props is a Proxy-Wasm test filter for properties: it copies the
// properties named in the request header x-props (comma-separated, dotted
// paths) into response headers x-prop-<path>, integers as decimal, and
// sets and reads back a property of its own.
package main

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &httpContext{} })
}

type httpContext struct {
	types.DefaultHttpContext
	out [][2]string
}

// ints are the properties Envoy encodes as 8-byte integers.
var ints = map[string]bool{"source.port": true, "destination.port": true, "connection.id": true,
	"response.code": true, "request.time": true, "strata.sc0_http_req_rate": true}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	want, _ := proxywasm.GetHttpRequestHeader("x-props")
	for _, p := range strings.Split(want, ",") {
		if p == "" {
			continue
		}
		path := strings.Split(p, ".")
		if strings.HasPrefix(p, "strata.") {
			path = []string{"strata", p[len("strata."):]}
		}
		v, err := proxywasm.GetProperty(path)
		val := ""
		switch {
		case err != nil:
			val = "error:" + err.Error()
		case ints[p] && len(v) == 8:
			val = strconv.FormatInt(int64(binary.LittleEndian.Uint64(v)), 10)
		case p == "connection.mtls":
			val = strconv.Itoa(int(v[0]))
		default:
			val = string(v)
		}
		h.out = append(h.out, [2]string{"x-prop-" + p, val})
	}
	if err := proxywasm.SetProperty([]string{"my", "note"}, []byte("kept")); err != nil {
		panic(err)
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	note, err := proxywasm.GetProperty([]string{"my", "note"})
	if err != nil {
		panic(err)
	}
	h.out = append(h.out, [2]string{"x-prop-my.note", string(note)})
	for _, kv := range h.out {
		if err := proxywasm.AddHttpResponseHeader(kv[0], kv[1]); err != nil {
			panic(err)
		}
	}
	return types.ActionContinue
}
