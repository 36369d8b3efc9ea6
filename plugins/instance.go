package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"go.opentelemetry.io/otel/trace"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

type instKey struct{}

// kindIndex numbers the entry points.
const (
	kFetch = iota
	kConvert
	kAction
	kTarget
	kService
	numKinds
)

var kindExports = [numKinds]string{abi.ExportFetch, abi.ExportConvert, abi.ExportAction, abi.ExportTarget, abi.ExportService}

// instance is one instantiation of a plugin's module. It runs one call at a
// time: the goroutine that took it from the pool (or the stream that keeps
// it) owns every field below "owned by the caller" until it gives it back.
type instance struct {
	// Immutable after newInstance:
	p      *Plugin
	mod    api.Module
	mem    api.Memory
	ctx    context.Context // carries the instance to host functions; cancelled on timeout
	cancel context.CancelFunc
	fns    [numKinds]api.Function
	timer  *time.Timer

	// Shared with the timer goroutine:
	deadline atomic.Int64 // monotonic ns of the running call's deadline; 0 idle; -1 fired

	// Owned by the caller:
	stack   [4]uint64
	handle  uint32 // handle of the call in progress
	inCall  bool
	initing bool // strata_init is running: registrations allowed
	call    callState
	regs    []Registration // made during strata_init
	regErr  error
	exprs   map[string]*fetch.Expr // sample_eval cache, parsed against exprReg
	exprReg *fetch.Registry
	names   map[string]string // interned route names
	scratch []byte            // encoding values, building sc expressions
	oom     atomic.Bool       // stderr reported an out-of-memory death
	calls   uint64            // calls made on this instance
	reply   Reply             // reply storage of action calls
	kept    bool              // held by a stream (services)
	keptID  uint32            // the service the stream uses
}

// callState is what host functions may see during one call.
type callState struct {
	kind   int
	point  abi.Point
	ctx    *fetch.Ctx
	fargs  []fetch.Arg // fetch and converter arguments
	sargs  []string    // action, target and service arguments
	input  sample.Value
	result sample.Value
	out    abi.Type // the registered result type of a fetch or converter
	resBuf []byte   // storage of result bytes, reused
	reply  *Reply   // actions and services; nil otherwise
	// span is the call's span (telemetry.go): the stream is sampled; the
	// span_* host functions write to it. layerErr records that a host
	// function refused for want of a layer, the call's outcome then.
	span     trace.Span
	layerErr bool
}

// Reply is a response built by a plugin action or service. Its storage is
// reused: call Reset before building the next one.
type Reply struct {
	Status int
	Header []h1.Field // name and value bytes live in the Reply's arena
	Body   []byte
	arena  []byte
}

// Reset empties r, keeping its storage.
func (r *Reply) Reset() {
	r.Status, r.Header, r.Body, r.arena = 0, r.Header[:0], r.Body[:0], r.arena[:0]
}

// HeaderValue returns the first header called name (ASCII case-insensitive).
func (r *Reply) HeaderValue(name string) []byte {
	for _, f := range r.Header {
		if session.EqualFold(f.Name, []byte(name)) {
			return f.Value
		}
	}
	return nil
}

func (r *Reply) keep(b []byte) []byte {
	if cap(r.arena)-len(r.arena) < len(b) {
		r.arena = make([]byte, 0, max(512, 2*cap(r.arena), len(b)))
	}
	n := len(r.arena)
	r.arena = append(r.arena, b...)
	return r.arena[n:len(r.arena):len(r.arena)]
}

// newInstance instantiates the module and runs its initialisation.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{p: p, exprs: map[string]*fetch.Expr{}, names: map[string]string{}}
	base, cancel := context.WithCancel(context.Background())
	in.ctx, in.cancel = context.WithValue(base, instKey{}, in), cancel
	in.timer = time.AfterFunc(time.Hour, in.onTimer)
	in.timer.Stop()

	mc := p.modConfig.WithStdout(&lineWriter{in: in, stream: "stdout"}).WithStderr(&lineWriter{in: in, stream: "stderr"})
	// The allocator is read at instantiation only; in.ctx stays as it is
	// for calls.
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(in.ctx, p.memAlloc), p.compiled, mc)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	for k, name := range kindExports {
		in.fns[k] = mod.ExportedFunction(name)
	}
	if f := mod.ExportedFunction(abi.ExportInitialize); f != nil {
		if err := in.invoke(f, p.cfg.InitTimeout); err != nil {
			err = in.classify(err) // before close, which cancels in.ctx
			in.close()
			return nil, fmt.Errorf("%s: %w", abi.ExportInitialize, err)
		}
	}
	in.initing = true
	err = in.invoke(mod.ExportedFunction(abi.ExportInit), p.cfg.InitTimeout)
	in.initing = false
	if err != nil {
		err = in.classify(err) // before close, which cancels in.ctx
		in.close()
		return nil, fmt.Errorf("%s: %w", abi.ExportInit, err)
	}
	if st := abi.Status(int32(in.stack[0])); st < 0 {
		in.close()
		if in.regErr != nil {
			return nil, fmt.Errorf("%w: %v", ErrRegistration, in.regErr)
		}
		return nil, fmt.Errorf("%s returned %v", abi.ExportInit, st)
	}
	if in.regErr != nil {
		in.close()
		return nil, fmt.Errorf("%w: %v", ErrRegistration, in.regErr)
	}
	if p.regs != nil && !sameRegs(in.regs, p.regs) {
		in.close()
		return nil, fmt.Errorf("%w: an instance registered differently from the first one; registrations must not depend on anything but the configuration", ErrRegistration)
	}
	return in, nil
}

