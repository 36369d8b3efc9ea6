// Command misbehave is a test-only strata plugin whose fetches fail in every
// way a plugin can: a trap, an infinite loop, endless recursion, unbounded
// memory growth, a host call that needs a layer the call lacks. Its "ok" fetch and the bench
// fetches show that the host keeps serving meanwhile. A converter, an
// action, a routing target and a service that trap show the same for every
// other kind.
package main

import (
	"errors"
	"runtime"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

var hoard [][]byte

func init() {
	sdk.RegisterFetch(sdk.Fetch{Name: "ok", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		return sdk.Int(42), nil
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "trap", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		panic("misbehave: deliberate trap") // the Go runtime exits: the instance dies
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "spin", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		started(c)
		n := int64(0)
		for {
			n++
		}
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "recurse", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		started(c)
		return sdk.Int(fanOut(60)), nil // 2^60 calls, 60 deep: runs forever without looping
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "grow", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			hoard = append(hoard, b)
		}
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "fail", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		return sdk.None, errors.New("refused")
	}})
	// peek reads a request header whatever the point: from a tcp-request
	// rule it gets the layer error, which it reports in proc.peek_status.
	sdk.RegisterAction(sdk.Action{Name: "peek", Points: abi.PointTCPConnection | abi.PointTCPContent | abi.PointHTTPRequest, Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
		_, err := c.ReqHeader("host")
		st := int64(0)
		var e *sdk.Error
		if errors.As(err, &e) {
			st = int64(e.Status)
		}
		if err := c.SetVar(abi.ScopeProc, "peek_status", sdk.Int(st)); err != nil {
			return abi.VerdictContinue, err
		}
		return abi.VerdictContinue, nil
	}})
	// A stale handle: saved during one call, used in the next.
	sdk.RegisterFetch(sdk.Fetch{Name: "stale", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		if saved == nil {
			cp := *c
			saved = &cp
			return sdk.Int(0), nil
		}
		_, err := saved.Sample("src")
		var e *sdk.Error
		if errors.As(err, &e) {
			return sdk.Int(int64(e.Status)), nil
		}
		return sdk.Int(1), nil
	}})
	// One of every other kind, each trapping when its first argument (or
	// the input, for the converter) says "trap".
	sdk.RegisterConverter(sdk.Converter{Name: "trap_conv", In: abi.TypeStr, Out: abi.TypeStr, Fn: func(c *sdk.Ctx, in sdk.Value) (sdk.Value, error) {
		if string(in.Bytes) == "trap" {
			panic("misbehave: deliberate trap")
		}
		return in, nil
	}})
	sdk.RegisterAction(sdk.Action{Name: "trap_action", Points: abi.PointHTTPRequest | abi.PointTCPContent, MaxArgs: 1, Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
		trapIf(c)
		return abi.VerdictContinue, nil
	}})
	sdk.RegisterTarget(sdk.Target{Name: "trap_target", MaxArgs: 1, Fn: func(c *sdk.Ctx) (bool, error) {
		trapIf(c)
		return false, nil
	}})
	sdk.RegisterService(sdk.Service{Name: "trap_service", Modes: abi.ServiceHTTP | abi.ServiceTCP, MaxArgs: 1, Fn: func(c *sdk.Ctx, ev abi.ServiceEvent) (bool, error) {
		if ev != abi.EventEnd {
			trapIf(c)
		}
		return true, nil
	}})
	// Bench fetches: one host call each besides the result.
	sdk.RegisterFetch(sdk.Fetch{Name: "bench_const", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		return sdk.Int(1), nil
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "bench_hdr", Needs: abi.LayerTxn, Out: abi.TypeBool, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		_, err := c.ReqHeader("host")
		return sdk.Bool(err == nil), nil
	}})
	// The SDK's common paths, append-style, and the guest's allocation
	// count: the host's tests hold the former allocation-free.
	sdk.RegisterAction(sdk.Action{Name: "bench_append", Points: abi.PointHTTPRequest, MaxArgs: 1, Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
		var err error
		if name, err = c.AppendArg(name[:0], 0); err != nil {
			return abi.VerdictContinue, err
		}
		if val, err = c.AppendPath(val[:0]); err != nil {
			return abi.VerdictContinue, err
		}
		if val, err = c.AppendReqHeader(append(val, ' '), "host"); err != nil {
			return abi.VerdictContinue, err
		}
		return abi.VerdictContinue, c.SetReqHeaderBytes(name, val)
	}})
	sdk.RegisterFetch(sdk.Fetch{Name: "mallocs", Out: abi.TypeInt, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		runtime.ReadMemStats(&mem)
		return sdk.Int(int64(mem.Mallocs)), nil
	}})
}

var (
	name, val []byte
	mem       runtime.MemStats
)

var saved *sdk.Ctx

// trapIf traps unless the first argument is "ok".
func trapIf(c *sdk.Ctx) {
	if a, err := c.ArgStr(0); err == nil && a == "ok" {
		return
	}
	panic("misbehave: deliberate trap")
}

// fanOut calls itself twice per level: the work is in calls, not loops.
//
//go:noinline
func fanOut(n int) int64 {
	if n == 0 {
		return 1
	}
	return fanOut(n-1) + fanOut(n-1)
}

func main() {}

// started sets proc.runaway_started when a call enters a runaway fetch
// (spin, recurse): a host sees that a guest is running its endless code
// without counting anything itself. An error is left aside: the fetch
// runs away all the same.
func started(c *sdk.Ctx) {
	_ = c.SetVar(abi.ScopeProc, "runaway_started", sdk.Int(1))
}
