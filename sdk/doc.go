// Package sdk writes strata plugins in Go. A plugin is a main package built
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm
//
// that registers what it provides from init:
//
//	func init() {
//		sdk.RegisterFetch(sdk.Fetch{
//			Name: "ua_class", Needs: abi.LayerTxn, Out: abi.TypeStr,
//			Fn: func(c *sdk.Ctx) (sdk.Value, error) { ... },
//		})
//	}
//	func main() {}
//
// The SDK exports the ABI v1 entry points (strata_abi_v1, strata_init,
// strata_fetch, …) and calls the host through the strata_v1 imports; SPEC.md
// in package abi is the contract it implements.
//
// Lifecycle of an instance: the host runs the Go runtime's initialisation
// (package init functions, so the Register calls), then strata_init, which
// runs the OnInit hooks (they may read Config and register more) and sends
// every registration to the host. Then the host calls entry points, one at a
// time: an instance is single-threaded. A *Ctx is valid only during the call
// that received it; the host refuses a stale handle.
//
// Every host call goes through an internal interface; sdk/sdktest replaces it
// with a fake host so that the same plugin code runs under native go test.
// The SDK imports only package abi and the standard library, and never
// writes to the log itself.
package sdk
