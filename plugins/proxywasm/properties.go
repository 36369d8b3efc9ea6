package proxywasm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/sample"
)

// Properties (proxy_get_property) use Envoy's attribute names and
// encodings: strings as their bytes, integers as 8 bytes little-endian,
// booleans as one byte, timestamps and durations as nanoseconds in 8
// bytes, header maps in the ABI's map encoding. A path is its segments
// joined by NUL ("request\0path", what the SDKs send) or by dots
// ("request.path"). Under "strata." the rest of the path is a sample
// expression ("strata.req.hdr(host)", "strata.sc0_http_req_rate"),
// evaluated as a rule would, with the rules' layer checks: an expression
// that needs the transaction answers NOT_FOUND outside a stream.

// propPath is a property path read once: key is its segments joined by
// dots (the name set_property stores under, and the built-in names'
// form), and the segments are substrings of key, so that a lookup needs
// neither a split nor a join of its own.
type propPath struct {
	key string
	seg [4]string // the segments; a fourth holds all that follows the third
	n   int       // segments in seg
}

// parts are the segments of the path.
func (p *propPath) parts() []string { return p.seg[:p.n] }

// parsePath reads a property path: segments separated by NUL (trailing
// NULs dropped) or, without a NUL, by dots, at most three (the third may
// hold dots: "request.headers.x.y"). Under "strata" the rest is one
// segment, a sample expression.
func parsePath(b []byte) propPath {
	sep, limit := byte('.'), 3
	if bytes.IndexByte(b, 0) >= 0 {
		sep, limit = 0, len(b)+1
		b = bytes.TrimRight(b, "\x00")
	}
	var k strings.Builder
	k.Grow(len(b))
	for _, c := range b {
		if c == 0 {
			c = '.'
		}
		k.WriteByte(c)
	}
	p := propPath{key: k.String()}
	if strings.HasPrefix(p.key, "strata.") {
		p.seg[0], p.seg[1], p.n = "strata", p.key[len("strata."):], 2
		return p
	}
	start := 0
	for i, c := range b {
		if c != sep || p.n+1 == limit {
			continue
		}
		if p.n == len(p.seg)-1 { // a fourth segment: what follows needs no parts of its own
			break
		}
		p.seg[p.n], p.n, start = p.key[start:i], p.n+1, i+1
	}
	p.seg[p.n], p.n = p.key[start:], p.n+1
	return p
}

var errNoProperty = errors.New("no such property")

func i64(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

func boolean(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

// property returns the value of the property at path for the effective
// context.
func (v *vm) property(pp *propPath) ([]byte, error) {
	key, path := pp.key, pp.parts()
	switch key {
	case "plugin_name":
		return []byte(v.f.p.Name()), nil
	case "plugin_root_id":
		return []byte(v.f.cfg.RootID), nil
	case "plugin_vm_id":
		return []byte(vmID), nil
	}
	if v.cur != nil {
		if b, ok := v.cur.props[key]; ok {
			return b, nil
		}
	}
	if b, ok := v.props[key]; ok {
		return b, nil
	}
	if v.cur == nil {
		return nil, errNoProperty
	}
	s := v.cur.s
	if path[0] == "strata" && len(path) == 2 {
		return v.strata(s, path[1])
	}
	switch path[0] {
	case "request":
		return requestProperty(v, s, path)
	case "response":
		return responseProperty(s, path)
	case "source", "destination", "connection":
		return connProperty(s, path)
	case "cluster_name":
		if c := s.Sample(); c != nil && c.Strm != nil && c.Strm.Backend != "" {
			return []byte(c.Strm.Backend), nil
		}
	case "upstream":
		if len(path) == 2 && path[1] == "server" {
			if c := s.Sample(); c != nil && c.Strm != nil && c.Strm.Server != "" {
				return []byte(c.Strm.Server), nil
			}
		}
	}
	return nil, errNoProperty
}

func header(f filter.Fields, name string) ([]byte, error) {
	if f == nil {
		return nil, errNoProperty
	}
	if b, ok := f.Get([]byte(name)); ok {
		return b, nil
	}
	return nil, errNoProperty
}

func requestProperty(v *vm, s filter.Stream, path []string) ([]byte, error) {
	h := s.RequestHeaders()
	if len(path) == 3 && path[1] == "headers" {
		return header(h, path[2])
	}
	if len(path) != 2 {
		return nil, errNoProperty
	}
	c := s.Sample()
	switch path[1] {
	case "path":
		return header(h, ":path")
	case "url_path", "query":
		p, err := header(h, ":path")
		if err != nil {
			return nil, err
		}
		before, after, _ := bytes.Cut(p, []byte("?"))
		if path[1] == "url_path" {
			return before, nil
		}
		return after, nil
	case "host":
		return header(h, ":authority")
	case "scheme":
		return header(h, ":scheme")
	case "method":
		return header(h, ":method")
	case "referer":
		return header(h, "referer")
	case "useragent":
		return header(h, "user-agent")
	case "id":
		return header(h, "x-request-id")
	case "headers":
		if h == nil {
			return nil, errNoProperty
		}
		return encodeFields(nil, h), nil
	case "protocol":
		return []byte(s.Protocol()), nil
	case "time":
		if c != nil && c.Strm != nil {
			return i64(c.Strm.Start.UnixNano()), nil
		}
	case "duration":
		if c != nil && c.Strm != nil {
			return i64(int64(time.Since(c.Strm.Start))), nil
		}
	case "size":
		if b, err := header(h, "content-length"); err == nil {
			if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
				return i64(n), nil
			}
		}
	}
	return nil, errNoProperty
}

func responseProperty(s filter.Stream, path []string) ([]byte, error) {
	h := s.ResponseHeaders()
	if h == nil {
		return nil, errNoProperty
	}
	if len(path) == 3 && path[1] == "headers" {
		return header(h, path[2])
	}
	if len(path) != 2 {
		return nil, errNoProperty
	}
	switch path[1] {
	case "code":
		b, err := header(h, ":status")
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return nil, errNoProperty
		}
		return i64(int64(n)), nil
	case "headers":
		return encodeFields(nil, h), nil
	}
	return nil, errNoProperty
}

