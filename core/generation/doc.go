// Package generation is strata's compiled configuration: one Generation
// per loaded configuration, with its frontends, backends, rule sets,
// services, routing targets, filter chains, stick tables, tracer and the
// TLS and PROXY settings of its connections (L4). Build turns a checked
// configuration into a Generation; nothing in it listens or serves.
//
// A generation is immutable once built, apart from counters and its life:
// the process serving it (core/proxy) takes a reference for as long as it
// is current, and every client connection (core/stream) one for as long
// as it runs on it (Acquire, Release). A reload builds a new generation
// and swaps it in; streams keep the generation they started on, so a
// reload never changes the rules under a running stream, and the last
// Release of a replaced generation closes it (OnClose: health checks,
// stick-table syncers, HTTP/2 server pools, the tracer).
//
// Layer: below the stream engine and above the codecs. It imports no
// package of the engine or the process, so both can read it.
package generation
