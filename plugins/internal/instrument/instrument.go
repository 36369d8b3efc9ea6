// Package instrument rewrites a WebAssembly module so that its code checks
// in with the host regularly: at every function entry and every loop header
// the code decrements an injected counter, and when the counter runs out it
// resets it and calls an imported host function (Module.Field). The host
// function enforces the call's deadline on the calling goroutine (see
// plugins/RATIONALE.md, "Why instrument loops instead of wazero's
// close-on-context-done?").
//
// Adding an import shifts the index of every function the module defines
// by one, so the rewrite also remaps call, return_call and ref.func in
// code, function indices in element segments, exports, the start function
// and the name section. Everything else is copied as it is, except that a
// global index the input does not define (in the output, the counter's) is
// refused. A module the rewrite does not understand (an unknown opcode,
// section or encoding) is refused with an error: it would otherwise run
// without the check.
package instrument

import (
	"errors"
	"fmt"
)

// The import the rewritten module makes: a function of type () -> ().
// Module is reserved: an input module importing from it is refused.
const (
	Module = "strata_instrument"
	Field  = "check_deadline"
)

// Interval is how many function entries and loop iterations pass between
// two calls of the check function.
const Interval = 1 << 16

// Version names the rewrite, so that a cache of rewritten modules can tell
// outputs of an older rewrite apart.
// Version 2 refuses input that names the counter's global index.
const Version = 2

// ErrUnsupported wraps every refusal.
var ErrUnsupported = errors.New("instrument: module not supported")

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, a...))
}

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	secTag      = 13
)

// order is the position of each known non-custom section in a module.
var order = map[byte]int{secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCnt: 11, secCode: 12, secData: 13}

type section struct {
	id   byte
	name string // custom sections
	body []byte
}

// rewriter holds what the passes need: the index shift and the injected
// entities.
type rewriter struct {
	funcImports  uint32 // function imports of the input: defined functions start here
	globalImport uint32
	globals      uint32 // index of the injected counter: the input's global count
	check        uint32 // index of the injected import (== funcImports)
	checkType    uint32
}

// remap returns the new index of input function index i.
func (r *rewriter) remap(i uint32) uint32 {
	if i >= r.funcImports {
		return i + 1
	}
	return i
}

