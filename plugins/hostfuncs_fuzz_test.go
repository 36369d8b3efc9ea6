package plugins

import (
	"context"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
)

// minimalModule is the smallest ABI v1 guest: a one-page memory, the
// marker and a strata_init that registers nothing. Hand-encoded so the
// fuzz target needs no tool.
var minimalModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x08, 0x02, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f, // types: ()->(), ()->i32
	0x03, 0x03, 0x02, 0x00, 0x01, // functions
	0x05, 0x03, 0x01, 0x00, 0x01, // memory: 1 page
	0x07, 0x28, 0x03, // exports
	0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00,
	0x0d, 's', 't', 'r', 'a', 't', 'a', '_', 'a', 'b', 'i', '_', 'v', '1', 0x00, 0x00,
	0x0b, 's', 't', 'r', 'a', 't', 'a', '_', 'i', 'n', 'i', 't', 0x00, 0x01,
	0x0a, 0x09, 0x02, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x00, 0x0b, // code
}

// FuzzHostFunctions calls every host function with guest-chosen pointers,
// lengths and values: none may panic, whatever the guest passes.
func FuzzHostFunctions(f *testing.F) {
	e := newEnv(f)
	p, err := e.host.Load(context.Background(), Config{Name: "minimal", Wasm: minimalModule})
	if err != nil {
		f.Fatal(err)
	}
	in, err := p.acquire(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), true, uint64(0), uint64(4), uint64(0), uint64(16), uint64(0), uint64(0), uint64(0))
	f.Add(uint8(13), true, uint64(65530), uint64(100), uint64(1), uint64(65535), uint64(8), uint64(0), uint64(0))
	f.Add(uint8(30), true, uint64(1), uint64(0xffffffff), uint64(0xfffffff0), uint64(32), uint64(2), uint64(3), uint64(4))
	f.Add(uint8(38), false, uint64(2), uint64(7), uint64(65536), uint64(1), uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, fn uint8, good bool, a, b, c, d, g, h, i uint64) {
		def := abi.HostFuncs[int(fn)%len(abi.HostFuncs)]
		ctx := httpCtx("host", "example.com")
		ctx.Strm.Content = []byte("body")
		in.begin(kAction, ctx)
		in.call.reply = &in.reply
		in.call.fargs = []fetch.Arg{{Kind: fetch.ArgStr, Str: "x", Bytes: []byte("x")}, {Kind: fetch.ArgInt, Int: 3}}
		defer in.end()
		raw := []uint64{a, b, c, d, g, h, i, a ^ h}
		stack := make([]uint64, max(len(def.Params), len(def.Results)))
		for k, prm := range def.Params {
			v := raw[k]
			if prm.Type == abi.I32 {
				v = uint64(uint32(v))
			}
			stack[k] = v
		}
		if good && len(def.Params) > 0 && def.Params[0].Name == "ctx" {
			stack[0] = uint64(in.handle)
		}
		hostImpls[def.Name](in.ctx, in.mod, stack)
		if len(def.Results) == 1 && def.Results[0] == abi.I32 {
			if st := abi.Status(int32(stack[0])); st < abi.ErrInternal && st != abi.ErrGuest {
				t.Errorf("%s returned undefined status %d", def.Name, st)
			}
		}
	})
}
