package backend

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Algorithm is a load-balancing algorithm (`balance`).
type Algorithm uint8

const (
	AlgoRoundRobin Algorithm = iota // smooth weighted round-robin, dynamic weights
	AlgoStaticRR                    // weighted round-robin over a map built from the weights
	AlgoLeastConn                   // fewest streams per weight, round-robin among equals
	AlgoFirst                       // the first server (in order) with a free slot
	AlgoSource                      // hash of the client address
	AlgoRandom                      // power of N choices among weighted random draws
	AlgoURI                         // hash of the request path (without the query)
	AlgoHdr                         // hash of a request header; round-robin when it is absent
)

// Need says which parts of a stream an algorithm reads from the Key.
type Need uint8

const (
	NeedSrc    Need = 1 << iota // Key.Src
	NeedPath                    // Key.Path
	NeedHeader                  // Key.Hdr (the header named by Backend.HashHeader)
)

// Key is what the engine tells the balancer about a new stream. The engine
// fills only what Backend.Needs asks for; the slices alias the request and
// are read only while the server is being chosen (and chosen again after a
// redistribution), never kept.
type Key struct {
	Src    netip.Addr // client address (source)
	Path   []byte     // request path without the query (uri)
	Hdr    []byte     // value of the first HashHeader field (hdr)
	HasHdr bool
	// Server is a server chosen before balancing (persistence). The stream
	// waits in its queue when it is full, and uses it even in drain. When
	// it is in maint or down, the balancer chooses instead.
	Server *Server
}

// parseBalance reads a `balance` value as the configuration writes it:
// roundrobin, static-rr, leastconn, first, source, random, random(N), uri,
// hdr(NAME).
func parseBalance(s string) (a Algorithm, draws int, header string, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "roundrobin":
		return AlgoRoundRobin, 0, "", true
	case "static-rr":
		return AlgoStaticRR, 0, "", true
	case "leastconn":
		return AlgoLeastConn, 0, "", true
	case "first":
		return AlgoFirst, 0, "", true
	case "source":
		return AlgoSource, 0, "", true
	case "random":
		return AlgoRandom, 2, "", true // HAProxy's default: two draws
	case "uri":
		return AlgoURI, 0, "", true
	}
	if arg, ok := strings.CutPrefix(s, "random("); ok && strings.HasSuffix(arg, ")") {
		n, err := strconv.Atoi(strings.TrimSuffix(arg, ")"))
		if err != nil || n < 1 || n > 100 {
			return 0, 0, "", false
		}
		return AlgoRandom, n, "", true
	}
	if arg, ok := strings.CutPrefix(s, "hdr("); ok && strings.HasSuffix(arg, ")") {
		h := strings.TrimSuffix(arg, ")")
		if h == "" {
			return 0, 0, "", false
		}
		return AlgoHdr, 0, h, true
	}
	return 0, 0, "", false
}

// balancer chooses among the servers the balancer may use now (Backend.lb).
// Every method is called with the backend's lock held.
type balancer interface {
	// rebuild is told the servers the algorithm may choose, in
	// configuration order, whenever that set or a weight changes.
	rebuild(lb []*Server)
	// pick returns a server for k, avoiding avoid when another one can
	// take the stream. With assigned false the server has a free slot and
	// nil means every candidate is full (the stream waits in the backend
	// queue); with assigned true the key designates the server (a hash),
	// which may be full (the stream waits in that server's queue).
	pick(b *Backend, k *Key, avoid *Server) (s *Server, assigned bool)
}

func newBalancer(a Algorithm, draws int, consistent bool) balancer {
	switch a {
	case AlgoStaticRR:
		return &staticRR{}
	case AlgoLeastConn:
		return &leastConn{}
	case AlgoFirst:
		return &first{}
	case AlgoRandom:
		return &random{draws: draws}
	case AlgoSource, AlgoURI, AlgoHdr:
		return &hashed{algo: a, consistent: consistent}
	}
	return &roundRobin{}
}

// roundRobin is smooth weighted round-robin (the nginx algorithm): with
// weights 10 and 5 the servers interleave rather than burst. Weights are
// read at every pick, so runtime changes apply at once. Full servers are
// skipped for this turn.
type roundRobin struct {
	srv     []*Server
	current []int
}

func (r *roundRobin) rebuild(lb []*Server) {
	r.srv = append(r.srv[:0], lb...)
	r.current = slices.Grow(r.current[:0], len(lb))[:len(lb)]
	clear(r.current)
}

