package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stats"
	"github.com/strata-proxy/strata/plugins/internal/instrument"
)

// Plugin is a loaded module: its runtime, its registrations and its pool of
// instances. It is safe for concurrent use. Every field is immutable after
// Load except the pool, the counters and the quarantine, which synchronise
// themselves.
type Plugin struct {
	host      *Host
	cfg       *resolved
	name      string
	log       *slog.Logger
	rt        wazero.Runtime
	compiled  wazero.CompiledModule
	modConfig wazero.ModuleConfig
	regs      []Registration
	targets   map[string]*Target
	services  map[string]*Service

	pool    pool
	quar    quarantine
	limiter limiter
	stats   counters
	closed  atomic.Bool
	gen     atomic.Uint64     // SetGeneration (telemetry.go)
	sum     [sha256.Size]byte // of the module's bytes; immutable after Load
	wasm    []byte            // the instrumented module; immutable after Load
	// samples is the registry sample_eval and sc_get evaluate against
	// (Config.Samples, then UseSamples).
	samples atomic.Pointer[fetch.Registry]
	// routes holds the names route_set checks against (UseRoutes); nil:
	// not checked.
	routes atomic.Pointer[routeNamesBox]
	// memAlloc maps instances' linear memory (memory_linux.go); abandoned
	// tells it that Close closed the runtime under running calls.
	memAlloc  experimental.MemoryAllocator
	abandoned atomic.Bool
	// flavour serves the module when it is not strata_v1 (flavour.go),
	// abiName is the ABI it claimed it with; immutable after Load.
	flavour Flavour
	abiName string
	onClose []func() // guarded by host.mu
}

// routeNamesBox lets an interface live in an atomic.Pointer.
type routeNamesBox struct{ session.RouteNames }

type counters struct {
	calls, errors, traps, timeouts, memory, busy, skipped, created atomic.Uint64
	// ended counts calls that returned (the quarantine's failure ratio).
	ended   atomic.Uint64
	latency stats.Histogram // of every call into the guest
}

const wasiModule = wasi_snapshot_preview1.ModuleName

// Load compiles (or fetches from the cache) the module of cfg, checks it
// against the ABI and cfg's grants, creates cfg.InstancesMin instances and
// collects the plugin's registrations. It does not touch any registry:
// Attach does. On error nothing is left running.
func (h *Host) Load(ctx context.Context, cfg Config) (*Plugin, error) {
	rc, err := resolve(cfg, h.procs)
	if err != nil {
		return nil, fmt.Errorf("plugins: load %s: %w", cfg.Name, err)
	}
	bin := cfg.Wasm
	if bin == nil {
		if bin, err = os.ReadFile(cfg.File); err != nil {
			return nil, fmt.Errorf("plugins: load %s: %w", cfg.Name, err)
		}
	}
	p := &Plugin{host: h, cfg: rc, name: cfg.Name, log: h.log.With("plugin", cfg.Name), sum: sha256.Sum256(bin)}
	p.memAlloc = memoryAllocator(&p.abandoned)
	p.limiter = limiter{rate: h.opts.LogRate, burst: float64(h.opts.LogBurst), log: p.log}
	p.quar.cfg = rc.Quarantine
	if rc.Samples == nil {
		rc.Samples = h.opts.Samples
	}
	p.samples.Store(rc.Samples)
	if err := p.load(ctx, bin); err != nil {
		if p.rt != nil {
			_ = p.rt.Close(ctx)
		}
		return nil, fmt.Errorf("plugins: load %s (%s): %w", cfg.Name, cfg.File, err)
	}
	h.mu.Lock()
	h.plugins[p] = struct{}{}
	h.mu.Unlock()
	p.log.Info("plugin loaded", "file", cfg.File, "abi", p.ABI(), "registrations", len(p.regs), "instances", p.pool.live.Load())
	return p, nil
}

