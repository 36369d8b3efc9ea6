// Command body is a Proxy-Wasm test filter that rewrites bodies: it
// buffers the request body (Pause until the end) and upper-cases it, and
// appends "-filtered" to the response body.
package main

import (
	"bytes"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &httpContext{} })
}

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestBody(size int, eos bool) types.Action {
	if !eos {
		return types.ActionPause // buffer until the whole body is here
	}
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		panic(err)
	}
	if err := proxywasm.ReplaceHttpRequestBody(bytes.ToUpper(b)); err != nil {
		panic(err)
	}
	return types.ActionContinue
}

func (*httpContext) OnHttpResponseBody(size int, eos bool) types.Action {
	if !eos {
		return types.ActionPause
	}
	if err := proxywasm.AppendHttpResponseBody([]byte("-filtered")); err != nil {
		panic(err)
	}
	return types.ActionContinue
}
