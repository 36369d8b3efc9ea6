package track

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/stick"
)

// The fetch families:
//
//	sc_<what>([idx,]slot[,table])   the entry tracked in slot (argument)
//	sc<N>_<what>([idx][,table])     the entry tracked in slot N
//	src_<what>([idx][,table])       the entry of the client address, looked
//	                                up without tracking
//	table_cnt([table]), table_avl([table])
//
// <what> is a stored data type read as is (conn_cur, http_req_rate,
// bytes_out_cnt, gpc0, server_id, ...), one of HAProxy's derived names
// (kbytes_in, kbytes_out, get_gpc0, get_gpc1, get_gpt0, gpc0_rate,
// gpc1_rate), an array read whose first argument is the element
// (get_gpc, get_gpt, gpc_rate), an update (inc_gpc, inc_gpc0, inc_gpc1,
// clr_gpc, clr_gpc0, clr_gpc1), or, for sc only, trackers and tracked.

// family is the prefix of a fetch name.
type family uint8

const (
	famSC     family = iota // sc_<what>(slot)
	famSCN                  // sc<N>_<what>
	famSrc                  // src_<what>
	numFamily               //
)

// op is what a fetch does with the entry.
type op uint8

const (
	opGet      op = iota // read dt[idx]
	opInc                // increment gpc (and gpc_rate)
	opClr                // clear gpc, returning the old value
	opTrackers           // references held on the entry
	opTracked            // whether the slot tracks anything
)

// what is a parsed <what>.
type what struct {
	op       op
	dt       stick.DataType
	arrayArg bool // the first argument is the element index
	shift    uint // kbytes_*: value >> 10
}

func parseWhat(s string) (what, bool) {
	switch s {
	case "trackers":
		return what{op: opTrackers}, true
	case "tracked":
		return what{op: opTracked}, true
	case "kbytes_in":
		return what{op: opGet, dt: stick.DataBytesInCnt, shift: 10}, true
	case "kbytes_out":
		return what{op: opGet, dt: stick.DataBytesOutCnt, shift: 10}, true
	case "get_gpc0":
		return what{op: opGet, dt: stick.DataGPC0}, true
	case "get_gpc1":
		return what{op: opGet, dt: stick.DataGPC1}, true
	case "get_gpt0":
		return what{op: opGet, dt: stick.DataGPT0}, true
	case "get_gpc":
		return what{op: opGet, dt: stick.DataGPC, arrayArg: true}, true
	case "get_gpt":
		return what{op: opGet, dt: stick.DataGPT, arrayArg: true}, true
	case "gpc_rate":
		return what{op: opGet, dt: stick.DataGPCRate, arrayArg: true}, true
	case "inc_gpc":
		return what{op: opInc, dt: stick.DataGPC, arrayArg: true}, true
	case "inc_gpc0":
		return what{op: opInc, dt: stick.DataGPC0}, true
	case "inc_gpc1":
		return what{op: opInc, dt: stick.DataGPC1}, true
	case "clr_gpc":
		return what{op: opClr, dt: stick.DataGPC, arrayArg: true}, true
	case "clr_gpc0":
		return what{op: opClr, dt: stick.DataGPC0}, true
	case "clr_gpc1":
		return what{op: opClr, dt: stick.DataGPC1}, true
	}
	dt, err := stick.ParseDataType(s)
	if err != nil || dt.IsArray() {
		return what{}, false
	}
	return what{op: opGet, dt: dt}, true
}

// fetchSpec is a resolved fetch name.
type fetchSpec struct {
	name string
	fam  family
	slot int // famSCN
	w    what
}

// parseFetchName splits a fetch name into family, slot and <what>.
func parseFetchName(name string) (fetchSpec, bool) {
	sp := fetchSpec{name: name}
	var rest string
	switch {
	case strings.HasPrefix(name, "sc_"):
		sp.fam, rest = famSC, name[3:]
	case strings.HasPrefix(name, "src_"):
		sp.fam, rest = famSrc, name[4:]
	case strings.HasPrefix(name, "sc"):
		num, r, ok := strings.Cut(name[2:], "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || num[0] == '+' || num[0] == '-' || n > 99 {
			return sp, false
		}
		sp.fam, sp.slot, rest = famSCN, n, r
	default:
		return sp, false
	}
	w, ok := parseWhat(rest)
	if !ok || (sp.fam == famSrc && (w.op == opTrackers || w.op == opTracked)) {
		return sp, false
	}
	sp.w = w
	return sp, true
}

// argument positions of a family's fetches
type argLayout struct {
	idx, slot, table int // -1 when absent
	min, max         int
	kinds            []fetch.ArgKind
}

