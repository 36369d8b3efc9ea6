// Command rewrite is a strata plugin that provides the action api_rewrite:
// a request whose path starts with the configured prefix has it stripped,
// gets an x-forwarded-prefix header and is routed to the configured
// backend.
//
//	plugins:
//	  rewrite:
//	    file: rewrite.wasm
//	    grants: [headers, route]
//	    config: {prefix: /api, backend: api}
//	frontends:
//	  web:
//	    http_request:
//	      - api_rewrite
package main

import (
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

type config struct {
	Prefix  string `json:"prefix"`
	Backend string `json:"backend"`
}

var cfg = config{Prefix: "/api", Backend: "api"}

func init() {
	sdk.OnInit(func() error { return sdk.DecodeConfig(&cfg) })
	sdk.RegisterAction(sdk.Action{Name: "api_rewrite", Points: abi.PointHTTPRequest, Fn: rewrite})
}

func rewrite(c *sdk.Ctx) (abi.Verdict, error) {
	p, err := c.Path()
	if err != nil {
		return abi.VerdictContinue, err
	}
	rest, ok := strings.CutPrefix(p, cfg.Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return abi.VerdictContinue, nil
	}
	if rest == "" {
		rest = "/"
	}
	if err := c.SetPath(rest); err != nil {
		return abi.VerdictContinue, err
	}
	if err := c.SetReqHeader("x-forwarded-prefix", cfg.Prefix); err != nil {
		return abi.VerdictContinue, err
	}
	if cfg.Backend != "" {
		if err := c.UseBackend(cfg.Backend); err != nil {
			return abi.VerdictContinue, err
		}
	}
	return abi.VerdictContinue, nil
}

func main() {}
