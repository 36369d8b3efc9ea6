// Command auth is a Proxy-Wasm test filter that asks a backend whether a
// request is allowed: it pauses the request, calls the backend named in
// its configuration (GET /check with the request's x-user), and resumes
// on a 200 or answers 403. A request for a path ending in /local is
// answered 401 at once with a www-authenticate header.
package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &pluginContext{} })
}

type pluginContext struct {
	types.DefaultPluginContext
	backend string
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil || len(cfg) == 0 {
		return types.OnPluginStartStatusFailed
	}
	p.backend = string(cfg)
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	if strings.HasSuffix(path, "/local") {
		if err := proxywasm.SendHttpResponse(401, [][2]string{{"www-authenticate", `Basic realm="strata"`}}, []byte("who are you?"), -1); err != nil {
			panic(err)
		}
		return types.ActionPause
	}
	user, _ := proxywasm.GetHttpRequestHeader("x-user")
	hdrs := [][2]string{{":method", "GET"}, {":path", "/check?user=" + user}, {":authority", "authz"}}
	if _, err := proxywasm.DispatchHttpCall(h.p.backend, hdrs, nil, nil, 5000, h.answer); err != nil {
		proxywasm.LogErrorf("dispatch: %v", err)
		if err := proxywasm.SendHttpResponse(503, nil, []byte("no authz: "+err.Error()), -1); err != nil {
			panic(err)
		}
		return types.ActionPause
	}
	return types.ActionPause
}

func (h *httpContext) answer(numHeaders, bodySize, _ int) {
	status := ""
	if numHeaders > 0 {
		hs, _ := proxywasm.GetHttpCallResponseHeaders()
		for _, h := range hs {
			if h[0] == ":status" {
				status = h[1]
			}
		}
	}
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if status == "200" {
		if err := proxywasm.AddHttpRequestHeader("x-auth", string(body)); err != nil {
			panic(err)
		}
		if err := proxywasm.ResumeHttpRequest(); err != nil {
			panic(err)
		}
		return
	}
	if err := proxywasm.SendHttpResponse(403, [][2]string{{"x-authz-status", status}}, []byte("denied"), -1); err != nil {
		panic(err)
	}
}
