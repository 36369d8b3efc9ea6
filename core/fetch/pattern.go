package fetch

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

// MatchMethod is how a sample is compared with patterns: HAProxy's "-m"
// methods, shared by ACLs and map converters.
type MatchMethod uint8

const (
	MatchNone  MatchMethod = iota
	MatchFound             // the sample exists; no pattern
	MatchBool              // the sample is true (non-zero); no pattern
	MatchInt               // integer value against values, ranges and operators
	MatchIP                // address against addresses and networks
	MatchBin               // bytes against hexadecimal blocks
	MatchLen               // length against integer patterns
	MatchStr               // exact string
	MatchSub               // substring
	MatchReg               // regular expression
	MatchBeg               // prefix
	MatchEnd               // suffix
	MatchDir               // slash-delimited portion
	MatchDom               // dot-delimited portion (also ':', '/', '?')
	numMatch
)

var matchNames = [numMatch]string{"", "found", "bool", "int", "ip", "bin", "len", "str", "sub", "reg", "beg", "end", "dir", "dom"}

// ParseMatchMethod returns the method called s ("str", "beg", ...).
func ParseMatchMethod(s string) (MatchMethod, bool) {
	for i := MatchFound; i < numMatch; i++ {
		if matchNames[i] == s {
			return i, true
		}
	}
	return MatchNone, false
}

func (m MatchMethod) String() string {
	if m > 0 && m < numMatch {
		return matchNames[m]
	}
	return "none"
}

// Input is the type a sample is converted to before matching.
func (m MatchMethod) Input() sample.Type {
	switch m {
	case MatchBool:
		return sample.TypeBool
	case MatchInt:
		return sample.TypeInt
	case MatchIP:
		return sample.TypeIP
	case MatchBin:
		return sample.TypeBin
	case MatchFound:
		return sample.TypeNone
	}
	return sample.TypeStr
}

// DefaultMatch is the method used for a sample type when none is given:
// bool → bool, int → int, ip → ip, str → str, bin → bin.
func DefaultMatch(t sample.Type) MatchMethod {
	switch t {
	case sample.TypeBool:
		return MatchBool
	case sample.TypeInt:
		return MatchInt
	case sample.TypeIP:
		return MatchIP
	case sample.TypeBin:
		return MatchBin
	}
	return MatchStr
}

// Matcher is a compiled set of patterns for one method. It is immutable and
// safe for concurrent use.
type Matcher struct {
	method MatchMethod
	icase  bool
	n      int

	exact map[string]int32 // MatchStr: pattern (lowercased when icase) → first index
	strs  [][]byte         // string-like patterns, in lookup order
	sidx  []int32          // pattern index of each strs entry
	res   []*regexp.Regexp // MatchReg, in order
	ints  []intRange       // MatchInt, MatchLen, in order
	v4    []net4           // MatchIP: IPv4 networks, longest first
	v6    []net6           // MatchIP: IPv6 networks, longest first
}

type intRange struct {
	lo, hi int64
	idx    int32
}

type net4 struct {
	addr, mask uint32
	bits       int
	idx        int32
}

type net6 struct {
	p   netip.Prefix
	idx int32
}

