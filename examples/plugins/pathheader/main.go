// Command pathheader is a strata plugin that provides the action
// path_header([name]): it copies the request path into a request header
// (default x-path) before the request goes to the server. It is the
// smallest useful action, and the one the benchmark compares with the same
// rule written natively and in HAProxy's Lua.
//
//	plugins:
//	  pathheader:
//	    file: pathheader.wasm
//	    grants: [headers]
//	frontends:
//	  web:
//	    http_request:
//	      - path_header x-path
package main

import (
	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

func init() {
	sdk.RegisterAction(sdk.Action{Name: "path_header", Points: abi.PointHTTPRequest, MaxArgs: 1, Fn: pathHeader})
}

func pathHeader(c *sdk.Ctx) (abi.Verdict, error) {
	name := "x-path"
	if c.ArgCount() > 0 {
		a, err := c.ArgStr(0)
		if err != nil {
			return abi.VerdictContinue, err
		}
		name = a
	}
	p, err := c.Path()
	if err != nil {
		return abi.VerdictContinue, err
	}
	return abi.VerdictContinue, c.SetReqHeader(name, p)
}

func main() {}
