package track

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/stick"
)

// Points where trackers are created, and where the tracked slots exist.
var (
	trackPoints = []rules.Point{rules.TCPConnection, rules.TCPSession, rules.TCPContent, rules.HTTPRequest}
	slotPoints  = []rules.Point{rules.TCPConnection, rules.TCPSession, rules.TCPContent,
		rules.HTTPRequest, rules.HTTPResponse, rules.HTTPAfterResponse}
)

// registerActions adds track-sc<N> and the counter and tag actions.
func (e *Engine) registerActions(a *rules.Actions) error {
	for n := range stick.MaxSlots {
		if err := a.Register("track-sc"+strconv.Itoa(n), trackPoints, e.parseTrack(n)); err != nil {
			return err
		}
	}
	for _, x := range []struct {
		name  string
		parse rules.ParseFunc
	}{
		{"sc-inc-gpc", e.parseCounter(ctrInc, true, false)},
		{"sc-inc-gpc0", e.parseCounter(ctrInc0, false, false)},
		{"sc-inc-gpc1", e.parseCounter(ctrInc1, false, false)},
		{"sc-clear-gpc", e.parseCounter(ctrClear, true, false)},
		{"sc-add-gpc", e.parseCounter(ctrAdd, true, true)},
		{"sc-set-gpt", e.parseCounter(ctrSetGPT, true, true)},
		{"sc-set-gpt0", e.parseCounter(ctrSetGPT0, false, true)},
	} {
		if err := a.Register(x.name, slotPoints, x.parse); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) checkSlot(n int) error {
	if e.slots == 0 {
		return fmt.Errorf("tracking is off: global.tune.stick_counters is 0")
	}
	if n < 0 || n >= e.slots {
		return fmt.Errorf("%w: slot %d out of range 0-%d; raise global.tune.stick_counters (now %d) to use it", rules.ErrSyntax, n, e.slots-1, e.slots)
	}
	return nil
}

// ---- track-sc<N> KEY [table NAME] ----

type trackAct struct {
	e     *Engine
	slot  int
	t     *stick.Table
	kind  keyKind
	key   *fetch.Expr
	point rules.Point
}

func (e *Engine) parseTrack(slot int) rules.ParseFunc {
	return func(args []string, env *rules.Env) (rules.Action, error) {
		if err := e.checkSlot(slot); err != nil {
			return nil, err
		}
		usage := fmt.Sprintf("want track-sc%d KEY [table NAME], e.g. track-sc%d src table per_ip", slot, slot)
		if len(args) == 0 {
			return nil, fmt.Errorf("%w: %s", rules.ErrSyntax, usage)
		}
		name := ""
		switch rest := args[1:]; {
		case len(rest) == 2 && rest[0] == "table":
			name = rest[1]
		case len(rest) != 0:
			return nil, fmt.Errorf("%w: unexpected %q; %s", rules.ErrSyntax, strings.Join(rest, " "), usage)
		}
		x, err := env.ParseExpr(args[0])
		if err != nil {
			return nil, err
		}
		t, err := e.resolveTable(name, "track-sc"+strconv.Itoa(slot))
		if err != nil {
			return nil, err
		}
		k := e.kind(t)
		if !fetch.CanCast(x.Out(), k.sampleType()) {
			return nil, fmt.Errorf("%w: %s gives %s, which cannot make a key of table %s (type %s)", fetch.ErrType, x, x.Out(), t.Name(), k.typ)
		}
		return &trackAct{e: e, slot: slot, t: t, kind: k, key: x, point: env.Point()}, nil
	}
}

func used(sl *stick.Slots, n int) bool {
	_, _, ok := sl.Entry(n)
	return ok
}

// Do tracks the key, unless the slot is already in use (HAProxy ignores a
// second track-sc of one slot). Session points track into the session's
// slots; tcp-request content and http-request into the stream's, which
// then shadow the session's slot of the same number for reading.
func (a *trackAct) Do(ctx *fetch.Ctx) rules.Verdict {
	switch a.point {
	case rules.TCPConnection, rules.TCPSession:
		sl := SessionSlots(ctx.Sess)
		if sl == nil || used(sl, a.slot) {
			return rules.Verdict{}
		}
		if k, ok := a.eval(ctx); ok {
			sl.Track(a.slot, a.t, k, a.e.now())
		}
	case rules.TCPContent, rules.HTTPRequest:
		if ctx.Strm == nil || !ctx.Layers.Has(abi.LayerStrm) {
			return rules.Verdict{}
		}
		if sl := StreamSlots(ctx.Strm); sl != nil && used(sl, a.slot) {
			return rules.Verdict{}
		}
		k, ok := a.eval(ctx)
		if !ok {
			return rules.Verdict{}
		}
		sl := a.e.streamSlots(ctx.Strm)
		if sl == nil {
			return rules.Verdict{}
		}
		if a.point == rules.TCPContent {
			// No request has been counted yet.
			sl.Track(a.slot, a.t, k, a.e.now())
		} else {
			// The request in progress was counted on the entries tracked
			// so far; the new entry counts it too.
			stick.View{Stream: sl, Session: SessionSlots(ctx.Sess)}.TrackRequest(a.slot, a.t, k, a.e.now())
		}
	}
	return rules.Verdict{}
}

func (a *trackAct) eval(ctx *fetch.Ctx) (stick.Key, bool) {
	v, ok := a.key.Eval(ctx)
	if !ok {
		return stick.Key{}, false
	}
	return a.kind.key(ctx, v)
}

// ---- sc-inc-gpc(idx,slot), sc-set-gpt(idx,slot) VALUE, ... ----

type ctrOp uint8

const (
	ctrInc     ctrOp = iota // sc-inc-gpc(idx,slot)
	ctrInc0                 // sc-inc-gpc0(slot)
	ctrInc1                 // sc-inc-gpc1(slot)
	ctrClear                // sc-clear-gpc(idx,slot)
	ctrAdd                  // sc-add-gpc(idx,slot) VALUE
	ctrSetGPT               // sc-set-gpt(idx,slot) VALUE
	ctrSetGPT0              // sc-set-gpt0(slot) VALUE
)

type counterAct struct {
	e         *Engine
	op        ctrOp
	idx, slot int
	konst     int64       // the value, when written as an integer
	expr      *fetch.Expr // the value, when written as an expression
}

func (e *Engine) parseCounter(o ctrOp, indexed, valued bool) rules.ParseFunc {
	return func(args []string, env *rules.Env) (rules.Action, error) {
		usage := "(slot)"
		if indexed {
			usage = "(idx,slot)"
		}
		if valued {
			usage += " VALUE (an integer or a sample expression)"
		}
		list, rest, ok := rules.ParenArgs(args)
		want := 1
		if indexed {
			want = 2
		}
		if !ok || len(list) != want {
			return nil, fmt.Errorf("%w: want %s", rules.ErrSyntax, usage)
		}
		a := &counterAct{e: e, op: o}
		nums := make([]int, want)
		for i, s := range list {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("%w: %q is not a number; want %s", rules.ErrSyntax, s, usage)
			}
			nums[i] = n
		}
		if indexed {
			a.idx, a.slot = nums[0], nums[1]
			if a.idx < 0 || a.idx >= stick.MaxArray {
				return nil, fmt.Errorf("%w: element %d out of range 0-%d", rules.ErrSyntax, a.idx, stick.MaxArray-1)
			}
		} else {
			a.slot = nums[0]
		}
		if err := e.checkSlot(a.slot); err != nil {
			return nil, err
		}
		switch {
		case valued && len(rest) == 1:
			if n, err := strconv.ParseInt(rest[0], 10, 64); err == nil {
				a.konst = n
			} else {
				x, err := env.ParseExpr(rest[0])
				if err != nil {
					return nil, err
				}
				if !fetch.CanCast(x.Out(), sample.TypeInt) {
					return nil, fmt.Errorf("%w: %s gives %s, not an integer", fetch.ErrType, x, x.Out())
				}
				a.expr = x
			}
		case valued:
			return nil, fmt.Errorf("%w: want %s", rules.ErrSyntax, usage)
		case len(rest) > 0:
			return nil, fmt.Errorf("%w: unexpected %q; want %s", rules.ErrSyntax, strings.Join(rest, " "), usage)
		}
		return a, nil
	}
}

