package sdk

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/internal/bridge"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// Fetch is a sample fetch: it produces a value from the layers of the call.
// Needs lists the layers it reads; the host rejects a configuration that
// uses it where one of them cannot exist, exactly as for a built-in fetch.
type Fetch struct {
	Name    string
	Needs   abi.Layers
	Args    []abi.Type // type of each argument (int or str)
	MinArgs int        // arguments that must be given; the others are optional
	Out     abi.Type
	// Fn returns the sample, None for "no sample", or an error (the host
	// then follows the plugin's on_error policy).
	Fn func(c *Ctx) (Value, error)
}

// Converter transforms a sample of type In into a sample of type Out.
type Converter struct {
	Name    string
	In, Out abi.Type
	Args    []abi.Type
	MinArgs int
	Fn      func(c *Ctx, in Value) (Value, error)
}

// Action runs at the evaluation points it lists and returns a verdict. A
// Deny, Return or Redirect verdict sends the reply built with Ctx.Reply*.
type Action struct {
	Name             string
	Points           abi.Point
	MinArgs, MaxArgs int
	Fn               func(c *Ctx) (abi.Verdict, error)
}

// Target is a routing target: it chooses a backend, a server or a service
// with Ctx.UseBackend, UseServer or UseService and reports whether it did.
type Target struct {
	Name             string
	MinArgs, MaxArgs int
	Fn               func(c *Ctx) (bool, error)
}

// Service answers streams itself. The host keeps one instance for the life
// of a stream and calls Fn for each event (a request, new TCP data, the
// end); Fn builds the reply with Ctx.Reply* and returns done when it is
// complete.
type Service struct {
	Name             string
	Modes            abi.ServiceMode
	MinArgs, MaxArgs int
	Fn               func(c *Ctx, ev abi.ServiceEvent) (done bool, err error)
}

type entry struct {
	reg     bridge.Reg
	fetch   func(*Ctx) (Value, error)
	conv    func(*Ctx, Value) (Value, error)
	action  func(*Ctx) (abi.Verdict, error)
	target  func(*Ctx) (bool, error)
	service func(*Ctx, abi.ServiceEvent) (bool, error)
}

// registry of the instance. Registrations from package init are static;
// those made by OnInit hooks are dropped when Init runs again (sdktest).
var (
	entries    []entry
	static     int
	initHooks  []func() error
	regErr     error
	initDone   bool
	initHost   hostcall.Host
	configData []byte
)

func add(e entry) {
	if !abi.ValidName(e.reg.Name) {
		regErr = errors.Join(regErr, fmt.Errorf("strata sdk: invalid %s name %q", e.reg.Kind, e.reg.Name))
		return
	}
	e.reg.ID = uint32(len(entries))
	entries = append(entries, e)
	if !initDone {
		static = len(entries)
	}
}

// RegisterFetch registers a sample fetch. Call it from init or an OnInit hook.
func RegisterFetch(f Fetch) {
	max := len(f.Args)
	add(entry{reg: bridge.Reg{Kind: abi.KindFetch, Name: f.Name, Needs: f.Needs, Out: f.Out, Args: f.Args, MinArgs: f.MinArgs, MaxArgs: max}, fetch: f.Fn})
}

// RegisterConverter registers a converter.
func RegisterConverter(cv Converter) {
	add(entry{reg: bridge.Reg{Kind: abi.KindConverter, Name: cv.Name, In: cv.In, Out: cv.Out, Args: cv.Args, MinArgs: cv.MinArgs, MaxArgs: len(cv.Args)}, conv: cv.Fn})
}

// RegisterAction registers an action.
func RegisterAction(a Action) {
	add(entry{reg: bridge.Reg{Kind: abi.KindAction, Name: a.Name, Points: a.Points, MinArgs: a.MinArgs, MaxArgs: a.MaxArgs}, action: a.Fn})
}

// RegisterTarget registers a routing target.
func RegisterTarget(t Target) {
	add(entry{reg: bridge.Reg{Kind: abi.KindTarget, Name: t.Name, MinArgs: t.MinArgs, MaxArgs: t.MaxArgs}, target: t.Fn})
}

