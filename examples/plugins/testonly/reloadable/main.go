// Command reloadable is a test-only strata plugin that exists in several
// variants, chosen when it is linked (-ldflags "-X main.variant=NAME"), so
// that tests can replace a running module with another and watch what a
// plugin reload does:
//
//	v1 (the default), v2, …   fetch plugin_version returns the variant's name
//	trapinit                   traps while the instance initialises
//	nofetch                    registers nothing: rules using plugin_version
//	                           no longer compile
//
//	plugins:
//	  reloadable:
//	    file: reloadable.wasm
//	frontends:
//	  web:
//	    http_response: ["set-header x-plugin %[plugin_version]"]
package main

import (
	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

// variant is set at link time.
var variant = "v1"

func init() {
	switch variant {
	case "nofetch":
		return
	case "trapinit":
		sdk.OnInit(func() error {
			panic("reloadable: deliberate trap during initialisation")
		})
	}
	sdk.RegisterFetch(sdk.Fetch{Name: "plugin_version", Out: abi.TypeStr, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		return sdk.Str(variant), nil
	}})
}

func main() {}
