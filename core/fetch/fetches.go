package fetch

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/sample"
)

const (
	conn = abi.LayerConn
	sess = abi.LayerSess
	strm = abi.LayerStrm
	txn  = abi.LayerTxn
)

var (
	ver10 = []byte("1.0")
	ver11 = []byte("1.1")
)

func none() (sample.Value, bool) { return sample.Value{}, false }

// builtinFetches is the table NewRegistry installs.
func builtinFetches() []Fetch {
	fs := []Fetch{
		// Layer 4: the client connection.
		{Name: "src", Needs: conn, Out: sample.TypeIP, Fn: fetchSrc},
		{Name: "src_port", Needs: conn, Out: sample.TypeInt, Fn: fetchSrcPort},
		{Name: "dst", Needs: conn, Out: sample.TypeIP, Fn: fetchDst},
		{Name: "dst_port", Needs: conn, Out: sample.TypeInt, Fn: fetchDstPort},

		// Session and stream.
		{Name: "fe_name", Needs: sess, Out: sample.TypeStr, Fn: fetchFeName},
		{Name: "be_name", Needs: strm, Out: sample.TypeStr, Fn: fetchBeName},
		{Name: "srv_name", Needs: strm, Out: sample.TypeStr, Fn: fetchSrvName},
		{Name: "req.len", Needs: strm, Out: sample.TypeInt, Fn: fetchReqLen},
		{Name: "req_len", Needs: strm, Out: sample.TypeInt, Fn: fetchReqLen},
		{Name: "req.payload", Needs: strm, MinArgs: 2, MaxArgs: 2, ArgKinds: []ArgKind{ArgInt, ArgInt},
			Out: sample.TypeBin, Check: checkPayload, Fn: fetchPayload},

		// HTTP request.
		{Name: "method", Needs: txn, Out: sample.TypeStr, Fn: fetchMethod},
		{Name: "path", Needs: txn, Out: sample.TypeStr, Fn: fetchPath},
		{Name: "url", Needs: txn, Out: sample.TypeStr, Fn: fetchURL},
		{Name: "query", Needs: txn, Out: sample.TypeStr, Fn: fetchQuery},
		{Name: "base", Needs: txn, Out: sample.TypeStr, Fn: fetchBase},
		{Name: "req.ver", Needs: txn, Out: sample.TypeStr, Fn: fetchReqVer},
		{Name: "res.ver", Needs: txn, Out: sample.TypeStr, Fn: fetchResVer},
		{Name: "status", Needs: txn, Out: sample.TypeInt, Fn: fetchStatus},

		// Constants and variables.
		{Name: "always_true", Out: sample.TypeBool, Fn: func(*Ctx, []Arg) (sample.Value, bool) { return sample.Bool(true), true }},
		{Name: "always_false", Out: sample.TypeBool, Fn: func(*Ctx, []Arg) (sample.Value, bool) { return sample.Bool(false), true }},
		{Name: "int", MinArgs: 1, MaxArgs: 1, ArgKinds: []ArgKind{ArgInt}, Out: sample.TypeInt,
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.Int(a[0].Int), true }},
		{Name: "bool", MinArgs: 1, MaxArgs: 1, ArgKinds: []ArgKind{ArgInt}, Out: sample.TypeBool,
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.Bool(a[0].Int != 0), true }},
		{Name: "str", MinArgs: 1, MaxArgs: 1, Out: sample.TypeStr,
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.Str(a[0].Bytes), true }},
		{Name: "bin", MinArgs: 1, MaxArgs: 1, Out: sample.TypeBin, Check: checkHexArg,
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.Bin(a[0].Val.([]byte)), true }},
		{Name: "ipv4", MinArgs: 1, MaxArgs: 1, Out: sample.TypeIP, Check: checkAddrArg(true),
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.IP(a[0].Val.(netip.Addr)), true }},
		{Name: "ipv6", MinArgs: 1, MaxArgs: 1, Out: sample.TypeIP, Check: checkAddrArg(false),
			Fn: func(_ *Ctx, a []Arg) (sample.Value, bool) { return sample.IP(a[0].Val.(netip.Addr)), true }},
		{Name: "var", MinArgs: 1, MaxArgs: 2, ArgKinds: []ArgKind{ArgVar, ArgStr}, Out: sample.TypeNone, Fn: fetchVar},
	}

	// Header fetches come in request/response pairs and with HAProxy's
	// historical aliases.
	hdr := func(name string, side fieldSide) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 2, ArgKinds: []ArgKind{ArgStr, ArgInt}, Out: sample.TypeStr,
			Fn: side.hdr, Next: side.hdrNext}
	}
	hdrCnt := func(name string, side fieldSide) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 1, Out: sample.TypeInt, Fn: side.hdrCnt}
	}
	fhdr := func(name string, side fieldSide) Fetch {
		return Fetch{Name: name, Needs: txn, MinArgs: 1, MaxArgs: 2, ArgKinds: []ArgKind{ArgStr, ArgInt}, Out: sample.TypeStr,
			Fn: side.fhdr, Next: side.fhdrNext}
	}
	fhdrCnt := func(name string, side fieldSide) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 1, Out: sample.TypeInt, Fn: side.fhdrCnt}
	}
	hdrIP := func(name string) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 2, ArgKinds: []ArgKind{ArgStr, ArgInt}, Out: sample.TypeIP,
			Fn: fetchHdrIP, Next: nextHdrIP}
	}
	hdrVal := func(name string) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 2, ArgKinds: []ArgKind{ArgStr, ArgInt}, Out: sample.TypeInt,
			Fn: fetchHdrVal, Next: nextHdrVal}
	}
	cook := func(name string) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 1, Out: sample.TypeStr, Fn: fetchCook, Next: nextCook}
	}
	cookCnt := func(name string) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 1, Out: sample.TypeInt, Fn: fetchCookCnt}
	}
	urlParam := func(name string) Fetch {
		return Fetch{Name: name, Needs: txn, MaxArgs: 2, Out: sample.TypeStr, Check: checkURLParam,
			Fn: fetchURLParam, Next: nextURLParam}
	}
	fs = append(fs,
		hdr("req.hdr", reqSide), hdr("hdr", reqSide), hdr("res.hdr", respSide), hdr("shdr", respSide),
		hdrCnt("req.hdr_cnt", reqSide), hdrCnt("hdr_cnt", reqSide), hdrCnt("res.hdr_cnt", respSide), hdrCnt("shdr_cnt", respSide),
		fhdr("req.fhdr", reqSide), fhdr("res.fhdr", respSide),
		fhdrCnt("req.fhdr_cnt", reqSide), fhdrCnt("res.fhdr_cnt", respSide),
		hdrIP("req.hdr_ip"), hdrIP("hdr_ip"),
		hdrVal("req.hdr_val"), hdrVal("hdr_val"),
		cook("req.cook"), cook("cook"),
		cookCnt("req.cook_cnt"), cookCnt("cook_cnt"),
		urlParam("url_param"), urlParam("urlp"),
	)
	fs = append(fs, sslFetches()...)
	return fs
}

