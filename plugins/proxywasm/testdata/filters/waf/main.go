// Command waf is a Proxy-Wasm web application firewall built on Coraza
// with the OWASP Core Rule Set, loaded when the filter is configured. It
// inspects the request head and, for requests with a body, the whole body
// (it pauses until the end), and answers 403 when the rules interrupt.
package main

import (
	"strconv"
	"strings"

	"github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	pwtypes "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) pwtypes.PluginContext { return &pluginContext{} })
}

type pluginContext struct {
	pwtypes.DefaultPluginContext
	waf coraza.WAF
}

// directives turn the engine on and load the CRS with its recommended
// settings: anomaly scoring at paranoia level 1.
const directives = `
Include @coraza.conf-recommended
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
SecRuleEngine On
SecRequestBodyAccess On
`

func (p *pluginContext) OnPluginStart(int) pwtypes.OnPluginStartStatus {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives))
	if err != nil {
		proxywasm.LogErrorf("coraza: %v", err)
		return pwtypes.OnPluginStartStatusFailed
	}
	p.waf = waf
	return pwtypes.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) pwtypes.HttpContext {
	return &httpContext{tx: p.waf.NewTransaction()}
}

type httpContext struct {
	pwtypes.DefaultHttpContext
	tx       types.Transaction
	hasBody  bool
	answered bool
}

func (h *httpContext) deny(it *types.Interruption) pwtypes.Action {
	h.answered = true
	status := it.Status
	if status == 0 {
		status = 403
	}
	if err := proxywasm.SendHttpResponse(uint32(status), [][2]string{{"x-waf-rule", strconv.Itoa(it.RuleID)}}, []byte("blocked\n"), -1); err != nil {
		panic(err)
	}
	return pwtypes.ActionPause
}

func (h *httpContext) OnHttpRequestHeaders(_ int, eos bool) pwtypes.Action {
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		panic(err)
	}
	var method, path, host string
	for _, kv := range hs {
		switch kv[0] {
		case ":method":
			method = kv[1]
		case ":path":
			path = kv[1]
		case ":authority":
			host = kv[1]
		}
		if !strings.HasPrefix(kv[0], ":") {
			h.tx.AddRequestHeader(kv[0], kv[1])
		}
	}
	h.tx.AddRequestHeader("host", host)
	h.tx.ProcessURI(path, method, "HTTP/1.1")
	if it := h.tx.ProcessRequestHeaders(); it != nil {
		return h.deny(it)
	}
	h.hasBody = !eos
	if eos {
		if it, err := h.tx.ProcessRequestBody(); err == nil && it != nil {
			return h.deny(it)
		}
	}
	return pwtypes.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(size int, eos bool) pwtypes.Action {
	if h.answered {
		return pwtypes.ActionContinue
	}
	if !eos {
		return pwtypes.ActionPause // the rules see the whole body
	}
	if size > 0 {
		body, err := proxywasm.GetHttpRequestBody(0, size)
		if err != nil {
			panic(err)
		}
		if it, _, err := h.tx.WriteRequestBody(body); err == nil && it != nil {
			return h.deny(it)
		}
	}
	if it, err := h.tx.ProcessRequestBody(); err == nil && it != nil {
		return h.deny(it)
	}
	return pwtypes.ActionContinue
}

func (h *httpContext) OnHttpStreamDone() {
	h.tx.ProcessLogging()
	h.tx.Close()
}
