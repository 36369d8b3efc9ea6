package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Plugin call outcomes (the strata.plugin.outcome attribute).
const (
	OutcomeOK         = "ok"          // the call returned normally
	OutcomeGuestError = "guest_error" // the guest returned an error status
	OutcomeLayerError = "layer_error" // a host function was refused for want of a layer
	OutcomeTrap       = "trap"        // the instance trapped or exited: discarded
	OutcomeTimeout    = "timeout"     // call_timeout: discarded
	OutcomeMemory     = "memory"      // out of memory: discarded
	OutcomeNoInstance = "no_instance" // busy pool, quarantine or closed: not called
)

// StartPluginCall starts the span of one plugin call, a child of parent
// (the stream's span, fetch.Ctx.Span). It returns nil, at no cost, when
// parent is nil or not sampled.
func StartPluginCall(parent trace.Span, plugin, kind, function string, generation uint64) trace.Span {
	if parent == nil || !parent.IsRecording() {
		return nil
	}
	ctx := trace.ContextWithSpan(context.Background(), parent)
	_, sp := parent.TracerProvider().Tracer(ScopeName).Start(ctx, "plugin "+kind+" "+function,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String(AttrPlugin, plugin), attribute.String(AttrPluginKind, kind),
			attribute.String(AttrPluginFunc, function), attribute.Int64(AttrPluginGen, int64(generation))))
	return sp
}

// EndPluginCall ends a span from StartPluginCall (nil: nothing) with the
// call's outcome; err, when not nil, describes a failure.
func EndPluginCall(sp trace.Span, outcome string, err error) {
	if sp == nil {
		return
	}
	sp.SetAttributes(attribute.String(AttrOutcome, outcome))
	if outcome != OutcomeOK {
		msg := outcome
		if err != nil {
			msg = err.Error()
		}
		sp.SetStatus(codes.Error, msg)
	}
	sp.End()
}
