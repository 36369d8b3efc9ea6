// Command waf is a Proxy-Wasm HTTP filter that runs the Coraza web
// application firewall with the OWASP Core Rule Set. It is written with the
// Proxy-Wasm Go SDK for standard Go and built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o waf.wasm ./waf
//
// The rules are compiled once per instance, in proxy_on_configure, so the
// cost is paid when strata loads the filter, not per request. The plugin
// configuration is JSON:
//
//	{"directives": ["SecRuleEngine On", ...], "crs": true}
//
// "crs" (default true) loads the Core Rule Set with its recommended setup
// before the directives; the directives may override it (paranoia level,
// exclusions). A request the rules interrupt gets the status they ask for
// (403 for the CRS's anomaly blocking) as a local response.
//
// Only the request is inspected: response inspection doubles the cost per
// request and the CRS's response rules (data leakage) are rarely worth it
// in front of an application that owns its errors.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	ctypes "github.com/corazawaf/coraza/v3/types"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

// settings is the plugin configuration.
type settings struct {
	Directives []string `json:"directives"`
	CRS        *bool    `json:"crs"`
}

// crsSetup loads the Core Rule Set the way its authors recommend, then turns
// blocking on (the recommended Coraza configuration only detects).
const crsSetup = `Include @coraza.conf-recommended
Include @crs-setup.conf.example
SecRuleEngine On
SecRequestBodyAccess On
SecResponseBodyAccess Off
Include @owasp_crs/*.conf
`

type plugin struct {
	types.DefaultPluginContext
	waf coraza.WAF
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	start := time.Now()
	raw, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCriticalf("waf: reading the configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	var s settings
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &s); err != nil {
			proxywasm.LogCriticalf("waf: the configuration is not valid JSON (%v); write {\"directives\": [...], \"crs\": true}", err)
			return types.OnPluginStartStatusFailed
		}
	}
	var directives strings.Builder
	if s.CRS == nil || *s.CRS {
		directives.WriteString(crsSetup)
	}
	for _, d := range s.Directives {
		directives.WriteString(d)
		directives.WriteByte('\n')
	}
	cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives.String())
	w, err := coraza.NewWAF(cfg)
	if err != nil {
		proxywasm.LogCriticalf("waf: compiling the rules: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.waf = w
	proxywasm.LogInfof("waf: rules compiled in %s", time.Since(start).Round(time.Millisecond))
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext {
	return &stream{tx: p.waf.NewTransaction()}
}

// stream inspects one request.
type stream struct {
	types.DefaultHttpContext
	tx ctypes.Transaction
	// bodySeen is how much of the buffered request body the transaction has
	// been given; the host hands back the whole buffer on each call while
	// the filter pauses.
	bodySeen int
	// denied is set once a local response has been sent.
	denied bool
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	tx := s.tx
	if addr, err := proxywasm.GetProperty([]string{"source", "address"}); err == nil {
		host, port := splitHostPort(string(addr))
		tx.ProcessConnection(host, port, "", 0)
	}
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("waf: reading request headers: %v", err)
		return types.ActionContinue
	}
	var method, path, proto = "GET", "/", "HTTP/1.1"
	for _, h := range headers {
		switch h[0] {
		case ":method":
			method = h[1]
		case ":path":
			path = h[1]
		case ":authority":
			tx.AddRequestHeader("Host", h[1])
			tx.SetServerName(h[1])
		default:
			if !strings.HasPrefix(h[0], ":") {
				tx.AddRequestHeader(h[0], h[1])
			}
		}
	}
	if p, err := proxywasm.GetProperty([]string{"request", "protocol"}); err == nil {
		proto = string(p)
	}
	tx.ProcessURI(path, method, proto)
	if it := tx.ProcessRequestHeaders(); it != nil {
		return s.deny(it)
	}
	if endOfStream {
		it, err := tx.ProcessRequestBody()
		if err != nil {
			proxywasm.LogErrorf("waf: processing the request: %v", err)
			return types.ActionContinue
		}
		if it != nil {
			return s.deny(it)
		}
	}
	return types.ActionContinue
}

func (s *stream) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if s.denied {
		return types.ActionPause
	}
	if bodySize > s.bodySeen {
		chunk, err := proxywasm.GetHttpRequestBody(s.bodySeen, bodySize-s.bodySeen)
		if err != nil {
			proxywasm.LogErrorf("waf: reading the request body: %v", err)
			return types.ActionContinue
		}
		s.bodySeen = bodySize
		it, _, err := s.tx.WriteRequestBody(chunk)
		if err != nil {
			proxywasm.LogErrorf("waf: buffering the request body: %v", err)
			return types.ActionContinue
		}
		if it != nil {
			return s.deny(it)
		}
	}
	if !endOfStream {
		// Keep the body until the rules have seen all of it.
		return types.ActionPause
	}
	it, err := s.tx.ProcessRequestBody()
	if err != nil {
		proxywasm.LogErrorf("waf: processing the request body: %v", err)
		return types.ActionContinue
	}
	if it != nil {
		return s.deny(it)
	}
	return types.ActionContinue
}

func (s *stream) OnHttpStreamDone() {
	s.tx.ProcessLogging()
	s.tx.Close()
}

// deny answers the client with the status the interrupting rule asked for.
func (s *stream) deny(it *ctypes.Interruption) types.Action {
	status := it.Status
	if status == 0 {
		status = 403
	}
	s.denied = true
	proxywasm.LogWarnf("waf: request denied by rule %d (%s)", it.RuleID, it.Action)
	body := fmt.Sprintf("request denied by the web application firewall (rule %d)\n", it.RuleID)
	if err := proxywasm.SendHttpResponse(uint32(status), [][2]string{{"content-type", "text/plain"}}, []byte(body), -1); err != nil {
		proxywasm.LogErrorf("waf: sending the denial: %v", err)
	}
	return types.ActionPause
}

// splitHostPort splits "1.2.3.4:5678" (or "[::1]:5678") without failing on
// a missing port.
func splitHostPort(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.HasSuffix(addr, "]") {
		return strings.Trim(addr, "[]"), 0
	}
	port, _ := strconv.Atoi(addr[i+1:])
	return strings.Trim(addr[:i], "[]"), port
}