// Do updates the entry tracked in the slot (the stream's, else the
// session's); an untracked slot or an unstored data type does nothing.
func (a *counterAct) Do(ctx *fetch.Ctx) rules.Verdict {
	strm := ctx.Strm
	if !ctx.Layers.Has(abi.LayerStrm) {
		strm = nil
	}
	_, ent, _, ok := ViewOf(ctx.Sess, strm).Entry(a.slot)
	if !ok {
		return rules.Verdict{}
	}
	v := a.konst
	if a.expr != nil {
		s, ok := a.expr.Eval(ctx)
		if ok {
			s, ok = fetch.Cast(ctx, s, sample.TypeInt)
		}
		if !ok {
			return rules.Verdict{}
		}
		v = s.Int
	}
	now := a.e.now()
	switch a.op {
	case ctrInc:
		ent.IncGPC(a.idx, now)
	case ctrInc0:
		ent.IncGPC0(now)
	case ctrInc1:
		ent.IncGPC1(now)
	case ctrClear:
		ent.ClearGPC(a.idx, now)
	case ctrAdd:
		ent.AddGPC(a.idx, uint32(v), now)
	case ctrSetGPT:
		ent.SetGPT(a.idx, uint32(v), now)
	case ctrSetGPT0:
		ent.SetGPT0(uint32(v), now)
	}
	return rules.Verdict{}
}
