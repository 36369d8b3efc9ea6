package config

import (
	"fmt"
	"strings"
	"time"
)

// Plugin is one entry of `plugins`: a WebAssembly module and its limits.
// Load checks the values here; the plugin host checks the module.
type Plugin struct {
	Name string
	Path string // "plugins.NAME"
	// File is the module (.wasm), relative to Config.Dir; required.
	File string
	// Config is handed to the plugin as is: the one place where YAML
	// types are kept (a value set by STRATA_… or --set is a string).
	Config map[string]any
	// VMConfig is given to a Proxy-Wasm module's VM at start
	// (`vm_config`, on_vm_start): a string as is, a mapping as JSON; nil
	// when absent.
	VMConfig []byte
	// InstancesMin and InstancesMax bound the instance pool
	// (`instances: { min, max }`); defaults 1 and 16.
	InstancesMin, InstancesMax int
	// MemoryLimit caps the memory of one instance, in bytes, from 64KiB
	// to 4GiB (sizes: "32MiB", "512k"); default 32MiB.
	MemoryLimit int64
	// CallTimeout bounds one call into the plugin; default 100ms. "none"
	// (-1 here) turns the deadline off, which saves its cost per call
	// (plugins/RATIONALE.md) but lets a looping plugin hold its stream
	// forever: for trusted plugins only.
	CallTimeout time.Duration
	// InitTimeout bounds the start of one instance: its initialisation
	// and, for a Proxy-Wasm filter, proxy_on_vm_start and
	// proxy_on_configure, where a WAF compiles its rules (seconds for the
	// OWASP Core Rule Set); default 5s.
	InitTimeout time.Duration
	// OnError is what happens when a call into the plugin traps or times
	// out: "fail_closed" (default: the stream is refused) or "fail_open"
	// (the stream goes on as if the rule had not been there).
	OnError string
	// Grants lists the capabilities the plugin is given beyond the ABI's
	// core functions, as written. Absent, the plugin gets the ABI's
	// default grants (headers, vars, log, trace, clock, random); an empty
	// list gives none.
	Grants []string
	// Watch reloads the plugin when the content of File changes (strata
	// run polls it every 500ms); default false.
	Watch bool
	// Env is the environment the plugin sees when it is granted one.
	Env map[string]string
}

func (d *decoder) plugin(name, path string, v any) *Plugin {
	o := d.entity(path, v)
	p := &Plugin{Name: name, Path: path}
	p.File = o.str("file", "")
	if p.File == "" && !o.bad {
		d.errorf(joinPath(path, "file"), "give the path of the .wasm module, e.g. file: plugins/auth.wasm", "required")
	}
	cv, cp := o.get("config")
	switch m := cv.(type) {
	case nil:
	case map[string]any:
		p.Config = m
	default:
		d.errorf(cp, "write key: value pairs for the plugin", "expected a mapping, got %s", describe(cv))
	}
	p.VMConfig = d.blob(o, "vm_config")
	in := o.sub("instances")
	p.InstancesMin = in.integer("min", DefaultPluginInstancesMin, 0, 4096)
	p.InstancesMax = in.integer("max", max(DefaultPluginInstancesMax, p.InstancesMin), 1, 4096)
	in.done()
	if p.InstancesMax < p.InstancesMin {
		d.errorf(joinPath(in.path, "max"), "raise max or lower min", "smaller than min (%d)", p.InstancesMin)
	}
	p.MemoryLimit = o.size("memory_limit", DefaultPluginMemoryLimit, 64<<10, 4<<30)
	if v, _ := o.get("call_timeout"); v != nil && strings.EqualFold(strings.TrimSpace(fmt.Sprint(v)), "none") {
		p.CallTimeout = -1
	} else {
		p.CallTimeout, _ = o.duration("call_timeout", DefaultPluginCallTimeout, 1)
	}
	p.InitTimeout, _ = o.duration("init_timeout", DefaultPluginInitTimeout, 1)
	p.OnError = o.oneOf("on_error", DefaultPluginOnError, "fail_open", "fail_closed")
	p.Grants = o.list("grants")
	p.Watch = o.boolean("watch", false)
	ev, ep := o.get("env")
	switch m := ev.(type) {
	case nil:
	case map[string]any:
		p.Env = make(map[string]string, len(m))
		for _, k := range d.st.keys(ep, m) {
			if m[k] == nil {
				p.Env[k] = ""
				continue
			}
			if s, ok := d.scalar(joinPath(ep, k), m[k]); ok {
				p.Env[k] = s
			}
		}
	default:
		d.errorf(ep, "write NAME: value pairs", "expected a mapping, got %s", describe(ev))
	}
	o.done()
	return p
}
