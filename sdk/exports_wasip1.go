//go:build wasip1

//lint:file-ignore U1000 the host calls these through //go:wasmexport

package sdk

import (
	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// wasmCtx is the Ctx of the call in progress: an instance runs one call at
// a time, so one is enough and the hot path allocates nothing.
var wasmCtx = Ctx{buf: make([]byte, 0, 256)}

func enter(h, layers uint32) *Ctx {
	c := &wasmCtx
	c.host, c.h, c.layers, c.point = hostcall.Impl, h, abi.Layers(layers), 0
	return c
}

//go:wasmexport strata_abi_v1
func strataABIv1() {}

//go:wasmexport strata_init
func strataInit() int32 { return int32(initPlugin(hostcall.Impl)) }

//go:wasmexport strata_fetch
func strataFetch(h, layers, id uint32) int32 {
	return call(enter(h, layers), abi.KindFetch, id, 0)
}

//go:wasmexport strata_convert
func strataConvert(h, layers, id uint32) int32 {
	return call(enter(h, layers), abi.KindConverter, id, 0)
}

//go:wasmexport strata_action
func strataAction(h, layers, id, point uint32) int32 {
	return call(enter(h, layers), abi.KindAction, id, int32(point))
}

//go:wasmexport strata_target
func strataTarget(h, layers, id uint32) int32 {
	return call(enter(h, layers), abi.KindTarget, id, 0)
}

//go:wasmexport strata_service
func strataService(h, layers, id, event uint32) int32 {
	return call(enter(h, layers), abi.KindService, id, int32(event))
}