// RegisterService registers an internal service.
func RegisterService(s Service) {
	add(entry{reg: bridge.Reg{Kind: abi.KindService, Name: s.Name, Modes: s.Modes, MinArgs: s.MinArgs, MaxArgs: s.MaxArgs}, service: s.Fn})
}

// OnInit adds a hook run when the host initialises the instance, before the
// registrations are sent: the place to read Config and register what
// depends on it. An error refuses the plugin at load.
func OnInit(fn func() error) { initHooks = append(initHooks, fn) }

// Config returns the plugin's configuration as JSON ("null" when it has
// none). It is valid from OnInit hooks on.
func Config() []byte {
	if configData != nil || initHost == nil {
		return configData
	}
	buf := make([]byte, 256)
	for {
		st := initHost.ConfigGet(buf)
		if st < 0 {
			return nil
		}
		if int(st) <= cap(buf) {
			configData = buf[:st]
			return configData
		}
		buf = make([]byte, st)
	}
}

// DecodeConfig unmarshals the plugin's JSON configuration into v; a plugin
// without configuration leaves v unchanged.
func DecodeConfig(v any) error {
	b := Config()
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, v)
}

// initPlugin runs the hooks and registers everything with host.
func initPlugin(host hostcall.Host) abi.Status {
	initHost, configData = host, nil
	entries = entries[:static]
	initDone = true
	if regErr != nil {
		return abi.ErrArg
	}
	for _, h := range initHooks {
		if err := h(); err != nil {
			return abi.Status(statusOf(err))
		}
	}
	if regErr != nil {
		return abi.ErrArg
	}
	for _, e := range entries {
		r := e.reg
		var st abi.Status
		switch r.Kind {
		case abi.KindFetch:
			st = host.RegisterFetch(r.ID, r.Name, r.Needs, r.Out, r.Args, r.MinArgs)
		case abi.KindConverter:
			st = host.RegisterConverter(r.ID, r.Name, r.In, r.Out, r.Args, r.MinArgs)
		case abi.KindAction:
			st = host.RegisterAction(r.ID, r.Name, r.Points, r.MinArgs, r.MaxArgs)
		case abi.KindTarget:
			st = host.RegisterTarget(r.ID, r.Name, r.MinArgs, r.MaxArgs)
		case abi.KindService:
			st = host.RegisterService(r.ID, r.Name, r.Modes, r.MinArgs, r.MaxArgs)
		}
		if st < 0 {
			return st
		}
	}
	return abi.OK
}

// call runs the entry point of kind for registration id with c prepared.
func call(c *Ctx, kind abi.Kind, id uint32, extra int32) int32 {
	if int(id) >= len(entries) || entries[id].reg.Kind != kind {
		return int32(abi.ErrArg)
	}
	e := &entries[id]
	switch kind {
	case abi.KindFetch, abi.KindConverter:
		var v Value
		var err error
		if kind == abi.KindFetch {
			v, err = e.fetch(c)
		} else {
			var in Value
			if in, err = c.input(); err == nil {
				v, err = e.conv(c, in)
			}
		}
		if err != nil {
			return statusOf(err)
		}
		if v.Type == abi.TypeNone {
			return abi.NoSample
		}
		var st abi.Status
		if v.Type.Scalar() {
			st = c.host.ResultInt(c.h, v.Type, v.Int)
		} else {
			st = c.host.ResultBytes(c.h, v.Type, v.Bytes)
		}
		if st < 0 {
			return int32(st)
		}
		return abi.HasSample
	case abi.KindAction:
		c.point = abi.Point(extra)
		v, err := e.action(c)
		if err != nil {
			return statusOf(err)
		}
		return int32(v)
	case abi.KindTarget:
		ok, err := e.target(c)
		if err != nil {
			return statusOf(err)
		}
		if ok {
			return 1
		}
		return 0
	case abi.KindService:
		done, err := e.service(c, abi.ServiceEvent(extra))
		if err != nil {
			return statusOf(err)
		}
		if done {
			return abi.ServiceDone
		}
		return abi.ServiceMore
	}
	return int32(abi.ErrArg)
}

func init() {
	bridge.Init = initPlugin
	bridge.Call = func(host hostcall.Host, kind abi.Kind, handle uint32, layers abi.Layers, id uint32, extra int32) int32 {
		c := &Ctx{host: host, h: handle, layers: layers}
		return call(c, kind, id, extra)
	}
}