// Instrument returns the rewritten module. The input is not modified.
func Instrument(bin []byte) ([]byte, error) {
	secs, err := splitSections(bin)
	if err != nil {
		return nil, err
	}
	r := &rewriter{}
	var types, imports, globals *section
	for i := range secs {
		s := &secs[i]
		switch s.id {
		case secType:
			types = s
		case secImport:
			imports = s
		case secGlobal:
			globals = s
		case secTag:
			return nil, unsupported("exception tags")
		}
	}
	// Ensure the sections we add to exist, in their place.
	if types == nil {
		secs = insertSection(secs, section{id: secType, body: []byte{0}})
	}
	if imports == nil {
		secs = insertSection(secs, section{id: secImport, body: []byte{0}})
	}
	if globals == nil {
		secs = insertSection(secs, section{id: secGlobal, body: []byte{0}})
	}
	// Pass 1, in section order: the type, import and global sections
	// fix the indices the later sections need.
	for i := range secs {
		s := &secs[i]
		var err error
		switch s.id {
		case secType:
			s.body, err = r.addType(s.body)
		case secImport:
			s.body, err = r.addImport(s.body)
		case secGlobal:
			s.body, err = r.addGlobal(s.body)
		}
		if err != nil {
			return nil, err
		}
	}
	// Pass 2: everything that names a function.
	for i := range secs {
		s := &secs[i]
		var err error
		switch s.id {
		case secExport:
			s.body, err = r.exports(s.body)
		case secStart:
			s.body, err = r.start(s.body)
		case secElement:
			s.body, err = r.elements(s.body)
		case secCode:
			s.body, err = r.code(s.body)
		case secData:
			err = r.data(s.body)
		case secCustom:
			if s.name == "name" {
				if nb, nerr := r.names(s.body); nerr == nil {
					s.body = nb
				} else {
					s.body = nil // debugging names only: drop them rather than refuse
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return joinSections(secs), nil
}

var magic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

func splitSections(bin []byte) ([]section, error) {
	if len(bin) < 8 || string(bin[:8]) != string(magic) {
		return nil, unsupported("not a WebAssembly 1.0 binary module")
	}
	rd := &reader{b: bin, off: 8}
	var secs []section
	last := 0
	for !rd.done() {
		id, body, err := rd.section()
		if err != nil {
			return nil, err
		}
		s := section{id: id, body: body}
		if id == secCustom {
			br := &reader{b: body}
			name, err := br.name()
			if err != nil {
				return nil, unsupported("custom section: %v", err)
			}
			s.name, s.body = name, body[br.off:]
		} else {
			pos, ok := order[id]
			if !ok {
				return nil, unsupported("unknown section id %d", id)
			}
			if pos <= last {
				return nil, unsupported("section %d out of order", id)
			}
			last = pos
		}
		secs = append(secs, s)
	}
	return secs, nil
}

// insertSection places s before the first non-custom section that follows
// it in module order.
func insertSection(secs []section, s section) []section {
	at := len(secs)
	for i, x := range secs {
		if x.id != secCustom && order[x.id] > order[s.id] {
			at = i
			break
		}
	}
	secs = append(secs, section{})
	copy(secs[at+1:], secs[at:])
	secs[at] = s
	return secs
}

func joinSections(secs []section) []byte {
	out := append([]byte(nil), magic...)
	for _, s := range secs {
		body := s.body
		if s.id == secCustom {
			if body == nil {
				continue // dropped
			}
			body = appendName(nil, s.name)
			body = append(body, s.body...)
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// --- type, import and global sections ---

func (r *rewriter) addType(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	for range n {
		form, err := rd.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, unsupported("type form 0x%x", form)
		}
		for range 2 { // params, results
			k, err := rd.u32()
			if err != nil {
				return nil, err
			}
			for range k {
				if err := rd.valType(); err != nil {
					return nil, err
				}
			}
		}
	}
	if !rd.done() {
		return nil, unsupported("type section has trailing bytes")
	}
	r.checkType = n
	out := appendU32(nil, n+1)
	out = append(out, body[uintLen(body):]...)
	return append(out, 0x60, 0, 0), nil
}

func (r *rewriter) addImport(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	for range n {
		mod, err := rd.name()
		if err != nil {
			return nil, err
		}
		if mod == Module {
			return nil, unsupported("imports from the reserved module %q", Module)
		}
		if _, err := rd.name(); err != nil {
			return nil, err
		}
		kind, err := rd.byte()
		if err != nil {
			return nil, err
		}
		switch kind {
		case 0: // function: type index
			if _, err := rd.u32(); err != nil {
				return nil, err
			}
			r.funcImports++
		case 1: // table: reftype, limits
			if err := rd.valType(); err != nil {
				return nil, err
			}
			if err := rd.limits(); err != nil {
				return nil, err
			}
		case 2: // memory: limits
			if err := rd.limits(); err != nil {
				return nil, err
			}
		case 3: // global: valtype, mutability
			if err := rd.valType(); err != nil {
				return nil, err
			}
			if _, err := rd.byte(); err != nil {
				return nil, err
			}
			r.globalImport++
		default:
			return nil, unsupported("import kind %d", kind)
		}
	}
	if !rd.done() {
		return nil, unsupported("import section has trailing bytes")
	}
	r.check = r.funcImports
	out := appendU32(nil, n+1)
	out = append(out, body[uintLen(body):]...)
	out = appendName(out, Module)
	out = appendName(out, Field)
	out = append(out, 0)
	return appendU32(out, r.checkType), nil
}

func (r *rewriter) addGlobal(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	// Known before the init expressions, which must not name the counter.
	r.globals = r.globalImport + n
	// Init expressions may hold ref.func: rewrite them.
	out := appendU32(nil, n+1)
	for range n {
		start := rd.off
		if err := rd.valType(); err != nil {
			return nil, err
		}
		if _, err := rd.byte(); err != nil {
			return nil, err
		}
		out = append(out, body[start:rd.off]...)
		if out, err = r.expr(out, rd); err != nil {
			return nil, err
		}
	}
	if !rd.done() {
		return nil, unsupported("global section has trailing bytes")
	}
	// (mut i32) = Interval
	out = append(out, 0x7f, 0x01, 0x41)
	out = appendS64(out, Interval)
	return append(out, 0x0b), nil
}

// --- sections naming functions ---

func (r *rewriter) exports(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for range n {
		name, err := rd.name()
		if err != nil {
			return nil, err
		}
		kind, err := rd.byte()
		if err != nil {
			return nil, err
		}
		idx, err := rd.u32()
		if err != nil {
			return nil, err
		}
		if kind > 3 {
			return nil, unsupported("export kind %d", kind)
		}
		if kind == 0 {
			idx = r.remap(idx)
		}
		if kind == 3 && idx >= r.globals {
			return nil, unsupported("export %q of global %d: the module has %d globals", name, idx, r.globals)
		}
		out = appendName(out, name)
		out = append(out, kind)
		out = appendU32(out, idx)
	}
	if !rd.done() {
		return nil, unsupported("export section has trailing bytes")
	}
	return out, nil
}

func (r *rewriter) start(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	idx, err := rd.u32()
	if err != nil {
		return nil, err
	}
	if !rd.done() {
		return nil, unsupported("start section has trailing bytes")
	}
	return appendU32(nil, r.remap(idx)), nil
}

func (r *rewriter) elements(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for range n {
		flags, err := rd.u32()
		if err != nil {
			return nil, err
		}
		if flags > 7 {
			return nil, unsupported("element segment flags %d", flags)
		}
		out = appendU32(out, flags)
		if flags == 2 || flags == 6 { // explicit table index
			t, err := rd.u32()
			if err != nil {
				return nil, err
			}
			out = appendU32(out, t)
		}
		if flags&1 == 0 { // active: offset expression
			if out, err = r.expr(out, rd); err != nil {
				return nil, err
			}
		}
		if flags&3 != 0 { // elemkind (flags&4 == 0) or reftype
			start := rd.off
			if flags&4 == 0 {
				if _, err := rd.byte(); err != nil {
					return nil, err
				}
			} else if err := rd.valType(); err != nil {
				return nil, err
			}
			out = append(out, body[start:rd.off]...)
		}
		k, err := rd.u32()
		if err != nil {
			return nil, err
		}
		out = appendU32(out, k)
		for range k {
			if flags&4 == 0 {
				f, err := rd.u32()
				if err != nil {
					return nil, err
				}
				out = appendU32(out, r.remap(f))
			} else if out, err = r.expr(out, rd); err != nil {
				return nil, err
			}
		}
	}
	if !rd.done() {
		return nil, unsupported("element section has trailing bytes")
	}
	return out, nil
}

// data checks the offset expressions of active data segments, which are
// copied as they are, for global indices.
func (r *rewriter) data(body []byte) error {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return err
	}
	for range n {
		flags, err := rd.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 0, 2:
			if flags == 2 { // explicit memory index
				if _, err := rd.u32(); err != nil {
					return err
				}
			}
			if _, err := r.expr(nil, rd); err != nil {
				return err
			}
		case 1: // passive: no offset
		default:
			return unsupported("data segment flags %d", flags)
		}
		k, err := rd.u32()
		if err != nil {
			return err
		}
		if _, err := rd.bytes(int(k)); err != nil {
			return err
		}
	}
	if !rd.done() {
		return unsupported("data section has trailing bytes")
	}
	return nil
}

// prologue is the check sequence placed at function entries and loop
// headers. It leaves the operand stack as it found it:
//
//	global.get $n  i32.const 1  i32.sub  global.set $n
//	global.get $n  i32.eqz
//	if  i32.const Interval  global.set $n  call $check  end
func (r *rewriter) prologue(out []byte) []byte {
	out = append(out, 0x23)
	out = appendU32(out, r.globals)
	out = append(out, 0x41, 0x01, 0x6b, 0x24)
	out = appendU32(out, r.globals)
	out = append(out, 0x23)
	out = appendU32(out, r.globals)
	out = append(out, 0x45, 0x04, 0x40, 0x41)
	out = appendS64(out, Interval)
	out = append(out, 0x24)
	out = appendU32(out, r.globals)
	out = append(out, 0x10)
	out = appendU32(out, r.check)
	return append(out, 0x0b)
}

func (r *rewriter) code(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := range n {
		size, err := rd.u32()
		if err != nil {
			return nil, err
		}
		b, err := rd.bytes(int(size))
		if err != nil {
			return nil, err
		}
		fn, err = r.function(fn[:0], b)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", int(r.funcImports)+int(i), err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if !rd.done() {
		return nil, unsupported("code section has trailing bytes")
	}
	return out, nil
}

func (r *rewriter) function(out, b []byte) ([]byte, error) {
	rd := &reader{b: b}
	groups, err := rd.u32()
	if err != nil {
		return nil, err
	}
	for range groups {
		if _, err := rd.u32(); err != nil {
			return nil, err
		}
		if err := rd.valType(); err != nil {
			return nil, err
		}
	}
	out = append(out, b[:rd.off]...)
	out = r.prologue(out)
	out, err = r.body(out, rd, true)
	if err != nil {
		return nil, err
	}
	if !rd.done() {
		return nil, unsupported("bytes after the function's end")
	}
	return out, nil
}

// expr copies a constant expression, remapping ref.func.
func (r *rewriter) expr(out []byte, rd *reader) ([]byte, error) {
	return r.body(out, rd, false)
}

// body copies instructions up to and including the end that closes the
// expression, remapping function indices and, when instrument is set,
// adding the prologue after every loop header.
func (r *rewriter) body(out []byte, rd *reader, instrument bool) ([]byte, error) {
	depth := 0
	for {
		if rd.done() {
			return nil, unsupported("expression without end")
		}
		start := rd.off
		op, _ := rd.byte()
		switch {
		case op == 0x0b: // end
			out = append(out, op)
			if depth == 0 {
				return out, nil
			}
			depth--
			continue
		case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
			if err := rd.blockType(); err != nil {
				return nil, err
			}
			depth++
			out = append(out, rd.b[start:rd.off]...)
			if op == 0x03 && instrument {
				out = r.prologue(out)
			}
			continue
		case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
			f, err := rd.u32()
			if err != nil {
				return nil, err
			}
			out = append(out, op)
			out = appendU32(out, r.remap(f))
			continue
		case op == 0x23 || op == 0x24: // global.get, global.set
			g, err := rd.u32()
			if err != nil {
				return nil, err
			}
			// The counter's index is invalid in the input but valid in the
			// output: code naming it could reset the counter and never
			// reach the check.
			if g >= r.globals {
				return nil, unsupported("global %d: the module has %d globals", g, r.globals)
			}
			out = append(out, rd.b[start:rd.off]...)
			continue
		}
		if err := rd.skipImmediates(op); err != nil {
			return nil, err
		}
		out = append(out, rd.b[start:rd.off]...)
	}
}

// skipImmediates reads the immediates of op (already read), which is
// neither a block, loop, if, end nor one of the function-naming opcodes.
func (rd *reader) skipImmediates(op byte) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
		return nil // unreachable nop else return drop select ref.is_null
	case op == 0x0c || op == 0x0d: // br br_if
		_, err := rd.u32()
		return err
	case op == 0x0e: // br_table
		n, err := rd.u32()
		if err != nil {
			return err
		}
		for range n + 1 {
			if _, err := rd.u32(); err != nil {
				return err
			}
		}
		return nil
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect: type table
		return rd.u32s(2)
	case op == 0x1c: // select t*
		n, err := rd.u32()
		if err != nil {
			return err
		}
		for range n {
			if err := rd.valType(); err != nil {
				return err
			}
		}
		return nil
	case op >= 0x20 && op <= 0x26: // local.* (global.* are handled by body) table.get table.set
		_, err := rd.u32()
		return err
	case op >= 0x28 && op <= 0x3e: // loads and stores
		return rd.memarg()
	case op == 0x3f || op == 0x40: // memory.size memory.grow: memory index
		_, err := rd.u32()
		return err
	case op == 0x41: // i32.const
		return rd.sleb(32)
	case op == 0x42: // i64.const
		return rd.sleb(64)
	case op == 0x43:
		_, err := rd.bytes(4)
		return err
	case op == 0x44:
		_, err := rd.bytes(8)
		return err
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension
		return nil
	case op == 0xd0: // ref.null t
		return rd.valType()
	case op == 0xfc:
		return rd.prefixFC()
	case op == 0xfd:
		return rd.prefixFD()
	case op == 0xfe:
		return rd.prefixFE()
	}
	return unsupported("opcode 0x%02x at offset %d", op, rd.off-1)
}

func (rd *reader) prefixFC() error {
	sub, err := rd.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // saturating truncations
		return nil
	case sub == 8: // memory.init data memory
		return rd.u32s(2)
	case sub == 9: // data.drop
		return rd.u32s(1)
	case sub == 10: // memory.copy memory memory
		return rd.u32s(2)
	case sub == 11: // memory.fill memory
		return rd.u32s(1)
	case sub == 12: // table.init elem table
		return rd.u32s(2)
	case sub == 13: // elem.drop
		return rd.u32s(1)
	case sub == 14: // table.copy table table
		return rd.u32s(2)
	case sub >= 15 && sub <= 17: // table.grow table.size table.fill
		return rd.u32s(1)
	}
	return unsupported("opcode 0xfc %d", sub)
}

func (rd *reader) prefixFD() error {
	sub, err := rd.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11: // v128 loads and stores
		return rd.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		_, err := rd.bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err := rd.byte()
		return err
	case sub >= 84 && sub <= 91: // load/store lane: memarg lane
		if err := rd.memarg(); err != nil {
			return err
		}
		_, err := rd.byte()
		return err
	case sub == 92 || sub == 93: // load32_zero, load64_zero
		return rd.memarg()
	case sub <= 255: // the rest of SIMD has no immediate
		return nil
	}
	return unsupported("opcode 0xfd %d", sub)
}

