// Package plugins is strata's WebAssembly host: it loads plugin modules
// with wazero, checks them against ABI v1 (package abi, abi/SPEC.md) and
// their grants, runs them in pools of isolated instances, and exposes what
// they register to the core as fetches, converters, actions, routing
// targets and internal services. core never imports this package; this
// package imports core/fetch, core/rules, core/session and core/sample.
//
// # What the engine calls
//
//	h, _ := plugins.NewHost(plugins.HostOptions{Samples: reg, CacheDir: dir, Logger: log,
//		Counters: stickCounters, OnFailClosed: endStreamWith500})
//	p, err := h.Load(ctx, plugins.Config{Name: "waf", File: "waf.wasm", ...}) // refused modules: err names what is missing
//	err = plugins.Attach(p, reg, actions)   // fetches, converters, actions join the core registries
//	t := p.Target("canary")                  // use_backend / use_service entries naming a plugin target
//	route, err := t.Route(fctx, args)        // decision left in Stream.Ext.Route (a session.Route)
//	s := p.Service("inspect")                // use-service entries naming a plugin service
//	done, err := s.Serve(fctx, abi.EventRequest, args, &reply) // per event; reply has Status, Header, Body
//	plugins.EndStream(fctx)                  // once per stream that used a plugin service
//	st := p.Stats()                          // GET /v1/plugins
//	p.Close(ctx)                             // after the streams of its generation ended (hot reload)
//
// Hot reload: load the new version (or the same file for a new
// configuration) with Config.Samples set to the new generation's cloned
// registry, Attach it to the cloned registries, swap the generation in, and
// Close the old Plugin once its streams have ended. A failed Load leaves the
// old plugin serving and says why.
//
// Routing decisions: a target or action calls route_set, which fills the
// stream's session.Route (Stream.Ext.Route; plugins.Route is the same
// type, plugins.RouteOf a convenience): the engine reads it when it
// selects the backend, the server or the service. Services: Serve appends
// the reply to a *Reply the engine owns; the stream keeps one instance (in
// Stream.Ext.Plugin) from its first Serve to EndStream.
//
// ABI flavours: a module another ABI claims (HostOptions.Flavours; the
// Proxy-Wasm host in plugins/proxywasm) is loaded by the same Load, with
// the same runtime, cache, limits, quarantine, metrics and spans; it
// registers nothing and has no pool: the flavour creates and drives its
// instances (flavour.go). Stats.ABIName says which ABI a plugin targets.
//
// Package assemble (cmd/strata/internal/assemble) is the engine side: it
// loads the configuration's plugins and hands them to the core through the
// small interfaces core/generation defines (generation.RouteTarget,
// generation.StreamService).
//
// on_error: actions apply it themselves (fail_open: Continue; fail_closed:
// Deny 500 at HTTP points, Reject at TCP points). Fetches, converters and
// targets return no sample / no route. Under fail_closed every kind also
// calls HostOptions.OnFailClosed, so that the engine ends the stream with
// session.CausePlugin (the embedder records it with fetch.Ctx.Fail). Service
// failures are also returned to the engine, which answers 500 (or closes)
// under fail_closed, falls through to the next rule under fail_open when
// nothing was sent yet, and still calls EndStream.
//
// # States and ownership
//
// A Host owns the compilation cache (on disk when CacheDir is set: a
// restart with an unchanged module does not compile it again). Each Plugin
// owns a wazero runtime (so that memory_limit and the deadline checks can
// differ per plugin; the compiled code is shared through the cache), its
// registrations (immutable after Load) and a pool of instances.
//
// Plugin states: loading → serving ⇄ quarantined → closed. Load either
// returns a serving plugin or leaves nothing behind. Instance failures are
// attributed to the client address of the call: a source is quarantined
// alone after Quarantine.Failures of them within Quarantine.Window, the
// plugin as a whole when they come from several sources and are most of
// the calls, or when every call fails (quarantine.go). While quarantined
// its rules apply on_error without a call; when the backoff expires the
// next calls probe it: one success makes it serving again, one failure
// quarantines it with twice the backoff.
// Close makes every new call fail with ErrClosed.
//
// Instance states: created (instantiate, _initialize, strata_init) → idle
// (in the pool) → busy (owned by exactly one goroutine for one call, or by
// one stream for a service) → idle again, or discarded after a trap, an
// exit, a timeout or memory exhaustion (a replacement is created in the
// background down to the pool's minimum). A busy instance is touched only
// by the goroutine that took it.
//
// # Isolation
//
// No WASI file system, environment or arguments unless granted; stdout and
// stderr go to the logger with the plugin's name; memory_limit per instance;
// call_timeout per call, enforced by the guest itself: the module is
// rewritten at load (package instrument) to call checkDeadline every 64K
// function entries and loop iterations, which ends the call on its own
// goroutine once the deadline has passed (no goroutine, timer or
// allocation per call). Host
// functions check every guest pointer and length (out of range is
// abi.ErrMemory, never a panic), the handle of the call (a handle is valid
// only during its call) and the layers of the call.
//
// When every instance is busy a call waits up to InstanceWait (default
// 5ms), then fails with ErrBusy and follows on_error: a proxy under load
// should shed plugin work rather than queue requests behind it.
package plugins
