package proxywasm

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/plugins"
)

// rootID is the context id of every vm's root context; streams get ids
// from 2 up.
const rootID = 1

// vm is one instance of a filter's module with its root context, and the
// streams that run on it. Calls into it are serialised by mu: a stream's
// callbacks (the engine's goroutine), HTTP call answers, ticks and queue
// events (their own goroutines) take it in turn.
type vm struct {
	// Immutable after newVM:
	f   *Filter
	in  *plugins.Instance
	fns [numCallbacks]api.Function

	load atomic.Int32 // streams that picked this vm and are not Done
	dead atomic.Bool  // a call failed: no more calls; set under mu

	mu sync.Mutex
	// Guarded by mu:
	streams   map[uint32]*stream
	nextID    uint32
	cur       *stream     // the effective context's stream; nil: the root context
	body      filter.Body // the body of the running body callback
	bodySide  int         // streamRequest or streamResponse while body is set
	callResp  *filter.CallResponse
	calls     map[uint32]*callout
	nextToken uint32
	inDone    bool // proxy_on_done is running: proxy_done answers OK
	tickStop  chan struct{}
	retired   bool
	props     map[string][]byte // set_property on the root context
	stack     [8]uint64
	allocStk  [2]uint64
	scratch   []byte
	orphans   []*stream // streams to release after a failure, once mu is let go

	queueEvents queueEvents // its own lock: enqueues reach it while mu is held
}

// Callback indices into vm.fns.
const (
	cbAlloc = iota
	cbContextCreate
	cbVMStart
	cbConfigure
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbDone
	cbLog
	cbDelete
	cbTick
	cbQueueReady
	cbHTTPCallResponse
	numCallbacks
)

var callbackNames = [numCallbacks]string{fnMemoryAllocate, fnContextCreate, fnVMStart, fnConfigure,
	fnRequestHeaders, fnRequestBody, fnRequestTrailers, fnResponseHeaders, fnResponseBody, fnResponseTrailers,
	fnDone, fnLog, fnDelete, fnTick, fnQueueReady, fnHTTPCallResponse}

// newVM creates an instance and starts its root context: create,
// proxy_on_vm_start with the VM configuration, proxy_on_configure with the
// filter's. Either answering false is ErrConfigure.
func (f *Filter) newVM(ctx context.Context) (*vm, error) {
	in, err := f.p.NewInstance(ctx)
	if err != nil {
		return nil, err
	}
	v := &vm{f: f, in: in, streams: map[uint32]*stream{}, nextID: rootID + 1, calls: map[uint32]*callout{}}
	for i, name := range callbackNames {
		v.fns[i] = in.Function(name)
	}
	if v.fns[cbAlloc] == nil {
		v.fns[cbAlloc] = in.Function(fnMalloc)
	}
	in.SetExt(v)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.start(); err != nil {
		v.stopTick()
		if v.dead.Load() {
			return nil, err
		}
		v.dead.Store(true)
		f.p.Drop(in)
		return nil, err
	}
	return v, nil
}

// start runs the root context's first callbacks; mu is held.
func (v *vm) start() error {
	if _, err := v.callInit(cbContextCreate, rootID, 0); err != nil {
		return fmt.Errorf("%s: %w", fnContextCreate, err)
	}
	if v.fns[cbVMStart] != nil {
		ok, err := v.callInit(cbVMStart, rootID, uint64(len(v.f.cfg.VMConfig)))
		if err != nil {
			return fmt.Errorf("%s: %w", fnVMStart, err)
		}
		if ok == 0 {
			return fmt.Errorf("%w: %s returned false (vm_config %q)", ErrConfigure, fnVMStart, clip(v.f.cfg.VMConfig))
		}
	}
	if v.fns[cbConfigure] != nil {
		ok, err := v.callInit(cbConfigure, rootID, uint64(len(v.f.cfg.PluginConfig)))
		if err != nil {
			return fmt.Errorf("%s: %w", fnConfigure, err)
		}
		if ok == 0 {
			return fmt.Errorf("%w: %s returned false (config %q)", ErrConfigure, fnConfigure, clip(v.f.cfg.PluginConfig))
		}
	}
	return nil
}

// clip shortens a configuration for an error message.
func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// callInit calls a root callback under init_timeout; a failure discards
// the instance.
func (v *vm) callInit(cb int, a, b uint64) (uint32, error) {
	v.stack[0], v.stack[1] = a, b
	if err := v.in.CallInit(v.fns[cb], v.stack[:]); err != nil {
		v.die(err, netip.Addr{})
		return 0, err
	}
	return uint32(v.stack[0]), nil
}

// call calls callback cb with args under call_timeout; mu is held. On a
// failure the vm dies (die) and the error is returned.
func (v *vm) call(cb int, src netip.Addr, args ...uint64) (uint32, error) {
	copy(v.stack[:], args)
	if err := v.in.Call(v.fns[cb], v.stack[:]); err != nil {
		v.die(err, src)
		return 0, err
	}
	return uint32(v.stack[0]), nil
}

