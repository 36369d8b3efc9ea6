package config

import (
	"math"
	"net/netip"
	"strings"
	"time"
)

// Frontend is one entry of `frontends`: where clients connect and what
// happens to their streams.
type Frontend struct {
	Name string
	Path string // "frontends.NAME"
	// Bind lists the addresses to listen on, as host:port (IPv6 in
	// brackets; an empty host listens on every address; port 0 takes any
	// free port). At least one.
	Bind     []string
	Mode     Mode // `mode`: http (default) or tcp
	Timeouts FrontendTimeouts
	MaxConn  int // `maxconn`: client connections held at once (at the limit the frontend stops accepting); default 0, no limit beyond global.maxconn

	// ACLs maps an ACL name to its conditions (`acls: { name: "cond" }`
	// or a list: an ACL with several conditions matches when any does).
	// ACLOrder holds the names in file order; the path of ACL n is
	// ACLPath + "." + n, of its condition i ACLPath + "." + n + "[i]".
	ACLs     map[string][]string
	ACLOrder []string
	ACLPath  string

	// Rule lists, in HAProxy's compact form, as written.
	// tcp_request_connection runs at accept, before the PROXY protocol
	// and TLS handshakes: it sees the real addresses, and ssl_* fetches
	// give no sample there. tcp_request_session runs after them.
	TCPRequestConnection Rules // `tcp_request_connection`
	TCPRequestSession    Rules // `tcp_request_session`
	TCPRequestContent    Rules // `tcp_request_content`
	HTTPRequest          Rules // `http_request` (http mode only)
	HTTPResponse         Rules // `http_response` (http mode only)
	HTTPAfterResponse    Rules // `http_after_response` (http mode only)
	UseBackend           Rules // `use_backend`: "NAME [if|unless COND]"
	UseService           Rules // `use_service`: "NAME [if|unless COND]"

	// DefaultBackend names the backend of streams that no use_backend or
	// use_service rule decides. Required when both lists are empty; its
	// mode must be the frontend's.
	DefaultBackend string
	// ForwardFor adds the client address in a header (http mode only):
	// `forward_for: true`, or `{ header: NAME, except: [PREFIX, …] }`
	// (header defaults to x-forwarded-for; clients in except are not
	// added). nil when off, the default.
	ForwardFor *ForwardFor
	// Forwarded adds an RFC 7239 Forwarded field (http mode only);
	// default false.
	Forwarded bool
	// AcceptProxy requires a PROXY protocol header (version 1 or 2) at
	// the start of every connection on the frontend's binds
	// (`accept_proxy`); the addresses it gives become the connection's
	// (src, dst, the access log), except for tcp_request_connection
	// rules, which see the real ones. Default false. Only enable it
	// behind proxies you trust: a client could otherwise claim any
	// address.
	AcceptProxy bool
	// TLS terminates TLS on the frontend's binds (`tls`); nil (the
	// default) serves plain TCP.
	TLS *FrontendTLS
	// H2 tunes HTTP/2 and enables cleartext h2c (`h2`); nil keeps the
	// defaults: HTTP/2 over TLS when tls.alpn offers h2, no h2c.
	H2 *FrontendH2
	// Filters is the frontend's HTTP filter chain (`filters`), in order;
	// http mode only.
	Filters []Filter
}

// FrontendTimeouts is `frontends.NAME.timeouts`.
type FrontendTimeouts struct {
	// Client is the client inactivity timeout; default 30s.
	Client time.Duration
	// HTTPRequest bounds the wait for a complete request head; default 10s.
	HTTPRequest time.Duration
	// HTTPKeepAlive bounds the wait for the next request on a keep-alive
	// connection; default 15s, or http_request when only that is set (as
	// HAProxy does).
	HTTPKeepAlive time.Duration
}

// ForwardFor is the `forward_for` setting.
type ForwardFor struct {
	Header string         // default x-forwarded-for
	Except []netip.Prefix // client prefixes not added (IPv4 unmapped)
}