// NewMatcher compiles patterns for method. For MatchInt and MatchLen the
// words "eq", "ge", "gt", "le" and "lt" set the operator for the values that
// follow, as in HAProxy. icase makes string methods ignore ASCII case.
func NewMatcher(method MatchMethod, patterns []string, icase bool) (*Matcher, error) {
	m := &Matcher{method: method, icase: icase}
	switch method {
	case MatchFound, MatchBool:
		if len(patterns) > 0 {
			return nil, fmt.Errorf("%w: -m %s takes no pattern", ErrArgs, method)
		}
		return m, nil
	case MatchInt, MatchLen:
		op := ""
		for _, p := range patterns {
			switch p {
			case "eq", "ge", "gt", "le", "lt":
				op = p
				continue
			}
			r, err := parseIntPattern(op, p)
			if err != nil {
				return nil, err
			}
			r.idx = int32(m.n)
			m.ints = append(m.ints, r)
			m.n++
		}
		if op != "" && m.n == 0 {
			return nil, fmt.Errorf("%w: operator %q needs a value", ErrArgs, op)
		}
	case MatchIP:
		for _, p := range patterns {
			if err := m.addIP(p); err != nil {
				return nil, err
			}
			m.n++
		}
		sort.SliceStable(m.v4, func(i, j int) bool { return m.v4[i].bits > m.v4[j].bits })
		sort.SliceStable(m.v6, func(i, j int) bool { return m.v6[i].p.Bits() > m.v6[j].p.Bits() })
	case MatchBin:
		for _, p := range patterns {
			b, err := hex.DecodeString(p)
			if err != nil {
				return nil, fmt.Errorf("%w: %q is not an even number of hexadecimal digits", ErrArgs, p)
			}
			m.strs = append(m.strs, b)
			m.sidx = append(m.sidx, int32(m.n))
			m.n++
		}
	case MatchReg:
		for _, p := range patterns {
			src := p
			if icase {
				src = "(?i)" + p
			}
			re, err := regexp.Compile(src)
			if err != nil {
				return nil, fmt.Errorf("%w: regex %q: %v", ErrSyntax, p, err)
			}
			m.res = append(m.res, re)
			m.n++
		}
	case MatchStr, MatchSub, MatchBeg, MatchEnd, MatchDir, MatchDom:
		for _, p := range patterns {
			m.strs = append(m.strs, []byte(p))
			m.sidx = append(m.sidx, int32(m.n))
			m.n++
		}
		switch method {
		case MatchStr:
			m.exact = make(map[string]int32, len(patterns))
			for i, p := range patterns {
				if icase {
					p = strings.ToLower(p)
				}
				if _, dup := m.exact[p]; !dup {
					m.exact[p] = int32(i)
				}
			}
		case MatchBeg:
			// The longest prefix wins, like HAProxy's prefix tree.
			order := make([]int, len(m.strs))
			for i := range order {
				order[i] = i
			}
			sort.SliceStable(order, func(a, b int) bool { return len(m.strs[order[a]]) > len(m.strs[order[b]]) })
			strs, sidx := make([][]byte, len(order)), make([]int32, len(order))
			for i, o := range order {
				strs[i], sidx[i] = m.strs[o], m.sidx[o]
			}
			m.strs, m.sidx = strs, sidx
		}
	default:
		return nil, fmt.Errorf("%w: unknown match method", ErrArgs)
	}
	return m, nil
}

// Method returns the matching method.
func (m *Matcher) Method() MatchMethod { return m.method }

// Len returns the number of patterns.
func (m *Matcher) Len() int { return m.n }

// Match reports whether v matches any pattern. v is converted to the
// method's input type first; a value that cannot be converted does not
// match.
func (m *Matcher) Match(ctx *Ctx, v sample.Value) bool {
	_, ok := m.Lookup(ctx, v)
	return ok
}

// Lookup returns the index (in the order given to NewMatcher, operators not
// counted) of the pattern v matches. Exact strings and addresses prefer the
// most specific pattern and prefixes the longest, as HAProxy's trees do;
// the other methods take the first match in order.
func (m *Matcher) Lookup(ctx *Ctx, v sample.Value) (int, bool) {
	if v.Type == sample.TypeNone {
		return 0, false
	}
	if m.method == MatchFound {
		return 0, true
	}
	v, ok := Cast(ctx, v, m.method.Input())
	if !ok {
		return 0, false
	}
	switch m.method {
	case MatchBool:
		return 0, v.Int != 0
	case MatchInt:
		return m.lookupInt(v.Int)
	case MatchLen:
		return m.lookupInt(int64(len(v.Bytes)))
	case MatchIP:
		return m.lookupIP(v.IP)
	case MatchBin:
		for i, p := range m.strs {
			if bytes.Equal(v.Bytes, p) {
				return int(m.sidx[i]), true
			}
		}
	case MatchReg:
		for i, re := range m.res {
			if re.Match(v.Bytes) {
				return i, true
			}
		}
	case MatchStr:
		return m.lookupStr(v.Bytes)
	case MatchBeg:
		for i, p := range m.strs {
			if len(p) <= len(v.Bytes) && m.equal(v.Bytes[:len(p)], p) {
				return int(m.sidx[i]), true
			}
		}
	case MatchEnd:
		for i, p := range m.strs {
			if len(p) <= len(v.Bytes) && m.equal(v.Bytes[len(v.Bytes)-len(p):], p) {
				return int(m.sidx[i]), true
			}
		}
	case MatchSub:
		for i, p := range m.strs {
			if m.contains(v.Bytes, p) {
				return int(m.sidx[i]), true
			}
		}
	case MatchDir:
		for i, p := range m.strs {
			if matchWord(v.Bytes, p, m.icase, isDirDelim) {
				return int(m.sidx[i]), true
			}
		}
	case MatchDom:
		for i, p := range m.strs {
			if matchWord(v.Bytes, p, m.icase, isDomDelim) {
				return int(m.sidx[i]), true
			}
		}
	}
	return 0, false
}

