package plugins

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Tracing of plugin calls. When the stream is sampled (fetch.Ctx.Span is
// set), every call into the guest gets a child span named "plugin KIND
// NAME" with the plugin's name, kind, function, generation and outcome;
// the guest's span_attr_str, span_attr_int and span_event calls write to
// that span. Otherwise they check their arguments and do nothing, as they
// did before tracing existed.

var kindNames = [numKinds]string{"fetch", "converter", "action", "target", "service"}

// Limits on what a guest may put on a span, so that a plugin cannot make
// the exporter's batches huge: longer keys or values are ERR_LIMIT.
const (
	maxSpanKey   = 256
	maxSpanValue = 4096
)

// SetGeneration records the plugin's generation (1 for the first module
// served, one more at each reload that changes it), reported on spans and
// metrics. The reloader calls it (assembly.Versions).
func (p *Plugin) SetGeneration(n uint64) { p.gen.Store(n) }

// Generation returns what SetGeneration recorded (0: never called).
func (p *Plugin) Generation() uint64 { return p.gen.Load() }

func (in *instance) startSpan(kind int, id uint32) trace.Span {
	name := ""
	for i := range in.p.regs {
		if in.p.regs[i].ID == id && kindOf(in.p.regs[i].Kind) == kind {
			name = in.p.regs[i].Name
			break
		}
	}
	return telemetry.StartPluginCall(in.call.ctx.Span, in.p.name, kindNames[kind], name, in.p.gen.Load())
}

func kindOf(k abi.Kind) int {
	switch k {
	case abi.KindFetch:
		return kFetch
	case abi.KindConverter:
		return kConvert
	case abi.KindAction:
		return kAction
	case abi.KindTarget:
		return kTarget
	case abi.KindService:
		return kService
	}
	return -1
}

// endSpan ends the call's span with its outcome.
func (in *instance) endSpan(rc int32, err error) {
	outcome := outcomeOf(err)
	switch {
	case err != nil:
	case in.call.layerErr:
		outcome = telemetry.OutcomeLayerError
	case rc < 0:
		outcome = telemetry.OutcomeGuestError
		err = errors.New("guest returned " + abi.Status(rc).String())
	}
	telemetry.EndPluginCall(in.call.span, outcome, err)
	in.call.span = nil
}

func hSpanAttrStr(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	k, ok1 := in.bytes(s[1], s[2])
	v, ok2 := in.bytes(s[3], s[4])
	switch {
	case !ok1 || !ok2:
		ret(s, abi.ErrMemory)
	case len(k) == 0:
		ret(s, abi.ErrArg)
	case len(k) > maxSpanKey || len(v) > maxSpanValue:
		ret(s, abi.ErrLimit)
	default:
		if sp := in.call.span; sp != nil {
			sp.SetAttributes(attribute.String(string(k), string(v)))
		}
		ret(s, abi.OK)
	}
}

func hSpanAttrInt(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	k, ok := in.bytes(s[1], s[2])
	switch {
	case !ok:
		ret(s, abi.ErrMemory)
	case len(k) == 0:
		ret(s, abi.ErrArg)
	case len(k) > maxSpanKey:
		ret(s, abi.ErrLimit)
	default:
		if sp := in.call.span; sp != nil {
			sp.SetAttributes(attribute.Int64(string(k), int64(s[3])))
		}
		ret(s, abi.OK)
	}
}

func hSpanEvent(ctx context.Context, _ api.Module, s []uint64) {
	in, _ := enter(ctx, s, 0)
	if in == nil {
		return
	}
	name, ok := in.bytes(s[1], s[2])
	switch {
	case !ok:
		ret(s, abi.ErrMemory)
	case len(name) == 0:
		ret(s, abi.ErrArg)
	case len(name) > maxSpanKey:
		ret(s, abi.ErrLimit)
	default:
		if sp := in.call.span; sp != nil {
			sp.AddEvent(string(name))
		}
		ret(s, abi.OK)
	}
}

// Gather adds the plugin's metrics to a reading (GET /metrics).
func (p *Plugin) Gather(m *telemetry.Metrics) {
	l := []string{"plugin", p.name}
	m.Counter("strata_plugin_calls_total", "Calls made into the plugin's guest.", float64(p.stats.calls.Load()), l...)
	m.Counter("strata_plugin_errors_total", "Calls where the guest returned an error status.", float64(p.stats.errors.Load()), l...)
	m.Counter("strata_plugin_traps_total", "Instances lost to a trap or exit.", float64(p.stats.traps.Load()), l...)
	m.Counter("strata_plugin_timeouts_total", "Instances lost to call_timeout.", float64(p.stats.timeouts.Load()), l...)
	m.Counter("strata_plugin_memory_faults_total", "Instances lost to memory_limit.", float64(p.stats.memory.Load()), l...)
	m.Counter("strata_plugin_busy_total", "Calls refused because every instance stayed busy.", float64(p.stats.busy.Load()), l...)
	m.Counter("strata_plugin_skipped_total", "Calls not made because of the quarantine.", float64(p.stats.skipped.Load()), l...)
	m.Counter("strata_plugin_instances_created_total", "Instances created since load, replacements included.", float64(p.stats.created.Load()), l...)
	m.Gauge("strata_plugin_instances", "Live instances, idle and busy.", float64(p.pool.live.Load()), l...)
	m.Gauge("strata_plugin_info", "1 for each loaded plugin, labelled with the ABI its module targets.", 1, "plugin", p.name, "abi", p.ABI())
	m.Gauge("strata_plugin_generation", "The plugin's generation: one more at each reload that changes its module.", float64(p.gen.Load()), l...)
	m.Histogram("strata_plugin_call_duration_seconds", "Time spent in one call into the guest.", p.stats.latency.Snapshot(), l...)
}
