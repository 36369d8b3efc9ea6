// Package proxywasm is strata's Proxy-Wasm 0.2.1 host: it runs HTTP
// filters written against the Proxy-Wasm ABI (the Go, Rust and C SDKs;
// modules exporting proxy_abi_version_0_2_0 or proxy_abi_version_0_2_1)
// as entries of the engine's filter chains (core/filter).
//
// It is an ABI flavour of package plugins (Flavour): a Proxy-Wasm module
// is loaded by plugins.Host.Load like a strata_v1 one, with the same
// compilation cache, call deadlines (the instrumentation), memory limit,
// WASI stubs and grants, quarantine, metrics and spans. This package adds
// the ABI's host functions (module "env") and the contexts.
//
// # States and ownership
//
// A Filter (one chain entry: a plugin, its configuration, its backends)
// owns up to instances.max vms. A vm is one instance with one root
// context, started by proxy_on_context_create, proxy_on_vm_start (vm
// configuration) and proxy_on_configure (the entry's configuration); a
// false from either fails New. vm states: starting → serving → retired
// (the filter closed; dropped when its last stream ends) or dead (a call
// trapped, timed out or ran out of memory: the instance is discarded,
// counted toward the quarantine, and replaced by the next stream that
// needs one).
//
// A stream picks the vm with the fewest streams (or a new one while all
// have streams and fewer than instances.max exist) and keeps it from
// proxy_on_context_create to proxy_on_delete: its callbacks, the answers
// of the HTTP calls it dispatched and the root context's ticks and queue
// events all run on that vm, one call at a time under the vm's mutex.
// The goroutine holding the mutex owns every field it guards; host
// functions run on it. A call that fails kills the vm: the streams on it
// fail per on_error (fail_closed: Fail, or 500 for a stream paused
// meanwhile; fail_open: Continue), and no other vm is touched.
//
// Shared data and shared queues are process-wide (shared.go); metrics
// belong to the filter (metrics.go).
package proxywasm