func (m *Matcher) equal(a, b []byte) bool {
	if m.icase {
		return session.EqualFold(a, b)
	}
	return bytes.Equal(a, b)
}

func (m *Matcher) contains(s, p []byte) bool {
	if !m.icase {
		return bytes.Contains(s, p)
	}
	for i := 0; i+len(p) <= len(s); i++ {
		if session.EqualFold(s[i:i+len(p)], p) {
			return true
		}
	}
	return false
}

func (m *Matcher) lookupStr(b []byte) (int, bool) {
	if !m.icase {
		i, ok := m.exact[string(b)]
		return int(i), ok
	}
	var buf [256]byte
	if len(b) <= len(buf) {
		l := buf[:len(b)]
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			l[i] = c
		}
		i, ok := m.exact[string(l)]
		return int(i), ok
	}
	for i, p := range m.strs {
		if session.EqualFold(b, p) {
			return int(m.sidx[i]), true
		}
	}
	return 0, false
}

func (m *Matcher) lookupInt(n int64) (int, bool) {
	for _, r := range m.ints {
		if n >= r.lo && n <= r.hi {
			return int(r.idx), true
		}
	}
	return 0, false
}

func (m *Matcher) lookupIP(a netip.Addr) (int, bool) {
	if a.Is4() {
		b := a.As4()
		u := binary.BigEndian.Uint32(b[:])
		for _, n := range m.v4 {
			if u&n.mask == n.addr {
				return int(n.idx), true
			}
		}
		if len(m.v6) > 0 {
			mapped := netip.AddrFrom16(a.As16())
			for _, n := range m.v6 {
				if n.p.Contains(mapped) {
					return int(n.idx), true
				}
			}
		}
		return 0, false
	}
	for _, n := range m.v6 {
		if n.p.Contains(a) {
			return int(n.idx), true
		}
	}
	// An IPv6 address carrying an IPv4 one (::ffff:a.b.c.d, ::a.b.c.d or
	// 2002:AABB:CCDD::) matches IPv4 patterns, as in HAProxy.
	if len(m.v4) > 0 {
		b := a.As16()
		var u uint32
		switch {
		case isZero(b[:10]) && (b[10] == 0xff && b[11] == 0xff || b[10] == 0 && b[11] == 0):
			u = binary.BigEndian.Uint32(b[12:])
		case b[0] == 0x20 && b[1] == 0x02:
			u = binary.BigEndian.Uint32(b[2:6])
		default:
			return 0, false
		}
		for _, n := range m.v4 {
			if u&n.mask == n.addr {
				return int(n.idx), true
			}
		}
	}
	return 0, false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseIntPattern parses "N", "N:M", ":M", "N:" under operator op.
func parseIntPattern(op, p string) (intRange, error) {
	bad := func() (intRange, error) {
		return intRange{}, fmt.Errorf("%w: %q is not an integer, a range (N:M) or an operator (eq, ge, gt, le, lt)", ErrArgs, p)
	}
	r := intRange{lo: math.MinInt64, hi: math.MaxInt64}
	if op != "" {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return bad()
		}
		switch op {
		case "eq":
			r.lo, r.hi = n, n
		case "ge":
			r.lo = n
		case "gt":
			if n == math.MaxInt64 {
				r.lo, r.hi = 1, 0 // empty
			} else {
				r.lo = n + 1
			}
		case "le":
			r.hi = n
		case "lt":
			if n == math.MinInt64 {
				r.lo, r.hi = 1, 0
			} else {
				r.hi = n - 1
			}
		}
		return r, nil
	}
	lo, hi, isRange := strings.Cut(p, ":")
	if !isRange {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return bad()
		}
		r.lo, r.hi = n, n
		return r, nil
	}
	if lo == "" && hi == "" {
		return bad()
	}
	if lo != "" {
		n, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			return bad()
		}
		r.lo = n
	}
	if hi != "" {
		n, err := strconv.ParseInt(hi, 10, 64)
		if err != nil {
			return bad()
		}
		r.hi = n
	}
	if r.lo > r.hi {
		return intRange{}, fmt.Errorf("%w: range %q is empty", ErrArgs, p)
	}
	return r, nil
}

