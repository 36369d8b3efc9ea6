// Command pathheader is a Proxy-Wasm HTTP filter that copies the request
// path into the request header x-path: the work of strata's
// examples/plugins/pathheader action and of the bench's native
// `set-header x-path %[path]`, so the three can be compared.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o pathheader.wasm ./pathheader
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &stream{} })
}

type stream struct{ types.DefaultHttpContext }

func (*stream) OnHttpRequestHeaders(int, bool) types.Action {
	path, err := proxywasm.GetHttpRequestHeader(":path")
	if err != nil {
		proxywasm.LogErrorf("pathheader: reading :path: %v", err)
		return types.ActionContinue
	}
	if err := proxywasm.ReplaceHttpRequestHeader("x-path", path); err != nil {
		proxywasm.LogErrorf("pathheader: setting x-path: %v", err)
	}
	return types.ActionContinue
}
