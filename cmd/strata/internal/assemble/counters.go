package assemble

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
	"github.com/strata-proxy/strata/plugins"
)

// counters backs the plugins' stick-counter updates (sc_gpc_add,
// sc_gpt_set) with the entries the stream and its session track, as the
// sc-add-gpc and sc-set-gpt actions do: the stream's slot first, else the
// session's. Reads need nothing here: they are sample expressions.
type counters struct {
	// eng is the generation's tracking engine, for its clock; nil before
	// Build ends or without stick tables.
	eng atomic.Pointer[track.Engine]
}

var _ plugins.StickCounters = (*counters)(nil)

func (c *counters) entry(ctx *fetch.Ctx, slot int) (*stick.Entry, time.Time, bool) {
	strm := ctx.Strm
	if !ctx.Layers.Has(abi.LayerStrm) {
		strm = nil
	}
	_, e, _, ok := track.ViewOf(ctx.Sess, strm).Entry(slot)
	if !ok {
		return nil, time.Time{}, false
	}
	now := time.Now()
	if eng := c.eng.Load(); eng != nil {
		now = eng.Now()
	}
	return e, now, true
}

// AddGPC adds delta to gpc(index) (and its rate) and returns the new value.
// Counters only grow: a delta of 0 or less reads the value. A table that
// stores only the legacy gpc0 or gpc1 takes increments of 1 there.
func (c *counters) AddGPC(ctx *fetch.Ctx, slot, index int, delta int64) (int64, bool) {
	e, now, ok := c.entry(ctx, slot)
	if !ok {
		return 0, false
	}
	if delta <= 0 {
		if v, ok := e.Get(stick.DataGPC, index, now); ok {
			return v, true
		}
		switch index {
		case 0:
			return e.Get(stick.DataGPC0, 0, now)
		case 1:
			return e.Get(stick.DataGPC1, 0, now)
		}
		return 0, false
	}
	if v, ok := e.AddGPC(index, uint32(min(delta, math.MaxUint32)), now); ok {
		return int64(v), true
	}
	if delta == 1 {
		switch index {
		case 0:
			v, ok := e.IncGPC0(now)
			return int64(v), ok
		case 1:
			v, ok := e.IncGPC1(now)
			return int64(v), ok
		}
	}
	return 0, false
}

// SetGPT sets the tag gpt(index), or the legacy gpt0 for index 0.
func (c *counters) SetGPT(ctx *fetch.Ctx, slot, index int, v int64) bool {
	e, now, ok := c.entry(ctx, slot)
	if !ok {
		return false
	}
	u := uint32(min(max(v, 0), math.MaxUint32))
	return e.SetGPT(index, u, now) || index == 0 && e.SetGPT0(u, now)
}