// addIP parses an address pattern: IPv4 (also the abbreviated "10.12"
// forms inet_aton accepts) with an optional "/bits" or "/dotted.mask", or
// IPv6 with an optional "/bits".
func (m *Matcher) addIP(p string) error {
	addr, mask, hasMask := strings.Cut(p, "/")
	if strings.Contains(addr, ":") {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return fmt.Errorf("%w: %q is not an IPv6 address or network", ErrArgs, p)
		}
		nbits := 128
		if hasMask {
			nbits, err = strconv.Atoi(mask)
			if err != nil || nbits < 0 || nbits > 128 {
				return fmt.Errorf("%w: %q: IPv6 masks are bit counts from 0 to 128", ErrArgs, p)
			}
		}
		// A v4-mapped network is an IPv4 one.
		if a.Is4In6() && nbits >= 96 {
			return m.addIP4(a.Unmap().As4(), nbits-96, int32(m.n))
		}
		m.v6 = append(m.v6, net6{p: netip.PrefixFrom(a, nbits).Masked(), idx: int32(m.n)})
		return nil
	}
	a, ok := parseInetAton(addr)
	if !ok {
		return fmt.Errorf("%w: %q is not an IPv4 address or network (host names are not resolved)", ErrArgs, p)
	}
	nbits := 32
	if hasMask {
		if n, err := strconv.Atoi(mask); err == nil {
			if n < 0 || n > 32 {
				return fmt.Errorf("%w: %q: IPv4 masks are 0 to 32 bits", ErrArgs, p)
			}
			nbits = n
		} else {
			mb, ok := parseAddr4([]byte(mask))
			if !ok {
				return fmt.Errorf("%w: %q: bad mask %q", ErrArgs, p, mask)
			}
			mu := binary.BigEndian.Uint32(mb[:])
			m.v4 = append(m.v4, net4{addr: binary.BigEndian.Uint32(a[:]) & mu, mask: mu, bits: bits.OnesCount32(mu), idx: int32(m.n)})
			return nil
		}
	}
	return m.addIP4(a, nbits, int32(m.n))
}

func (m *Matcher) addIP4(a [4]byte, nbits int, idx int32) error {
	var mask uint32
	if nbits > 0 {
		mask = ^uint32(0) << (32 - nbits)
	}
	m.v4 = append(m.v4, net4{addr: binary.BigEndian.Uint32(a[:]) & mask, mask: mask, bits: nbits, idx: idx})
	return nil
}

// parseInetAton parses a.b.c.d, a.b.c (c is 16 bits), a.b (b is 24 bits)
// and a (32 bits), in decimal, as inet_aton does for HAProxy's patterns.
func parseInetAton(s string) ([4]byte, bool) {
	var out [4]byte
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return out, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 10 {
			return out, false
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return out, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 255 {
			return out, false
		}
		out[i] = byte(vals[i])
	}
	rem := 4 - last
	if vals[last] >= 1<<(8*rem) {
		return out, false
	}
	for i := 3; i >= last; i-- {
		out[i] = byte(vals[last])
		vals[last] >>= 8
	}
	return out, true
}

func isDirDelim(c byte) bool { return c == '/' }

func isDomDelim(c byte) bool { return c == '/' || c == '?' || c == '.' || c == ':' }

// matchWord reports whether p, with leading and trailing delimiters
// removed, appears in s delimited by delimiters or the ends of s (HAProxy's
// match_word, used by -m dir and -m dom).
func matchWord(s, p []byte, icase bool, delim func(byte) bool) bool {
	for len(p) > 0 && delim(p[0]) {
		p = p[1:]
	}
	for len(p) > 0 && delim(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	if len(p) == 0 || len(p) > len(s) {
		return false
	}
	mayMatch := true
	for i := 0; i+len(p) <= len(s); i++ {
		if delim(s[i]) {
			mayMatch = true
			continue
		}
		if !mayMatch {
			continue
		}
		w := s[i : i+len(p)]
		eq := bytes.Equal(w, p)
		if icase {
			eq = session.EqualFold(w, p)
		}
		if eq && (i+len(p) == len(s) || delim(s[i+len(p)])) {
			return true
		}
		mayMatch = false
	}
	return false
}