// ---- layer 4, session, stream ----

func fetchSrc(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Conn == nil || !ctx.Conn.Src.IsValid() {
		return none()
	}
	return sample.IP(ctx.Conn.Src.Addr().Unmap()), true
}

func fetchSrcPort(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Conn == nil || !ctx.Conn.Src.IsValid() {
		return none()
	}
	return sample.Int(int64(ctx.Conn.Src.Port())), true
}

func fetchDst(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Conn == nil || !ctx.Conn.Dst.IsValid() {
		return none()
	}
	return sample.IP(ctx.Conn.Dst.Addr().Unmap()), true
}

func fetchDstPort(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Conn == nil || !ctx.Conn.Dst.IsValid() {
		return none()
	}
	return sample.Int(int64(ctx.Conn.Dst.Port())), true
}

// strValue returns s as a str sample without allocating: the bytes live in
// ctx's scratch arena.
func strValue(ctx *Ctx, s string) sample.Value {
	b := ctx.Scratch(len(s))
	copy(b, s)
	return sample.Str(b)
}

func fetchFeName(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Sess == nil || ctx.Sess.Frontend == "" {
		return none()
	}
	return strValue(ctx, ctx.Sess.Frontend), true
}

func fetchBeName(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Strm == nil || ctx.Strm.Backend == "" {
		return none()
	}
	return strValue(ctx, ctx.Strm.Backend), true
}

