package plugins

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
)

// OnError is what a rule does when its plugin call fails.
type OnError uint8

const (
	// FailClosed (default): an action answers 500 (HTTP) or rejects (TCP);
	// a fetch, converter or target reports the failure through
	// HostOptions.OnFailClosed and yields no sample / no route.
	FailClosed OnError = iota
	// FailOpen: the rule behaves as if it were not there: no sample, no
	// route, Continue.
	FailOpen
)

func (o OnError) String() string {
	if o == FailOpen {
		return "fail_open"
	}
	return "fail_closed"
}

// ParseOnError reads "fail_open" or "fail_closed" ("" is the default).
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "", "fail_closed":
		return FailClosed, nil
	case "fail_open":
		return FailOpen, nil
	}
	return FailClosed, fmt.Errorf("%w: on_error %q: want fail_open or fail_closed", ErrConfig, s)
}

// Config is one plugin of the configuration. The zero value of each field
// means its default, stated beside it. It maps one to one onto the
// configuration's `plugins.NAME` entry.
type Config struct {
	// Name identifies the plugin in logs, the API and error messages.
	Name string
	// File is the path of the .wasm module (for display; Load reads Wasm
	// when it is set, File otherwise).
	File string
	Wasm []byte
	// Settings is the `config:` mapping, handed to the guest as JSON.
	Settings any
	// VMConfig is handed to a Proxy-Wasm module's proxy_on_vm_start
	// (`vm_config`); strata_v1 modules do not see it.
	VMConfig []byte
	// Grants; nil means abi.DefaultGrants, an empty non-nil slice means none.
	Grants []string
	// InstancesMin (default 1) instances are created at load and kept;
	// InstancesMax (default GOMAXPROCS, at least InstancesMin) bounds the
	// pool.
	InstancesMin, InstancesMax int
	// InstanceWait is how long a call waits for a free instance when all
	// InstancesMax are busy before failing with ErrBusy (default 5ms).
	InstanceWait time.Duration
	// MemoryLimit caps one instance's linear memory in bytes, rounded down
	// to 64 KiB pages (default 64 MiB; a Go guest needs about 16 MiB).
	MemoryLimit int64
	// CallTimeout bounds one call (default 100ms). A negative value turns
	// the deadline off, which saves nothing measurable (the check costs a
	// counter decrement per loop iteration either way, see RATIONALE.md)
	// and lets a looping plugin hold its stream forever.
	CallTimeout time.Duration
	// InitTimeout bounds instance initialisation (default 5s).
	InitTimeout time.Duration
	OnError     OnError
	// Quarantine: after Failures traps, timeouts or memory faults within
	// Window (default 5 in 10s) from one source (client address), that
	// source's calls are not made for Backoff (default 1s), doubling on
	// each relapse up to MaxBackoff (default 5m); the whole plugin is not
	// called when those failures came from Sources distinct sources
	// (default 3) and were at least Ratio (default 0.5) of the calls, or
	// when every call failed. See quarantine.go.
	Quarantine Quarantine
	// Env is the environment the guest sees when granted "env".
	Env map[string]string
	// Dirs maps guest paths to host directories mounted read-only when
	// granted "fs".
	Dirs map[string]string
	// Samples is the registry sample_eval and sc_get use: the one of the
	// configuration generation the plugin serves (default
	// HostOptions.Samples; Plugin.UseSamples replaces it once the
	// generation is built).
	Samples *fetch.Registry
}

// Quarantine configures when a failing plugin stops being called.
type Quarantine struct {
	Failures   int
	Window     time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
	Sources    int
	Ratio      float64
}

// resolved is a Config with its defaults applied; immutable after Load.
type resolved struct {
	Config
	grants   map[abi.Grant]bool
	settings []byte
	pages    uint32
}

func resolve(c Config, procs int) (*resolved, error) {
	r := &resolved{Config: c, grants: map[abi.Grant]bool{abi.GrantCore: true}}
	if c.Name == "" {
		return nil, fmt.Errorf("%w: a plugin needs a name", ErrConfig)
	}
	if c.Grants == nil {
		for _, g := range abi.DefaultGrants {
			r.grants[g] = true
		}
	}
	for _, g := range c.Grants {
		if !abi.ValidGrant(abi.Grant(g)) {
			return nil, fmt.Errorf("%w: unknown grant %q (known: %v)", ErrConfig, g, abi.AllGrants)
		}
		r.grants[abi.Grant(g)] = true
	}
	if r.InstancesMin <= 0 {
		r.InstancesMin = 1
	}
	if r.InstancesMax <= 0 {
		r.InstancesMax = max(procs, r.InstancesMin)
	}
	if r.InstancesMax < r.InstancesMin {
		return nil, fmt.Errorf("%w: instances max %d < min %d", ErrConfig, r.InstancesMax, r.InstancesMin)
	}
	if r.InstanceWait <= 0 {
		r.InstanceWait = 5 * time.Millisecond
	}
	if r.MemoryLimit <= 0 {
		r.MemoryLimit = 64 << 20
	}
	if r.MemoryLimit < 1<<16 || r.MemoryLimit > 4<<30 {
		return nil, fmt.Errorf("%w: memory_limit %d out of [64KiB, 4GiB]", ErrConfig, r.MemoryLimit)
	}
	r.pages = uint32(r.MemoryLimit >> 16)
	if r.CallTimeout == 0 {
		r.CallTimeout = 100 * time.Millisecond
	}
	if r.InitTimeout <= 0 {
		r.InitTimeout = 5 * time.Second
	}
	q := &r.Quarantine
	if q.Failures <= 0 {
		q.Failures = 5
	}
	if q.Window <= 0 {
		q.Window = 10 * time.Second
	}
	if q.Backoff <= 0 {
		q.Backoff = time.Second
	}
	if q.MaxBackoff <= 0 {
		q.MaxBackoff = 5 * time.Minute
	}
	if q.Sources <= 0 {
		q.Sources = 3
	}
	if q.Ratio <= 0 || q.Ratio > 1 {
		q.Ratio = 0.5
	}
	var err error
	if r.settings, err = json.Marshal(c.Settings); err != nil {
		return nil, fmt.Errorf("%w: config is not representable as JSON: %v", ErrConfig, err)
	}
	return r, nil
}