func (p *Plugin) load(ctx context.Context, bin []byte) error {
	rc := p.cfg
	// No WithCloseOnContextDone: the instrumented code enforces the
	// deadlines itself (RATIONALE.md).
	rcfg := wazero.NewRuntimeConfig().
		WithCompilationCache(p.host.cache).
		WithMemoryLimitPages(rc.pages)
	p.rt = wazero.NewRuntimeWithConfig(ctx, rcfg)
	bin, err := p.host.instrumented(ctx, bin, p.sum)
	if err != nil {
		return err
	}
	p.wasm = bin
	compiled, err := compile(ctx, p.rt, bin)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	p.compiled = compiled
	p.flavour, p.abiName = claim(compiled, p.host.opts.Flavours)
	if p.flavour != nil {
		err = p.flavour.Check(compiled)
	} else {
		err = checkModule(compiled, rc.grants, p.host.opts.Flavours)
	}
	if err != nil {
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}
	if p.flavour != nil {
		err = p.flavour.Instantiate(ctx, p.rt)
	} else {
		err = buildHostModule(ctx, p.rt)
	}
	if err != nil {
		return fmt.Errorf("host module: %w", err)
	}
	if err := buildCheckModule(ctx, p.rt); err != nil {
		return fmt.Errorf("host module: %w", err)
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	if rc.grants[abi.GrantClock] {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	if rc.grants[abi.GrantEnv] {
		keys := make([]string, 0, len(rc.Env))
		for k := range rc.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mc = mc.WithEnv(k, rc.Env[k])
		}
	}
	if rc.grants[abi.GrantFS] && len(rc.Dirs) > 0 {
		fs := wazero.NewFSConfig()
		for guest, hostDir := range rc.Dirs {
			fs = fs.WithReadOnlyDirMount(hostDir, guest)
		}
		mc = mc.WithFSConfig(fs)
	}
	p.modConfig = mc

	p.pool = newPool(p, rc.InstancesMin, rc.InstancesMax, rc.InstanceWait)
	if p.flavour != nil {
		// One instance proves the module instantiates; the flavour
		// creates the ones it runs.
		in, err := p.NewInstance(ctx)
		if err != nil {
			return err
		}
		p.Drop(in)
		return nil
	}
	first, err := p.pool.get(ctx)
	if err != nil {
		return err
	}
	p.regs = first.regs
	if err := p.checkEntryPoints(); err != nil {
		p.pool.drop(first)
		return err
	}
	p.index()
	for i := 1; i < rc.InstancesMin; i++ {
		in, err := p.pool.get(ctx)
		if err != nil {
			p.pool.drop(first)
			p.pool.closeIdle()
			return err
		}
		p.pool.put(in)
	}
	p.pool.put(first)
	return nil
}

// checkModule refuses a module whose imports or exports this host cannot
// satisfy, listing everything that is wrong at once.
func checkModule(cm wazero.CompiledModule, grants map[abi.Grant]bool, flavours []Flavour) error {
	var problems []string
	var missing, badSig []string
	lacking := map[abi.Grant][]string{}
	versions := map[string]bool{}
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch {
		case mod == wasiModule, mod == instrument.Module && name == instrument.Field:
		case mod == abi.ImportModule:
			f, ok := abi.HostFunc(name)
			if !ok {
				missing = append(missing, mod+"."+name)
				continue
			}
			if !sameSig(f, d) {
				badSig = append(badSig, fmt.Sprintf("%s.%s is %s, the host has %s", mod, name, sigOf(d), f.Signature()))
				continue
			}
			if !grants[f.Grant] {
				lacking[f.Grant] = append(lacking[f.Grant], name)
			}
		case strings.HasPrefix(mod, "strata_v"):
			versions[mod] = true
		default:
			missing = append(missing, mod+"."+name+" (unknown module)")
		}
	}
	exports := cm.ExportedFunctions()
	var majors []string
	hasV1 := false
	for name := range exports {
		if v, ok := strings.CutPrefix(name, abi.MarkerPrefix); ok {
			if v == strconv.Itoa(abi.Version) {
				hasV1 = true
			} else {
				majors = append(majors, "v"+v)
			}
		}
	}
	for mod := range versions {
		majors = append(majors, "v"+strings.TrimPrefix(mod, "strata_v")+" (imports from "+mod+")")
	}
	sort.Strings(majors)
	switch {
	case !hasV1 && len(majors) > 0:
		problems = append(problems, fmt.Sprintf("targets ABI %s; this host serves v%d", strings.Join(majors, ", "), abi.Version))
	case !hasV1:
		problems = append(problems, noMarker(cm, flavours))
	case len(versions) > 0:
		problems = append(problems, "mixes ABI versions: "+strings.Join(majors, ", "))
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		problems = append(problems, "imports functions the host does not have: "+strings.Join(missing, ", "))
	}
	if len(badSig) > 0 {
		problems = append(problems, "imports with wrong signatures: "+strings.Join(badSig, "; "))
	}
	if len(lacking) > 0 {
		gs := make([]string, 0, len(lacking))
		for g := range lacking {
			gs = append(gs, string(g))
		}
		sort.Strings(gs)
		parts := make([]string, len(gs))
		for i, g := range gs {
			fns := lacking[abi.Grant(g)]
			sort.Strings(fns)
			parts[i] = g + " (" + strings.Join(fns, ", ") + ")"
		}
		problems = append(problems, "lacks grants: "+strings.Join(parts, ", ")+"; add them to the plugin's grants")
	}
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		problems = append(problems, "exports no memory called \"memory\"")
	}
	for _, e := range abi.Exports {
		d, ok := exports[e.Name]
		if !ok {
			if e.Required == "always" && e.Name != abi.Marker {
				problems = append(problems, "does not export "+e.Signature())
			}
			continue
		}
		if e.Name != abi.Marker && !sameSig(e.Func, d) {
			problems = append(problems, fmt.Sprintf("export %s is %s, want %s", e.Name, sigOf(d), e.Signature()))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrRefused, strings.Join(problems, "; "))
	}
	return nil
}