func (sp fetchSpec) layout() argLayout {
	l := argLayout{idx: -1, slot: -1, table: -1}
	n := 0
	if sp.w.arrayArg {
		l.idx = n
		l.kinds = append(l.kinds, fetch.ArgInt)
		n++
	}
	if sp.fam == famSC {
		l.slot = n
		l.kinds = append(l.kinds, fetch.ArgInt)
		n++
	}
	l.min = n
	l.table = n
	l.kinds = append(l.kinds, fetch.ArgTable)
	l.max = n + 1
	return l
}

// Register adds the tracking fetches to r and the tracking actions to a.
// Both should be the generation's own clones.
func (e *Engine) Register(r *fetch.Registry, a *rules.Actions) error {
	r.RegisterResolver(e.resolve)
	for _, name := range [...]string{"table_cnt", "table_avl"} {
		avail := name == "table_avl"
		err := r.RegisterFetch(fetch.Fetch{
			Name: name, MaxArgs: 1, ArgKinds: []fetch.ArgKind{fetch.ArgTable}, Out: sample.TypeInt,
			Check: func(args []fetch.Arg) error {
				t, err := e.resolveTable(tableArg(args, 0), name)
				if err != nil {
					return err
				}
				if len(args) > 0 {
					args[0].Val = t
				}
				return nil
			},
			Fn: func(_ *fetch.Ctx, args []fetch.Arg) (sample.Value, bool) {
				t := e.argTable(args, 0)
				if t == nil {
					return sample.Value{}, false
				}
				if avail {
					return sample.Int(int64(t.Avail())), true
				}
				return sample.Int(int64(t.Len())), true
			},
		})
		if err != nil {
			return err
		}
	}
	if a != nil {
		return e.registerActions(a)
	}
	return nil
}

func tableArg(args []fetch.Arg, i int) string {
	if i >= 0 && i < len(args) {
		return args[i].Str
	}
	return ""
}

// argTable returns the table resolved at load for argument i, or the only
// table when the argument was left out.
func (e *Engine) argTable(args []fetch.Arg, i int) *stick.Table {
	if i >= 0 && i < len(args) {
		t, _ := args[i].Val.(*stick.Table)
		return t
	}
	if len(e.list) == 1 {
		return e.list[0]
	}
	return nil
}

// resolve serves the sc_, sc<N>_ and src_ families.
func (e *Engine) resolve(name string) (*fetch.Fetch, bool) {
	sp, ok := parseFetchName(name)
	if !ok {
		return nil, false
	}
	l := sp.layout()
	f := &fetch.Fetch{
		Name: name, MinArgs: l.min, MaxArgs: l.max, ArgKinds: l.kinds, Out: sample.TypeInt,
		Check: func(args []fetch.Arg) error { return e.check(sp, l, args) },
	}
	if sp.w.op == opTracked {
		f.Out = sample.TypeBool
	}
	if sp.fam == famSrc {
		f.Needs = abi.LayerConn
		f.Fn = e.srcFn(sp, l)
	} else {
		// tcp-request connection rules can read the session's slots
		f.Needs = abi.LayerSess
		f.Fn = e.scFn(sp, l)
	}
	return f, true
}

// check validates a fetch's arguments at load and resolves its table.
func (e *Engine) check(sp fetchSpec, l argLayout, args []fetch.Arg) error {
	if sp.fam != famSrc {
		if e.slots == 0 {
			return fmt.Errorf("tracking is off: global.tune.stick_counters is 0")
		}
		slot := sp.slot
		if l.slot >= 0 {
			slot = int(args[l.slot].Int)
		}
		if slot < 0 || slot >= e.slots {
			return fmt.Errorf("%w: slot %d out of range 0-%d (global.tune.stick_counters is %d)", fetch.ErrArgs, slot, e.slots-1, e.slots)
		}
	}
	if l.idx >= 0 {
		if i := args[l.idx].Int; i < 0 || i >= stick.MaxArray {
			return fmt.Errorf("%w: element %d out of range 0-%d", fetch.ErrArgs, i, stick.MaxArray-1)
		}
	}
	name := tableArg(args, l.table)
	if name == "" && sp.fam != famSrc {
		return nil // the table of the tracked entry
	}
	t, err := e.resolveTable(name, sp.name)
	if err != nil {
		return err
	}
	if l.table < len(args) {
		args[l.table].Val = t
	}
	if sp.w.op == opGet || sp.w.op == opInc || sp.w.op == opClr {
		idx := 0
		if l.idx >= 0 {
			idx = int(args[l.idx].Int)
		}
		if !storesFor(t, sp.w, idx) {
			return fmt.Errorf("table %s does not store the data %s reads (store: %s)", t.Name(), sp.name, storeList(t))
		}
	}
	return nil
}

