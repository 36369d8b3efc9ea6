// Command headers is a Proxy-Wasm test filter: it adds, replaces and
// removes request and response headers, adds a request trailer, reads its plugin configuration
// (a prefix for the headers it adds; "refuse" makes it refuse to start),
// counts requests in metrics and logs each stream's end (proxy_on_log).
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	prefix    string
	requests  proxywasm.MetricCounter
	inflight  proxywasm.MetricGauge
	sizes     proxywasm.MetricHistogram
	completed proxywasm.MetricCounter
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		return types.OnPluginStartStatusFailed
	}
	if string(cfg) == "refuse" {
		proxywasm.LogError("configuration refused")
		return types.OnPluginStartStatusFailed
	}
	p.prefix = string(cfg)
	if p.prefix == "" {
		p.prefix = "x-pw"
	}
	p.requests = proxywasm.DefineCounterMetric("requests")
	p.inflight = proxywasm.DefineGaugeMetric("inflight")
	p.sizes = proxywasm.DefineHistogramMetric("path_len")
	p.completed = proxywasm.DefineCounterMetric("completed")
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{p: p} }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.p.requests.Increment(1)
	h.p.inflight.Add(1)
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	h.p.sizes.Record(uint64(len(path)))
	must(proxywasm.AddHttpRequestHeader(h.p.prefix+"-added", "yes"))
	must(proxywasm.ReplaceHttpRequestHeader("x-replace", "replaced"))
	must(proxywasm.RemoveHttpRequestHeader("x-remove"))
	if np, err := proxywasm.GetHttpRequestHeader("x-new-path"); err == nil {
		must(proxywasm.ReplaceHttpRequestHeader(":path", np))
	}
	proxywasm.LogInfof("request %s", path)
	return types.ActionContinue
}

// OnHttpRequestTrailers answers a request trailer x-req-trailer with one
// of its own.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	if v, err := proxywasm.GetHttpRequestTrailer("x-req-trailer"); err == nil {
		must(proxywasm.AddHttpRequestTrailer(h.p.prefix+"-trailer", "saw "+v))
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	must(proxywasm.AddHttpResponseHeader(h.p.prefix+"-response", "yes"))
	must(proxywasm.ReplaceHttpResponseHeader("server", "strata-filter"))
	must(proxywasm.RemoveHttpResponseHeader("x-secret"))
	return types.ActionContinue
}

func (h *httpContext) OnHttpStreamDone() {
	h.p.inflight.Add(-1)
	h.p.completed.Increment(1)
	proxywasm.LogInfo("stream done")
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
