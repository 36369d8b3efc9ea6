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
	p   *Plugin
	mod api.Module
	mem api.Memory
	ctx context.Context // carries the instance to host functions
	fns [numKinds]api.Function

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
	ext     any               // a flavour's state (SetExt)

	// Owned by the caller too, read by checkDeadline on its goroutine:
	deadline int64 // host.monotonic() ns of the running call's deadline; 0 none
	timedOut bool  // checkDeadline aborted the call: the instance is dead
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
	in.ctx = context.WithValue(context.Background(), instKey{}, in)

	mc := p.modConfig.WithStdout(&lineWriter{in: in, stream: "stdout"}).WithStderr(&lineWriter{in: in, stream: "stderr"})
	// The allocator is read at instantiation only; in.ctx stays as it is
	// for calls.
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(in.ctx, p.memAlloc), p.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	for k, name := range kindExports {
		in.fns[k] = mod.ExportedFunction(name)
	}
	if f := mod.ExportedFunction(abi.ExportInitialize); f != nil {
		if err := in.invoke(f, in.deadlineIn(p.host.monotonic(), p.cfg.InitTimeout)); err != nil {
			err = in.classify(err)
			in.close()
			return nil, fmt.Errorf("%s: %w", abi.ExportInitialize, err)
		}
	}
	if p.flavour != nil {
		return in, nil // the flavour sets its instances up itself
	}
	in.initing = true
	err = in.invoke(mod.ExportedFunction(abi.ExportInit), in.deadlineIn(p.host.monotonic(), p.cfg.InitTimeout))
	in.initing = false
	if err != nil {
		err = in.classify(err)
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

// deadlineIn returns the deadline of a call starting at now (host
// monotonic ns) under timeout; 0, no deadline, when timeout is off.
func (in *instance) deadlineIn(now int64, timeout time.Duration) int64 {
	if timeout <= 0 {
		return 0
	}
	return now + int64(timeout)
}

// invoke calls fn with in.stack until deadline (0: none). It allocates
// nothing and starts nothing: the instrumented guest calls checkDeadline
// every instrument.Interval function entries and loop iterations, which
// aborts the call on this goroutine once the deadline has passed.
func (in *instance) invoke(fn api.Function, deadline int64) error {
	in.deadline = deadline
	err := fn.CallWithStack(in.ctx, in.stack[:])
	in.deadline = 0
	return err
}

// checkDeadline is the host side of the instrumentation
// (strata_instrument.check_deadline): it ends the running call with
// wazero's deadline exit error once the call's deadline has passed. It
// runs on the calling goroutine, so a spinning guest stops itself however
// busy the machine is, and it reads the clock only once per
// instrument.Interval guest steps.
func checkDeadline(ctx context.Context, _ api.Module, _ []uint64) {
	in, _ := ctx.Value(instKey{}).(*instance)
	if in == nil || in.deadline == 0 {
		return
	}
	if in.p.host.monotonic() >= in.deadline {
		in.timedOut = true
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
}

// classify turns a call error into ErrTimeout, ErrMemory or ErrTrap.
func (in *instance) classify(err error) error {
	var exit *sys.ExitError
	switch {
	case in.timedOut:
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
	t0 := in.p.host.monotonic() // the call's one clock read before it runs
	err := in.invoke(in.fns[kind], in.deadlineIn(t0, in.p.cfg.CallTimeout))
	in.p.stats.latency.Observe(time.Duration(in.p.host.monotonic() - t0))
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