// die discards the vm after a failed call on behalf of src: the failure
// counts toward the quarantine, new streams go to other vms, and the
// streams still on this one fail per on_error (release, once mu is let
// go). mu is held.
func (v *vm) die(err error, src netip.Addr) {
	if v.dead.Swap(true) {
		return
	}
	v.f.log.Warn("Proxy-Wasm instance discarded", "err", err, "streams", len(v.streams))
	v.f.remove(v)
	releaseQueues(v)
	v.f.p.Discard(v.in, err, src)
	v.stopTick()
	for _, c := range v.calls {
		c.cancel()
	}
	clear(v.calls)
	for _, sf := range v.streams {
		if sf.paused {
			v.orphans = append(v.orphans, sf)
		}
	}
}

// unlock lets mu go, then ends the pause of the streams a failure left
// waiting: fail_open resumes them, fail_closed answers 500 (or resets a
// stream whose response has started).
func (v *vm) unlock() {
	orphans := v.orphans
	v.orphans = nil
	v.mu.Unlock()
	for _, sf := range orphans {
		if v.f.p.OnError() == plugins.FailOpen {
			sf.s.Resume()
			continue
		}
		if sf.s.Reply(filter.Reply{Status: 500, Details: "plugin"}) != nil {
			sf.s.Close()
		}
	}
}

func (v *vm) isDead() bool { return v.dead.Load() }

// retire stops the vm once its streams are gone (the filter closed).
func (v *vm) retire() {
	v.mu.Lock()
	v.retired = true
	v.stopTick()
	releaseQueues(v)
	v.dropIfIdle()
	v.mu.Unlock()
}

// dropIfIdle closes a retired vm without streams; mu is held.
func (v *vm) dropIfIdle() {
	if v.retired && len(v.streams) == 0 && !v.dead.Swap(true) {
		for _, c := range v.calls {
			c.cancel()
		}
		v.f.p.Drop(v.in)
	}
}

// rootCall runs a root-context callback (tick, queue event) from its own
// goroutine.
func (v *vm) rootCall(cb int, args ...uint64) {
	v.mu.Lock()
	if v.isDead() || v.fns[cb] == nil {
		v.mu.Unlock()
		return
	}
	v.cur = nil
	if _, err := v.call(cb, netip.Addr{}, args...); err == nil {
		v.f.p.Succeeded(netip.Addr{})
	}
	v.cur = nil
	v.unlock()
}

// setTick starts, changes or (0) stops the root context's tick; mu is
// held.
func (v *vm) setTick(period time.Duration) {
	v.stopTick()
	if period <= 0 || v.isDead() {
		return
	}
	stop := make(chan struct{})
	v.tickStop = stop
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.rootCall(cbTick, rootID)
			}
		}
	}()
}

func (v *vm) stopTick() {
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
}

// alloc asks the guest for n bytes (proxy_on_memory_allocate, or malloc)
// from inside a host function. A guest that fails there cannot go on: the
// running call is aborted with the error.
func (v *vm) alloc(n int) uint32 {
	v.allocStk[0] = uint64(uint32(n))
	if err := v.in.Call(v.fns[cbAlloc], v.allocStk[:]); err != nil {
		panic(err)
	}
	return uint32(v.allocStk[0])
}

// read returns guest memory [ptr, ptr+n) (i32 arguments masked to 32 bits).
func (v *vm) read(ptr, n uint64) ([]byte, bool) {
	return v.in.Memory().Read(uint32(ptr), uint32(n))
}

// out copies data into guest memory it allocates and writes the address
// and size at retData and retSize (the ABI's way of returning bytes).
func (v *vm) out(retData, retSize uint64, data []byte) status {
	mem := v.in.Memory()
	if _, ok := mem.Read(uint32(retData), 4); !ok {
		return stInvalidMemoryAccess
	}
	if _, ok := mem.Read(uint32(retSize), 4); !ok {
		return stInvalidMemoryAccess
	}
	var ptr uint32
	if len(data) > 0 {
		ptr = v.alloc(len(data))
		dst, ok := mem.Read(ptr, uint32(len(data)))
		if ptr == 0 || !ok {
			return stInvalidMemoryAccess
		}
		copy(dst, data)
	}
	mem.WriteUint32Le(uint32(retData), ptr)
	mem.WriteUint32Le(uint32(retSize), uint32(len(data)))
	return stOK
}

// putU32 writes x at the guest's address p: INVALID_MEMORY_ACCESS when p
// is out of its memory.
func (v *vm) putU32(p uint64, x uint32) status {
	if !v.in.Memory().WriteUint32Le(uint32(p), x) {
		return stInvalidMemoryAccess
	}
	return stOK
}

// putU64 is putU32 for a 64-bit value.
func (v *vm) putU64(p uint64, x uint64) status {
	if !v.in.Memory().WriteUint64Le(uint32(p), x) {
		return stInvalidMemoryAccess
	}
	return stOK
}