func fetchSrvName(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Strm == nil || ctx.Strm.Server == "" {
		return none()
	}
	return strValue(ctx, ctx.Strm.Server), true
}

func fetchReqLen(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Strm == nil {
		return none()
	}
	return sample.Int(int64(len(ctx.Strm.Content))), true
}

func checkPayload(args []Arg) error {
	if args[0].Int < 0 || args[1].Int < 0 {
		return fmt.Errorf("%w: offset and length must not be negative", ErrArgs)
	}
	return nil
}

func fetchPayload(ctx *Ctx, args []Arg) (sample.Value, bool) {
	if ctx.Strm == nil {
		return none()
	}
	c := ctx.Strm.Content
	off, n := args[0].Int, args[1].Int
	if off > int64(len(c)) {
		return none()
	}
	if n == 0 {
		return sample.Bin(c[off:]), true
	}
	if n > int64(len(c))-off {
		return none() // not received yet
	}
	return sample.Bin(c[off : off+n]), true
}

// ---- HTTP request line and response status ----

func fetchMethod(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || len(ctx.Txn.Req.Method) == 0 {
		return none()
	}
	return sample.Str(ctx.Txn.Req.Method), true
}

func fetchPath(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Req.Path == nil {
		return none()
	}
	return sample.Str(ctx.Txn.Req.Path), true
}

func fetchURL(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Req.URI == nil {
		return none()
	}
	return sample.Str(ctx.Txn.Req.URI), true
}

func fetchQuery(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Req.Query == nil {
		return none()
	}
	return sample.Str(ctx.Txn.Req.Query), true
}

var hostName = []byte("host")

func fetchBase(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Req.Path == nil {
		return none()
	}
	path := ctx.Txn.Req.Path
	host, ok := firstField(ctx.Txn.Req.Fields, hostName)
	if !ok || len(host) == 0 {
		return sample.Str(path), true
	}
	host = trimOWS(host)
	b := ctx.Scratch(len(host) + len(path))
	copy(b, host)
	copy(b[len(host):], path)
	return sample.Str(b), true
}

func fetchReqVer(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Req.Method == nil {
		return none()
	}
	if ctx.Txn.Req.Minor == 0 {
		return sample.Str(ver10), true
	}
	return sample.Str(ver11), true
}

func fetchResVer(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Resp.Status == 0 {
		return none()
	}
	if ctx.Txn.Resp.Minor == 0 {
		return sample.Str(ver10), true
	}
	return sample.Str(ver11), true
}

func fetchStatus(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Txn == nil || ctx.Txn.Resp.Status == 0 {
		return none() // no response yet
	}
	return sample.Int(int64(ctx.Txn.Resp.Status)), true
}

// ---- headers ----

// fieldSide selects the request or the response fields.
type fieldSide struct {
	hdr, fhdr         func(ctx *Ctx, args []Arg) (sample.Value, bool)
	hdrCnt, fhdrCnt   func(ctx *Ctx, args []Arg) (sample.Value, bool)
	hdrNext, fhdrNext func(ctx *Ctx, args []Arg, cursor uint64) (sample.Value, uint64, bool)
}

func reqFields(ctx *Ctx) ([]h1.Field, bool) {
	if ctx.Txn == nil {
		return nil, false
	}
	return ctx.Txn.Req.Fields, true
}

func respFields(ctx *Ctx) ([]h1.Field, bool) {
	if ctx.Txn == nil || ctx.Txn.Resp.Status == 0 {
		return nil, false
	}
	return ctx.Txn.Resp.Fields, true
}

