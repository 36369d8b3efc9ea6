// Package telemetry is strata's OpenTelemetry side: the tracer that gives
// every stream a server span, every attempt to a server a client span and
// every plugin call a child span; W3C trace-context propagation; the
// metrics model that the admin API's GET /metrics renders as Prometheus
// text and that an OTLP exporter sends; and the trace ids that access-log
// lines and slog records carry.
//
// Cost. Tracing off is a nil *Tracer: the engine's hooks test it and
// return, so a stream pays one comparison and allocates nothing. Metrics
// read the counters the engine keeps anyway (core/stats, the plugins'
// counters) when they are scraped or exported; the only counting added
// to the request path is two latency histograms (stats.Histogram:
// lock-free, allocation-free).
//
// Lifecycle. A Tracer belongs to one configuration generation: Build
// makes it from global.tracing and the generation shuts it down (flushing
// what is buffered) when it closes, after its last stream has ended, so a
// reload that changes the exporter, the endpoint or the ratio takes effect
// for the streams that start on the new generation while the old one's
// spans still reach the old exporter. A MetricsExporter belongs to the
// proxy (it reads whatever generation serves) and is replaced when a
// reload changes global.metrics. The proxy's Shutdown waits for these
// last exports, within its grace period, before strata exits (at a stop
// or a binary upgrade).
//
// Ownership. A Stream (the trace state of one stream) is owned by the
// goroutine that drives the stream, like the rest of the stream; a Tracer
// and a MetricsExporter are safe for concurrent use.
package telemetry