// backendOnly are frontend mistakes worth a precise fix.
var backendOnly = map[string]string{
	"servers":      "servers belong in a backend: move them under backends.NAME.servers",
	"balance":      "balance belongs in a backend: move it under backends.NAME",
	"health_check": "health_check belongs in a backend: move it under backends.NAME",
	"send_proxy":   "send_proxy belongs to a server: set it under backends.NAME.servers.NAME (accept_proxy receives the header)",
}

func (d *decoder) frontend(name, path string, v any) *Frontend {
	o := d.entity(path, v)
	o.elsewhere = backendOnly
	f := &Frontend{Name: name, Path: path}
	bv, bp := o.get("bind")
	f.Bind = d.list(bp, bv)
	_, isList := bv.([]any)
	for i, a := range f.Bind {
		p := bp
		if isList || len(f.Bind) > 1 {
			p = indexPath(bp, i)
		}
		hp, msg, fix := parseHostPort(a, true)
		if msg != "" {
			d.errorf(p, fix, "%s", msg)
			continue
		}
		d.binds = append(d.binds, bound{hp, p, a})
	}
	f.Mode = o.mode("mode")

	t := o.sub("timeouts")
	f.Timeouts.Client, _ = t.duration("client", DefaultClientTimeout, 1)
	req, reqSet := t.duration("http_request", DefaultHTTPRequestTimeout, 1)
	ka, kaSet := t.duration("http_keep_alive", DefaultHTTPKeepAliveTimeout, 1)
	if reqSet && !kaSet {
		ka = req
	}
	f.Timeouts.HTTPRequest, f.Timeouts.HTTPKeepAlive = req, ka
	t.done()

	f.MaxConn = o.integer("maxconn", 0, 0, math.MaxInt32)
	f.ACLs, f.ACLOrder, f.ACLPath = o.acls("acls")
	f.TCPRequestConnection = o.rules("tcp_request_connection")
	f.TCPRequestSession = o.rules("tcp_request_session")
	f.TCPRequestContent = o.rules("tcp_request_content")
	f.HTTPRequest = o.rules("http_request")
	f.HTTPResponse = o.rules("http_response")
	f.HTTPAfterResponse = o.rules("http_after_response")
	f.UseBackend = o.rules("use_backend")
	f.UseService = o.rules("use_service")
	f.DefaultBackend = o.str("default_backend", "")
	f.ForwardFor = o.forwardFor("forward_for")
	f.Forwarded = o.boolean("forwarded", false)
	f.Filters = o.filters("filters")
	f.AcceptProxy = o.boolean("accept_proxy", false)
	f.TLS = d.frontendTLS(o, f.Mode)
	f.H2 = d.frontendH2(o, f.Mode)
	o.done()

	if len(f.Bind) == 0 && !o.bad && isEmpty(bv) {
		d.errorf(bp, `add at least one address, e.g. bind: ["127.0.0.1:8080"] or [":8080"]`, "required")
	}
	if f.Mode == ModeTCP {
		d.httpOnly(f.Path, "frontend", f.HTTPRequest, f.HTTPResponse, f.HTTPAfterResponse, f.ForwardFor, f.Forwarded)
	}
	return f
}

// httpOnly reports settings that only make sense in http mode.
func (d *decoder) httpOnly(path, what string, req, resp, after Rules, ff *ForwardFor, fwd bool) {
	for _, r := range []Rules{req, resp, after} {
		if len(r.List) > 0 {
			fix := "set mode: http or move the rules to tcp_request_content"
			if what == "backend" {
				fix = "set mode: http or remove the rules"
			}
			d.errorf(r.Path, fix, "HTTP rules in a TCP %s", what)
		}
	}
	if ff != nil {
		d.errorf(joinPath(path, "forward_for"), "set mode: http or remove it (a TCP stream has no header to add)", "forward_for in a TCP %s", what)
	}
	if fwd {
		d.errorf(joinPath(path, "forwarded"), "set mode: http or remove it (a TCP stream has no header to add)", "forwarded in a TCP %s", what)
	}
}

// isEmpty reports whether v is absent, an empty list or a blank string.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}