// storesFor reports whether t stores what w reads or updates at idx.
func storesFor(t *stick.Table, w what, idx int) bool {
	switch w.op {
	case opInc:
		rate := stick.DataGPCRate
		switch w.dt {
		case stick.DataGPC0:
			rate = stick.DataGPC0Rate
		case stick.DataGPC1:
			rate = stick.DataGPC1Rate
		}
		_, a := probe(t, dataRef{w.dt, idx})
		_, b := probe(t, dataRef{rate, idx})
		return a || b
	}
	_, ok := probe(t, dataRef{w.dt, idx})
	return ok
}

func storeList(t *stick.Table) string {
	d := t.Def()
	parts := make([]string, len(d.Store))
	for i, s := range d.Store {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// scFn builds the run-time function of an sc_ or sc<N>_ fetch.
func (e *Engine) scFn(sp fetchSpec, l argLayout) func(*fetch.Ctx, []fetch.Arg) (sample.Value, bool) {
	return func(ctx *fetch.Ctx, args []fetch.Arg) (sample.Value, bool) {
		slot := sp.slot
		if l.slot >= 0 {
			slot = int(args[l.slot].Int)
		}
		strm := ctx.Strm
		if !ctx.Layers.Has(abi.LayerStrm) {
			strm = nil
		}
		t, ent, _, ok := ViewOf(ctx.Sess, strm).Entry(slot)
		if sp.w.op == opTracked {
			return sample.Bool(ok), true
		}
		if !ok {
			return sample.Value{}, false
		}
		now := e.now()
		if other, _ := argVal(args, l.table); other != nil && other != t {
			// HAProxy: the key tracked in the slot, looked up in the
			// other table.
			k, err := parseShownKey(other, e.kind(other), ent.Key())
			if err != nil {
				return sample.Value{}, false
			}
			x, found := other.Lookup(k, now)
			if !found {
				if sp.w.op == opGet && !storesFor(other, sp.w, argIdx(args, l)) {
					return sample.Value{}, false
				}
				return sample.Int(0), true
			}
			t, ent = other, x
		}
		return e.apply(sp.w, t, ent, argIdx(args, l), now)
	}
}

// srcFn builds the run-time function of a src_ fetch: the client address is
// looked up without creating an entry, except by the updates (inc, clr),
// which create it as HAProxy's src_inc_gpc and src_clr_gpc do.
func (e *Engine) srcFn(sp fetchSpec, l argLayout) func(*fetch.Ctx, []fetch.Arg) (sample.Value, bool) {
	return func(ctx *fetch.Ctx, args []fetch.Arg) (sample.Value, bool) {
		if ctx.Conn == nil {
			return sample.Value{}, false
		}
		t := e.argTable(args, l.table)
		if t == nil {
			return sample.Value{}, false
		}
		k, ok := e.kind(t).key(ctx, sample.IP(ctx.Conn.Src.Addr()))
		if !ok {
			return sample.Value{}, false
		}
		now := e.now()
		idx := argIdx(args, l)
		if sp.w.op == opInc || sp.w.op == opClr {
			ent, err := t.Acquire(k, now)
			if err != nil {
				return sample.Value{}, false
			}
			v, ok := e.apply(sp.w, t, ent, idx, now)
			t.Release(ent, now)
			return v, ok
		}
		ent, found := t.Lookup(k, now)
		if !found {
			return sample.Int(0), true
		}
		return e.apply(sp.w, t, ent, idx, now)
	}
}

func argVal(args []fetch.Arg, i int) (*stick.Table, bool) {
	if i >= 0 && i < len(args) {
		t, ok := args[i].Val.(*stick.Table)
		return t, ok
	}
	return nil, false
}

func argIdx(args []fetch.Arg, l argLayout) int {
	if l.idx >= 0 {
		return int(args[l.idx].Int)
	}
	return 0
}

// apply does w on the entry of table t.
func (e *Engine) apply(w what, t *stick.Table, ent *stick.Entry, idx int, now time.Time) (sample.Value, bool) {
	switch w.op {
	case opTrackers:
		return sample.Int(int64(ent.Refs())), true
	case opInc:
		var v uint64
		var ok bool
		switch w.dt {
		case stick.DataGPC0:
			v, ok = ent.IncGPC0(now)
		case stick.DataGPC1:
			v, ok = ent.IncGPC1(now)
		default:
			v, ok = ent.IncGPC(idx, now)
		}
		return sample.Int(int64(v)), ok
	case opClr:
		var v uint64
		var ok bool
		switch w.dt {
		case stick.DataGPC0:
			v, ok = ent.ClearGPC0(now)
		case stick.DataGPC1:
			v, ok = ent.ClearGPC1(now)
		default:
			v, ok = ent.ClearGPC(idx, now)
		}
		return sample.Int(int64(v)), ok
	}
	v, ok := ent.Get(w.dt, idx, now)
	if !ok {
		return sample.Value{}, false
	}
	return sample.Int(v >> w.shift), true
}