var tlsVersions = map[uint16]string{tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
	tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}

func connProperty(s filter.Stream, path []string) ([]byte, error) {
	c := s.Sample()
	if c == nil || len(path) != 2 {
		return nil, errNoProperty
	}
	conn := c.Conn
	if conn == nil && c.Sess != nil {
		conn = c.Sess.Conn
	}
	if conn == nil {
		return nil, errNoProperty
	}
	switch path[0] + "." + path[1] {
	case "source.address":
		return []byte(conn.Src.String()), nil
	case "source.port":
		return i64(int64(conn.Src.Port())), nil
	case "destination.address":
		return []byte(conn.Dst.String()), nil
	case "destination.port":
		return i64(int64(conn.Dst.Port())), nil
	case "connection.id":
		return i64(int64(conn.ID)), nil
	case "connection.mtls":
		return boolean(conn.TLS != nil && conn.TLS.ClientCert), nil
	case "connection.tls_version":
		if conn.TLS != nil {
			return []byte(tlsVersions[conn.TLS.Version]), nil
		}
	case "connection.requested_server_name":
		if conn.TLS != nil {
			return []byte(conn.TLS.SNI), nil
		}
	case "connection.subject_peer_certificate":
		if conn.TLS != nil && conn.TLS.ClientDN != "" {
			return []byte(conn.TLS.ClientDN), nil
		}
	}
	return nil, errNoProperty
}

// strata evaluates a sample expression for the stream.
func (v *vm) strata(s filter.Stream, expr string) ([]byte, error) {
	val, err := v.in.Eval(s.Sample(), []byte(expr))
	if err != nil {
		return nil, errNoProperty
	}
	switch val.Type {
	case sample.TypeBool:
		return boolean(val.Int != 0), nil
	case sample.TypeInt:
		return i64(val.Int), nil
	case sample.TypeIP:
		return []byte(val.IP.String()), nil
	}
	return append([]byte(nil), val.Bytes...), nil
}

// getProperty returns the property at path p as the guest wrote it.
func (v *vm) getProperty(p []byte) ([]byte, error) {
	pp := parsePath(p)
	return v.property(&pp)
}

func hGetProperty(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	p, ok := v.read(s[0], s[1])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	val, err := v.getProperty(p)
	if err != nil {
		ret(s, stNotFound)
		return
	}
	ret(s, v.out(s[2], s[3], val))
}

// hSetProperty stores a property of the effective context (the stream's,
// or the root context's) that later reads return; strata's own
// attributes are read-only (NOT_FOUND).
func hSetProperty(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	p, ok1 := v.read(s[0], s[1])
	val, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	pp := parsePath(p)
	switch pp.seg[0] {
	case "plugin_name", "plugin_root_id", "plugin_vm_id", "request", "response", "source", "destination",
		"connection", "strata", "cluster_name", "upstream":
		ret(s, stNotFound)
		return
	}
	key := pp.key
	if v.cur != nil {
		if v.cur.props == nil {
			v.cur.props = map[string][]byte{}
		}
		v.cur.props[key] = append([]byte(nil), val...)
	} else {
		if v.props == nil {
			v.props = map[string][]byte{}
		}
		v.props[key] = append([]byte(nil), val...)
	}
	ret(s, stOK)
}
