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

// name and path are reused from call to call (an instance runs one call
// at a time): with the append-style calls the action allocates nothing.
var name, path []byte

func pathHeader(c *sdk.Ctx) (abi.Verdict, error) {
	var err error
	name = append(name[:0], "x-path"...)
	if c.ArgCount() > 0 {
		if name, err = c.AppendArg(name[:0], 0); err != nil {
			return abi.VerdictContinue, err
		}
	}
	if path, err = c.AppendPath(path[:0]); err != nil {
		return abi.VerdictContinue, err
	}
	return abi.VerdictContinue, c.SetReqHeaderBytes(name, path)
}

func main() {}