func (rd *reader) prefixFE() error {
	sub, err := rd.u32()
	if err != nil {
		return err
	}
	switch {
	case sub == 3: // atomic.fence: a reserved byte
		_, err := rd.byte()
		return err
	case sub <= 2 || (sub >= 0x10 && sub <= 0x4e):
		return rd.memarg()
	}
	return unsupported("opcode 0xfe %d", sub)
}

// names rewrites the name section: the module name is kept, function and
// local names are remapped, the other subsections (labels, types, ...)
// are dropped.
func (r *rewriter) names(body []byte) ([]byte, error) {
	rd := &reader{b: body}
	var out []byte
	for !rd.done() {
		id, sub, err := rd.section()
		if err != nil {
			return nil, err
		}
		switch id {
		case 0:
		case 1, 2:
			if sub, err = r.nameMap(sub, id == 2); err != nil {
				return nil, err
			}
		default:
			continue
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(sub)))
		out = append(out, sub...)
	}
	return out, nil
}

// nameMap remaps the function indices of a name map (function names) or
// an indirect name map (local names, whose inner maps are kept as they
// are).
func (r *rewriter) nameMap(b []byte, indirect bool) ([]byte, error) {
	rd := &reader{b: b}
	n, err := rd.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for range n {
		f, err := rd.u32()
		if err != nil {
			return nil, err
		}
		out = appendU32(out, r.remap(f))
		start := rd.off
		if indirect {
			k, err := rd.u32()
			if err != nil {
				return nil, err
			}
			for range k {
				if _, err := rd.u32(); err != nil {
					return nil, err
				}
				if _, err := rd.name(); err != nil {
					return nil, err
				}
			}
		} else if _, err := rd.name(); err != nil {
			return nil, err
		}
		out = append(out, b[start:rd.off]...)
	}
	if !rd.done() {
		return nil, unsupported("name map has trailing bytes")
	}
	return out, nil
}