func (r *roundRobin) pick(_ *Backend, _ *Key, avoid *Server) (*Server, bool) {
	if s := r.next(avoid); s != nil || avoid == nil {
		return s, false
	}
	return r.next(nil), false
}

func (r *roundRobin) next(avoid *Server) *Server {
	total := 0
	best := -1
	for i, s := range r.srv {
		if s == avoid || s.full() {
			continue
		}
		w := s.Weight()
		r.current[i] += w
		total += w
		if best < 0 || r.current[i] > r.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	r.current[best] -= total
	return r.srv[best]
}

// weightMap lays servers out over total-weight slots, interleaved the way
// smooth weighted round-robin orders them: static-rr walks it, map-based
// hashing indexes it. Weights are first divided by their greatest common
// divisor, so equal weights cost one slot per server.
func weightMap(dst []*Server, lb []*Server) []*Server {
	dst = dst[:0]
	g := 0
	for _, s := range lb {
		g = gcd(g, s.Weight())
	}
	if g == 0 {
		return dst
	}
	total := 0
	for _, s := range lb {
		total += s.Weight() / g
	}
	cur := make([]int, len(lb))
	for range total {
		best := -1
		for i, s := range lb {
			cur[i] += s.Weight() / g
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		dst = append(dst, lb[best])
	}
	return dst
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// staticRR is HAProxy's static-rr: round-robin over a weight map rebuilt
// when a server comes or goes. Weights cannot change at run time beyond 0
// and their configured value (Backend.SetWeight refuses).
type staticRR struct {
	m   []*Server
	pos int
}

func (r *staticRR) rebuild(lb []*Server) {
	r.m = weightMap(r.m, lb)
	r.pos = 0
}

func (r *staticRR) pick(_ *Backend, _ *Key, avoid *Server) (*Server, bool) {
	if s := r.next(avoid); s != nil || avoid == nil {
		return s, false
	}
	return r.next(nil), false
}

func (r *staticRR) next(avoid *Server) *Server {
	n := len(r.m)
	for i := range n {
		s := r.m[(r.pos+i)%n]
		if s != avoid && !s.full() {
			r.pos = (r.pos + i + 1) % n
			return s
		}
	}
	return nil
}

// leastConn picks the server with the fewest streams (served and queued)
// relative to its weight; among equals it goes round-robin, starting after
// the server it picked last.
type leastConn struct {
	srv  []*Server
	last int
}

func (l *leastConn) rebuild(lb []*Server) {
	l.srv = append(l.srv[:0], lb...)
	l.last = len(lb) - 1
}

// lighter reports whether a carries less load per weight than b.
func lighter(a, b *Server) bool {
	la := a.Cur.Load() + a.QueueLen() + 1
	lb := b.Cur.Load() + b.QueueLen() + 1
	return la*int64(b.Weight()) < lb*int64(a.Weight())
}

func (l *leastConn) pick(_ *Backend, _ *Key, avoid *Server) (*Server, bool) {
	if s := l.next(avoid); s != nil || avoid == nil {
		return s, false
	}
	return l.next(nil), false
}

func (l *leastConn) next(avoid *Server) *Server {
	n := len(l.srv)
	best := -1
	for j := 1; j <= n; j++ {
		i := (l.last + j) % n
		s := l.srv[i]
		if s == avoid || s.full() {
			continue
		}
		if best < 0 || lighter(s, l.srv[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	l.last = best
	return l.srv[best]
}

// first fills servers in configuration order: the first one with a free
// slot takes the stream. Weights only say whether a server takes streams
// at all (0 does not), as in HAProxy.
type first struct{ srv []*Server }

func (f *first) rebuild(lb []*Server) { f.srv = append(f.srv[:0], lb...) }

func (f *first) pick(_ *Backend, _ *Key, avoid *Server) (*Server, bool) {
	var fallback *Server
	for _, s := range f.srv {
		if s.full() {
			continue
		}
		if s == avoid {
			fallback = s
			continue
		}
		return s, false
	}
	return fallback, false
}

// random draws servers at random in proportion to their weights and keeps
// the least loaded of `draws` draws (HAProxy's random(N), "power of N
// choices"; N defaults to 2).
type random struct {
	draws int
	srv   []*Server
	cum   []int // cumulative weights
}

func (r *random) rebuild(lb []*Server) {
	r.srv = append(r.srv[:0], lb...)
	r.cum = r.cum[:0]
	total := 0
	for _, s := range lb {
		total += s.Weight()
		r.cum = append(r.cum, total)
	}
}

// busier reports whether a serves more streams than b relative to weight.
func busier(a, b *Server) bool {
	return a.Cur.Load()*int64(b.Weight()) > b.Cur.Load()*int64(a.Weight())
}

func (r *random) pick(_ *Backend, _ *Key, avoid *Server) (*Server, bool) {
	if len(r.srv) == 0 {
		return nil, false
	}
	total := r.cum[len(r.cum)-1]
	var best *Server
	for range r.draws {
		x := rand.IntN(total)
		lo, hi := 0, len(r.cum)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r.cum[m] <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		s := r.srv[lo]
		if s == avoid || s.full() {
			continue
		}
		if best == nil || busier(best, s) {
			best = s
		}
	}
	if best != nil {
		return best, false
	}
	// Every draw hit a full server (or the one to avoid): take the least
	// loaded one that has room.
	var fallback *Server
	for _, s := range r.srv {
		if s.full() {
			continue
		}
		if s == avoid {
			fallback = s
			continue
		}
		if best == nil || busier(best, s) {
			best = s
		}
	}
	if best == nil {
		best = fallback
	}
	return best, false
}

// pointsPerWeight is how many points of the consistent-hash ring a unit of
// weight gives a server (HAProxy gives 16). More points spread keys more
// evenly at the cost of memory (16 bytes a point); a server's expected
// share is proportional to its weight either way. A server's points depend
// only on its name and weight, so they stay put when others come and go.
const pointsPerWeight = 32

type ringPoint struct {
	h   uint64
	srv *Server
}

// hashed is source, uri and hdr: the key's hash designates the server,
// through a weight map (map-based: hash modulo the total weight, so a
// change of the server set moves most keys) or a ring (consistent: each
// server owns weight-proportional points, so removing one moves only the
// keys it owned). A stream without a key (no header, no address) goes
// round-robin.
type hashed struct {
	algo       Algorithm
	consistent bool
	m          []*Server
	ring       []ringPoint
	rr         roundRobin
}

func (h *hashed) rebuild(lb []*Server) {
	h.rr.rebuild(lb)
	if !h.consistent {
		h.m = weightMap(h.m, lb)
		return
	}
	h.ring = h.ring[:0]
	for _, s := range lb {
		n := s.Weight() * pointsPerWeight
		for j := range n {
			h.ring = append(h.ring, ringPoint{h: mix64(s.nameHash + uint64(j)*0x9e3779b97f4a7c15), srv: s})
		}
	}
	slices.SortFunc(h.ring, func(a, b ringPoint) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return a.srv.Index - b.srv.Index
	})
}

func (h *hashed) pick(b *Backend, k *Key, avoid *Server) (*Server, bool) {
	key, ok := h.keyHash(k)
	if !ok {
		return h.rr.pick(b, k, avoid)
	}
	if h.consistent {
		n := len(h.ring)
		if n == 0 {
			return nil, false
		}
		lo, hi := 0, n
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if h.ring[m].h < key {
				lo = m + 1
			} else {
				hi = m
			}
		}
		s := h.ring[lo%n].srv
		if s == avoid {
			// Redispatch: the next server clockwise.
			for i := 1; i < n; i++ {
				if t := h.ring[(lo+i)%n].srv; t != avoid {
					return t, true
				}
			}
		}
		return s, true
	}
	n := len(h.m)
	if n == 0 {
		return nil, false
	}
	i := int(key % uint64(n))
	s := h.m[i]
	if s == avoid {
		for j := 1; j < n; j++ {
			if t := h.m[(i+j)%n]; t != avoid {
				return t, true
			}
		}
	}
	return s, true
}

// keyHash hashes what the algorithm balances on.
func (h *hashed) keyHash(k *Key) (uint64, bool) {
	switch h.algo {
	case AlgoSource:
		if !k.Src.IsValid() {
			return 0, false
		}
		a := k.Src.Unmap()
		if a.Is4() {
			b := a.As4()
			return mix64(fnv1a(b[:])), true
		}
		b := a.As16()
		return mix64(fnv1a(b[:])), true
	case AlgoURI:
		if k.Path == nil {
			return 0, false
		}
		return mix64(fnv1a(k.Path)), true
	case AlgoHdr:
		v := trimSpace(k.Hdr)
		if !k.HasHdr || len(v) == 0 {
			return 0, false
		}
		return mix64(fnv1a(v)), true
	}
	return 0, false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// fnv1a is the 64-bit FNV-1a hash.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser: it spreads every input bit over the
// whole word (HAProxy applies a similar avalanche before consistent
// hashing), so neighbouring keys land far apart.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