func sameSig(f abi.Func, d api.FunctionDefinition) bool {
	ps, rs := d.ParamTypes(), d.ResultTypes()
	if len(ps) != len(f.Params) || len(rs) != len(f.Results) {
		return false
	}
	for i, p := range f.Params {
		if api.ValueType(p.Type) != ps[i] {
			return false
		}
	}
	for i, r := range f.Results {
		if api.ValueType(r) != rs[i] {
			return false
		}
	}
	return true
}

func sigOf(d api.FunctionDefinition) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, t := range d.ParamTypes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(t))
	}
	b.WriteString(") -> (")
	for i, t := range d.ResultTypes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(t))
	}
	b.WriteByte(')')
	return b.String()
}

// checkEntryPoints requires the export of every registered kind.
func (p *Plugin) checkEntryPoints() error {
	exports := p.compiled.ExportedFunctions()
	var missing []string
	seen := map[abi.Kind]bool{}
	for _, r := range p.regs {
		if seen[r.Kind] {
			continue
		}
		seen[r.Kind] = true
		name := abi.ExportFor(r.Kind)
		if _, ok := exports[name]; !ok {
			missing = append(missing, fmt.Sprintf("%s (it registers a %s)", name, r.Kind))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: does not export %s", ErrRefused, strings.Join(missing, ", "))
	}
	return nil
}

func (p *Plugin) index() {
	p.targets, p.services = map[string]*Target{}, map[string]*Service{}
	for i := range p.regs {
		r := &p.regs[i]
		switch r.Kind {
		case abi.KindTarget:
			p.targets[r.Name] = &Target{p: p, reg: r}
		case abi.KindService:
			p.services[r.Name] = &Service{p: p, reg: r}
		}
	}
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// UseSamples makes r the registry that sample_eval and sc_get evaluate
// against. The engine calls it once the generation the plugin serves is
// built, when building added to the registry the plugin was attached to
// (stick-table fetches, for instance), and before that generation serves:
// expressions a guest evaluated earlier are parsed again against r.
func (p *Plugin) UseSamples(r *fetch.Registry) {
	if r != nil {
		p.samples.Store(r)
	}
}

// UseRoutes makes r the names route_set checks a decision against (the
// configuration generation the plugin serves): a name r does not have is
// refused at the call with ERR_NOT_FOUND. Without it nothing is checked.
func (p *Plugin) UseRoutes(r session.RouteNames) {
	if r != nil {
		p.routes.Store(&routeNamesBox{r})
	}
}

func (p *Plugin) routeNames() session.RouteNames {
	if b := p.routes.Load(); b != nil {
		return b.RouteNames
	}
	return nil
}

// OnError returns the plugin's on_error policy.
func (p *Plugin) OnError() OnError { return p.cfg.OnError }

// Registrations returns what the plugin registered (do not modify).
func (p *Plugin) Registrations() []Registration { return p.regs }

// Target returns the routing target called name, or nil.
func (p *Plugin) Target(name string) *Target { return p.targets[name] }

// Service returns the internal service called name, or nil.
func (p *Plugin) Service(name string) *Service { return p.services[name] }

// Close stops the plugin: new calls fail with ErrClosed, idle instances
// are closed at once, busy ones when their call or stream ends (up to
// ctx's deadline, after which the runtime is closed under them).
func (p *Plugin) Close(ctx context.Context) {
	if p.closed.Swap(true) {
		return
	}
	p.host.mu.Lock()
	delete(p.host.plugins, p)
	fns := p.onClose
	p.host.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	p.pool.closeIdle()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.pool.live.Load() > 0 {
		p.pool.closeIdle()
		select {
		case <-ctx.Done():
			p.abandoned.Store(true) // busy instances' memory must stay mapped
			_ = p.rt.Close(context.Background())
			return
		case <-tick.C:
		}
	}
	_ = p.rt.Close(context.Background())
	p.log.Info("plugin closed")
}

// Stats are a plugin's counters, for the runtime API (GET /v1/plugins).
type Stats struct {
	Name          string          `json:"name"`
	File          string          `json:"file"`
	ABI           int             `json:"abi"`      // strata ABI major; 0 for another ABI
	ABIName       string          `json:"abi_name"` // "strata_v1", "proxy-wasm 0.2.1", "proxy-wasm 0.2.0"
	Registrations []string        `json:"registrations"`
	Grants        []string        `json:"grants"`
	OnError       string          `json:"on_error"`
	Instances     int             `json:"instances"`     // live instances (idle and busy)
	Idle          int             `json:"idle"`          // idle instances
	Created       uint64          `json:"created"`       // instances created since load (replacements included)
	Calls         uint64          `json:"calls"`         // calls made into the guest
	Errors        uint64          `json:"errors"`        // calls where the guest returned an error status
	Traps         uint64          `json:"traps"`         // instances lost to a trap or exit
	Timeouts      uint64          `json:"timeouts"`      // instances lost to call_timeout
	MemoryFaults  uint64          `json:"memory_faults"` // instances lost to memory_limit
	Busy          uint64          `json:"busy"`          // calls refused because every instance stayed busy
	Skipped       uint64          `json:"skipped"`       // calls not made because of the quarantine
	Quarantine    QuarantineState `json:"quarantine"`
	SHA256        string          `json:"sha256"` // of the module file as loaded
}

// Stats returns a snapshot of the counters.
func (p *Plugin) Stats() Stats {
	s := Stats{Name: p.name, File: p.cfg.File, ABI: abi.Version, ABIName: p.ABI(), OnError: p.cfg.OnError.String(),
		Instances: int(p.pool.live.Load()), Idle: p.pool.idleCount(),
		Created: p.stats.created.Load(), Calls: p.stats.calls.Load(), Errors: p.stats.errors.Load(),
		Traps: p.stats.traps.Load(), Timeouts: p.stats.timeouts.Load(), MemoryFaults: p.stats.memory.Load(),
		Busy: p.stats.busy.Load(), Skipped: p.stats.skipped.Load(), Quarantine: p.quar.state(time.Now()),
		SHA256: hex.EncodeToString(p.sum[:])}
	if p.flavour != nil {
		s.ABI = 0
	}
	for i := range p.regs {
		s.Registrations = append(s.Registrations, p.regs[i].String())
	}
	for g := range p.cfg.grants {
		if g != abi.GrantCore {
			s.Grants = append(s.Grants, string(g))
		}
	}
	sort.Strings(s.Grants)
	return s
}

// ModuleSum returns the SHA-256 of the module's bytes as loaded: two
// plugins with the same sum run the same code.
func (p *Plugin) ModuleSum() [sha256.Size]byte { return p.sum }