var (
	reqSide  = newSide(reqFields)
	respSide = newSide(respFields)
)

// argName returns the header name argument (empty: every field).
func argName(args []Arg) []byte {
	if len(args) > 0 {
		return args[0].Bytes
	}
	return nil
}

// argOcc returns the occurrence argument and whether one was given.
func argOcc(args []Arg) (int64, bool) {
	if len(args) > 1 {
		return args[1].Int, true
	}
	return 0, false
}

func newSide(fields func(*Ctx) ([]h1.Field, bool)) fieldSide {
	var s fieldSide
	s.hdr = func(ctx *Ctx, args []Arg) (sample.Value, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return none()
		}
		occ, _ := argOcc(args)
		v, ok := elemAt(fs, argName(args), occ)
		return sample.Str(v), ok
	}
	s.hdrNext = func(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return sample.Value{}, 0, false
		}
		if occ, given := argOcc(args); given {
			if cur != 0 {
				return sample.Value{}, 0, false
			}
			v, ok := elemAt(fs, argName(args), occ)
			return sample.Str(v), 1, ok
		}
		v, next, ok := nextElemIn(fs, argName(args), cur)
		return sample.Str(v), next, ok
	}
	s.fhdr = func(ctx *Ctx, args []Arg) (sample.Value, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return none()
		}
		occ, _ := argOcc(args)
		v, ok := fieldAt(fs, argName(args), occ)
		return sample.Str(trimOWS(v)), ok
	}
	s.fhdrNext = func(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return sample.Value{}, 0, false
		}
		if occ, given := argOcc(args); given {
			if cur != 0 {
				return sample.Value{}, 0, false
			}
			v, ok := fieldAt(fs, argName(args), occ)
			return sample.Str(trimOWS(v)), 1, ok
		}
		v, next, ok := nextFieldIn(fs, argName(args), cur)
		return sample.Str(trimOWS(v)), next, ok
	}
	s.hdrCnt = func(ctx *Ctx, args []Arg) (sample.Value, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return none()
		}
		return sample.Int(int64(countElems(fs, argName(args)))), true
	}
	s.fhdrCnt = func(ctx *Ctx, args []Arg) (sample.Value, bool) {
		fs, ok := fields(ctx)
		if !ok {
			return none()
		}
		return sample.Int(int64(countFields(fs, argName(args)))), true
	}
	return s
}