// invoke calls fn with in.stack under a deadline. It allocates nothing:
// the timer is the instance's own, re-armed per call.
func (in *instance) invoke(fn api.Function, timeout time.Duration) error {
	if timeout > 0 {
		in.deadline.Store(in.p.host.monotonic() + int64(timeout))
		in.timer.Reset(timeout)
	}
	err := fn.CallWithStack(in.ctx, in.stack[:])
	if timeout > 0 {
		in.timer.Stop()
		if in.deadline.Swap(0) == -1 && err == nil {
			// The deadline passed as the call returned: the context is
			// cancelled, so the instance cannot be used again.
			err = sys.NewExitError(sys.ExitCodeContextCanceled)
		}
	}
	return err
}

// onTimer runs on the timer's goroutine when a deadline may have passed.
func (in *instance) onTimer() {
	d := in.deadline.Load()
	if d <= 0 {
		return // idle, or a stale firing from an earlier call
	}
	if now := in.p.host.monotonic(); now < d {
		in.timer.Reset(time.Duration(d - now))
		return
	}
	if in.deadline.CompareAndSwap(d, -1) {
		in.cancel() // wazero closes the module; the call returns an error
	}
}

// classify turns a call error into ErrTimeout, ErrMemory or ErrTrap.
func (in *instance) classify(err error) error {
	var exit *sys.ExitError
	switch {
	case in.deadline.Load() == -1 || in.ctx.Err() != nil:
		return fmt.Errorf("%w (call_timeout %v)", ErrTimeout, in.p.cfg.CallTimeout)
	case in.oom.Load() || in.nearMemoryLimit():
		return fmt.Errorf("%w (memory_limit %d bytes): %v", ErrMemory, in.p.cfg.MemoryLimit, err)
	case errors.As(err, &exit):
		return fmt.Errorf("%w: exit code %d", ErrTrap, exit.ExitCode())
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%w: %s", ErrTrap, msg)
}

// nearMemoryLimit reports whether the memory is within 1/8 of its limit,
// which is where a guest's allocator fails to grow it.
func (in *instance) nearMemoryLimit() bool {
	if in.mem == nil {
		return false
	}
	return int64(in.mem.Size()) > in.p.cfg.MemoryLimit-in.p.cfg.MemoryLimit/8
}

func (in *instance) close() {
	in.timer.Stop()
	in.cancel()
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
}

// begin opens a call: a fresh handle and the state host functions see.
func (in *instance) begin(kind int, ctx *fetch.Ctx) {
	in.handle++
	if in.handle == 0 {
		in.handle = 1
	}
	in.inCall = true
	in.calls++
	c := &in.call
	c.kind, c.ctx, c.point = kind, ctx, 0
	c.fargs, c.sargs, c.reply = nil, nil, nil
	c.input, c.result, c.out = sample.Value{}, sample.Value{}, abi.TypeNone
	c.span, c.layerErr = nil, false
}

// end closes the call: the handle stops being valid.
func (in *instance) end() {
	in.inCall = false
	in.call.ctx = nil
	in.call.fargs, in.call.sargs, in.call.reply = nil, nil, nil
	in.call.input = sample.Value{}
	in.call.span = nil
}

// run calls entry point kind with (handle, layers, id[, extra]) and returns
// its result. A non-nil error means the instance is dead.
func (in *instance) run(kind int, id uint32, extra int32) (int32, error) {
	ctx := in.call.ctx
	in.stack[0] = uint64(in.handle)
	in.stack[1] = uint64(effectiveLayers(ctx))
	in.stack[2] = uint64(id)
	in.stack[3] = uint64(uint32(extra))
	if ctx.Span != nil {
		in.call.span = in.startSpan(kind, id)
	}
	t0 := time.Now()
	err := in.invoke(in.fns[kind], in.p.cfg.CallTimeout)
	in.p.stats.latency.Observe(time.Since(t0))
	rc := int32(uint32(in.stack[0]))
	if err != nil {
		err, rc = in.classify(err), 0
	}
	if in.call.span != nil {
		in.endSpan(rc, err)
	}
	return rc, err
}

// effectiveLayers is the layer set of ctx, less any layer whose object is
// missing, so a hand-built context cannot make the host dereference nil.
func effectiveLayers(ctx *fetch.Ctx) abi.Layers {
	l := ctx.Layers
	if ctx.Conn == nil {
		l &^= abi.LayerConn
	}
	if ctx.Sess == nil {
		l &^= abi.LayerSess
	}
	if ctx.Strm == nil {
		l &^= abi.LayerStrm
	}
	if ctx.Txn == nil {
		l &^= abi.LayerTxn
	}
	return l
}
