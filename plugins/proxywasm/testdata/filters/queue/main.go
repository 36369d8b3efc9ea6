// Command queue is a Proxy-Wasm test filter for shared queues and ticks:
// its root context registers the queue "paths" and, when told items are
// ready, dequeues them and appends them to the shared data "seen", each followed by a comma; it
// also ticks every 20ms, counting the ticks in the shared data "ticks".
// Responses carry what it has seen (x-seen) and whether it ticked
// (x-ticked).
package main

import (
	"encoding/binary"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &pluginContext{} })
}

type pluginContext struct {
	types.DefaultPluginContext
	queue uint32
	ticks uint64
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	q, err := proxywasm.RegisterSharedQueue("paths")
	if err != nil {
		return types.OnPluginStartStatusFailed
	}
	p.queue = q
	if err := proxywasm.SetTickPeriodMilliSeconds(20); err != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnQueueReady(id uint32) {
	for {
		item, err := proxywasm.DequeueSharedQueue(id)
		if err == types.ErrorStatusEmpty {
			return
		}
		if err != nil {
			panic(err)
		}
		for {
			seen, cas, err := proxywasm.GetSharedData("seen")
			if err != nil && err != types.ErrorStatusNotFound {
				panic(err)
			}
			next := append(append(append([]byte(nil), seen...), item...), ',')
			if err := proxywasm.SetSharedData("seen", next, cas); err == nil {
				break
			} else if err != types.ErrorStatusCasMismatch {
				panic(err)
			}
		}
	}
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	seen, _, _ := proxywasm.GetSharedData("seen")
	ticks, _, _ := proxywasm.GetSharedData("ticks")
	ticked := "no"
	if len(ticks) == 8 && binary.LittleEndian.Uint64(ticks) > 0 {
		ticked = "yes"
	}
	if len(seen) == 0 {
		seen = []byte("none")
	}
	if err := proxywasm.AddHttpResponseHeader("x-seen", string(seen)); err != nil {
		panic(err)
	}
	if err := proxywasm.AddHttpResponseHeader("x-ticked", ticked); err != nil {
		panic(err)
	}
	return types.ActionContinue
}

func (p *pluginContext) OnTick() {
	p.ticks++
	if err := proxywasm.SetSharedData("ticks", binary.LittleEndian.AppendUint64(nil, p.ticks), 0); err != nil {
		panic(err)
	}
}