// parseHdrIP parses a header element as an address the way HAProxy's
// req.hdr_ip does: IPv4 optionally followed by ":port", or IPv6, optionally
// in brackets followed by ":port".
func parseHdrIP(b []byte) (netip.Addr, bool) {
	if len(b) > 0 && b[0] == '[' {
		end := -1
		for i := range b {
			if b[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 || (end+1 < len(b) && !validPort(b[end+1:])) {
			return netip.Addr{}, false
		}
		a, ok := ParseAddr(b[1:end])
		return a, ok && a.Is6()
	}
	colons, last := 0, -1
	for i, c := range b {
		if c == ':' {
			colons++
			last = i
		}
	}
	if colons == 1 {
		if !validPort(b[last:]) {
			return netip.Addr{}, false
		}
		b = b[:last]
	}
	return ParseAddr(b)
}

// validPort reports whether p is ":" followed by a decimal port 0-65535.
func validPort(p []byte) bool {
	if len(p) < 2 || len(p) > 6 || p[0] != ':' {
		return false
	}
	n := 0
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func fetchHdrIP(ctx *Ctx, args []Arg) (sample.Value, bool) {
	v, ok := reqSide.hdr(ctx, args)
	if !ok {
		return none()
	}
	a, ok := parseHdrIP(v.Bytes)
	return sample.IP(a), ok
}

func nextHdrIP(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
	for {
		v, next, ok := reqSide.hdrNext(ctx, args, cur)
		if !ok {
			return sample.Value{}, 0, false
		}
		if a, ok := parseHdrIP(v.Bytes); ok {
			return sample.IP(a), next, true
		}
		cur = next
	}
}

func fetchHdrVal(ctx *Ctx, args []Arg) (sample.Value, bool) {
	v, ok := reqSide.hdr(ctx, args)
	if !ok {
		return none()
	}
	n, ok := ParseIntPrefix(v.Bytes)
	return sample.Int(n), ok
}

func nextHdrVal(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
	for {
		v, next, ok := reqSide.hdrNext(ctx, args, cur)
		if !ok {
			return sample.Value{}, 0, false
		}
		if n, ok := ParseIntPrefix(v.Bytes); ok {
			return sample.Int(n), next, true
		}
		cur = next
	}
}

// ---- cookies and URL parameters ----

func fetchCook(ctx *Ctx, args []Arg) (sample.Value, bool) {
	if ctx.Txn == nil {
		return none()
	}
	v, ok := lastCookie(ctx.Txn.Req.Fields, argName(args))
	return sample.Str(v), ok
}

func nextCook(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
	if ctx.Txn == nil {
		return sample.Value{}, 0, false
	}
	v, next, ok := nextCookieIn(ctx.Txn.Req.Fields, argName(args), cur)
	return sample.Str(v), next, ok
}

func fetchCookCnt(ctx *Ctx, args []Arg) (sample.Value, bool) {
	if ctx.Txn == nil {
		return none()
	}
	return sample.Int(int64(countCookies(ctx.Txn.Req.Fields, argName(args)))), true
}

func checkURLParam(args []Arg) error {
	if len(args) > 1 && len(args[1].Str) != 1 {
		return fmt.Errorf("%w: delimiter must be a single character, got %q", ErrArgs, args[1].Str)
	}
	return nil
}

func paramDelim(args []Arg) byte {
	if len(args) > 1 {
		return args[1].Str[0]
	}
	return '?'
}

func fetchURLParam(ctx *Ctx, args []Arg) (sample.Value, bool) {
	if ctx.Txn == nil {
		return none()
	}
	delim := paramDelim(args)
	list, ok := paramList(ctx.Txn.Req.URI, delim)
	if !ok {
		return none()
	}
	v, _, ok := nextParam(list, argName(args), delim, 0)
	return sample.Str(v), ok
}

func nextURLParam(ctx *Ctx, args []Arg, cur uint64) (sample.Value, uint64, bool) {
	if ctx.Txn == nil {
		return sample.Value{}, 0, false
	}
	delim := paramDelim(args)
	list, ok := paramList(ctx.Txn.Req.URI, delim)
	if !ok || cur > uint64(len(list)) {
		return sample.Value{}, 0, false
	}
	// The cursor is the offset to resume from; the first parameter starts
	// at 0 and every later one after a delimiter, so it is never 0 again.
	v, next, ok := nextParam(list, argName(args), delim, int(cur))
	return sample.Str(v), uint64(next), ok
}

// ---- constants and variables ----

func checkHexArg(args []Arg) error {
	b, err := hex.DecodeString(args[0].Str)
	if err != nil {
		return fmt.Errorf("%w: %q is not an even number of hexadecimal digits", ErrArgs, args[0].Str)
	}
	args[0].Val = b
	return nil
}

func checkAddrArg(v4 bool) func(args []Arg) error {
	return func(args []Arg) error {
		a, err := netip.ParseAddr(args[0].Str)
		if err != nil || a.Is4() != v4 || a.Zone() != "" {
			want := "IPv6"
			if v4 {
				want = "IPv4"
			}
			return fmt.Errorf("%w: %q is not an %s address", ErrArgs, args[0].Str, want)
		}
		args[0].Val = a
		return nil
	}
}

func fetchVar(ctx *Ctx, args []Arg) (sample.Value, bool) {
	if v, ok := args[0].Var.Get(ctx); ok {
		return v, true
	}
	if len(args) > 1 {
		return sample.Str(args[1].Bytes), true
	}
	return none()
}
