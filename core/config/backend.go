package config

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Backend is one entry of `backends`: a set of servers and how to use
// them.
type Backend struct {
	Name string
	Path string // "backends.NAME"
	Mode Mode   // `mode`: http (default) or tcp; must match the frontends using it
	// Balance is the load-balancing algorithm, in lower case: roundrobin
	// (default), static-rr, leastconn, first, source, random, random(N)
	// (N from 1 to 100: power of N choices), uri or hdr(NAME).
	Balance string
	// HashType is how hash-based algorithms (source, uri, hdr) map a hash
	// to a server: "map-based" (default) or "consistent".
	HashType string
	Timeouts BackendTimeouts
	// Retries is how many times a failed connection to a server is retried;
	// default 3.
	Retries int
	// Redispatch lets a retry go to another server (at once when the server
	// is down, on the last retry, or when nothing pins the stream to it —
	// HAProxy's rule, see core/backend); default false.
	Redispatch bool
	// MaxConn bounds the concurrent streams of the backend; default 0, no
	// limit beyond the servers' own.
	MaxConn int
	// PoolMaxConn bounds the idle pooled connections of each server, the
	// default of the servers' own pool_max_conn (HAProxy's
	// `default-server pool-max-conn`); default 1024, 0 keeps none.
	PoolMaxConn int
	// HealthCheck is `health_check`; nil (the default) means no active
	// checks: every server is taken as up.
	HealthCheck *HealthCheck
	// Observe enables passive checks: "" (default, off), "layer4"
	// (connection errors) or "layer7" (also 5xx responses; http mode
	// only). ErrorLimit consecutive errors mark a server down; default 10.
	Observe    string
	ErrorLimit int

	ACLs     map[string][]string // as Frontend.ACLs
	ACLOrder []string
	ACLPath  string

	HTTPRequest       Rules // `http_request` (http mode only)
	HTTPResponse      Rules // `http_response` (http mode only)
	HTTPAfterResponse Rules // `http_after_response` (http mode only)
	UseService        Rules // `use_service`, evaluated before the server choice

	ForwardFor *ForwardFor // as Frontend.ForwardFor
	Forwarded  bool        // as Frontend.Forwarded
	// Stick is `stick: { on: EXPR, table: NAME }`: stickiness on a sample
	// expression through a stick table; nil when off.
	Stick *Stick
	// Servers are in the order written; a backend may have none (its
	// streams then fail with 503, unless a use_service rule answers them).
	Servers []*Server
	// Filters is the backend's HTTP filter chain (`filters`), in order;
	// http mode only.
	Filters []Filter
}

// BackendTimeouts is `backends.NAME.timeouts`.
type BackendTimeouts struct {
	Connect time.Duration // connection to a server; default 5s
	Server  time.Duration // server inactivity; default 30s
	Tunnel  time.Duration // inactivity of a tunnel (WebSocket, CONNECT, TCP mode); default 1h
	Queue   time.Duration // wait for a free server slot; default = connect
	// HTTPKeepAlive is how long an idle server connection stays in the
	// pool; default 4s, below the 5s idle timeout of Apache httpd and
	// Node.js so that strata, not the server, closes idle connections.
	HTTPKeepAlive time.Duration
}

// HealthCheck is `backends.NAME.health_check`. The timing defaults are
// HAProxy's. Checks reach a server the way traffic does: through its `tls`
// (same verify, CA, SNI and client certificate; an HTTP check is sent
// inside TLS) and, with `send_proxy`, after a PROXY header of a connection
// the proxy opens for itself (v2 LOCAL, v1 "PROXY UNKNOWN"), as HAProxy's
// check-ssl and check-send-proxy default to.
type HealthCheck struct {
	Type     string        // "tcp" (default: a connection) or "http"
	Path     string        // http: request path; default "/"
	Method   string        // http: request method; default GET
	Host     string        // http: Host header; default the server address
	Expect   Expect        // http: what a healthy answer is
	Interval time.Duration // between checks; default 2s
	Timeout  time.Duration // of one check; default = interval
	Rise     int           // consecutive successes to mark a server up; default 2
	Fall     int           // consecutive failures to mark it down; default 3
}

// Expect is `health_check.expect`.
type Expect struct {
	// Status holds the healthy status codes: `status: "200-399"` (the
	// default), "200", or a comma-separated list of both forms.
	Status []StatusRange
}

// Match reports whether status is healthy.
func (e Expect) Match(status int) bool {
	for _, r := range e.Status {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

// Stick is `backends.NAME.stick`.
type Stick struct {
	On    string // sample expression, e.g. src
	Table string // name of a stick table
}

// Server is one entry of `backends.NAME.servers`.
type Server struct {
	Name string
	Path string // "backends.B.servers.NAME"
	// Address is host:port; the host is an IP literal or a DNS name,
	// resolved when the configuration is applied (see InitAddr).
	Address string
	// InitAddr is how the address is found when the configuration is
	// checked, started or reloaded (HAProxy's init-addr): methods tried
	// in order, "libc" (the system resolver) and "none" (no address: the
	// server starts in maintenance, until the runtime API sets it ready).
	// Written "libc", "none" or "libc,none"; default the backend's
	// init_addr, else "libc": a name that does not resolve is a
	// configuration error.
	InitAddr []string
	// Weight is the share of the server, 0 to 256 (0 takes no new streams
	// from the balancer); default 1.
	Weight   int
	MaxConn  int  // concurrent streams; default 0, no limit
	Backup   bool // used only when no other server is up; default false
	Resolve  bool // re-resolve the DNS name at run time; default false (resolved once)
	Disabled bool // starts in maintenance; default false
	// SendProxy sends a PROXY protocol header: "" (default, none), "v1" or
	// "v2".
	SendProxy string
	// TLS is `tls: true` or `tls: { verify, ca, sni, cert, key }`; nil
	// (the default) means plain TCP.
	TLS *ServerTLS
	H2  bool // speak HTTP/2 to the server (http mode); default false
	// PoolMaxConn bounds the server's idle pooled connections (HAProxy's
	// pool-max-conn); default the backend's pool_max_conn, 0 keeps none.
	PoolMaxConn int
}

// ServerTLS is the TLS setting of a server.
type ServerTLS struct {
	Verify string // "required" (default) or "none"
	CA     string // CA bundle file; default the system roots
	SNI    string // server name sent; default the address host when it is a name
	Cert   string // client certificate file (with Key)
	Key    string // client key file (with Cert)
}

var balanceFix = "use one of: " + strings.Join(balanceAlgorithms, ", ")

// balance returns the load-balancing algorithm at key, normalised, or def.
func (o *object) balance(key, def string) string {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "string: "+strings.Join(balanceAlgorithms, ", "), def, 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	n, ok := checkBalance(s)
	if ok {
		return n
	}
	fix := balanceFix
	if sg := suggest(n, balanceAlgorithms); sg != "" && !strings.Contains(sg, "(") {
		fix = "did you mean " + quote(sg) + "?"
	}
	o.d.errorf(p, fix, "invalid balance %s", quote(s))
	return def
}

// frontendOnly are backend mistakes worth a precise fix.
var frontendOnly = map[string]string{
	"bind":            "bind belongs in a frontend: move it under frontends.NAME",
	"default_backend": "default_backend belongs in a frontend: move it under frontends.NAME",
	"use_backend":     "use_backend belongs in a frontend: move it under frontends.NAME",
	"accept_proxy":    "accept_proxy belongs in a frontend: move it under frontends.NAME (servers send with send_proxy)",
}

func (d *decoder) backend(name, path string, v any) *Backend {
	o := d.entity(path, v)
	o.elsewhere = frontendOnly
	b := &Backend{Name: name, Path: path}
	ds := d.sectionFor(o) // defaults (inherit.go)
	b.Mode = o.mode("mode", ds.Mode)
	b.Balance = o.balance("balance", ds.Balance)
	b.HashType = o.hashType(ds.HashType)

	t := o.sub("timeouts")
	b.Timeouts.Connect, _ = t.duration("connect", ds.Timeouts.Connect, 1)
	b.Timeouts.Server, _ = t.duration("server", ds.Timeouts.Server, 1)
	b.Timeouts.Tunnel, _ = t.duration("tunnel", ds.Timeouts.Tunnel, 1)
	queueDef := b.Timeouts.Connect // an unset queue timeout is the connect timeout
	if ds.set["queue"] {
		queueDef = ds.Timeouts.Queue
	}
	b.Timeouts.Queue, _ = t.duration("queue", queueDef, 1)
	b.Timeouts.HTTPKeepAlive, _ = t.duration("http_keep_alive", DefaultServerKeepAlive, 1)
	t.done()

	b.Retries = o.retries(ds.Retries)
	b.Redispatch = o.boolean("redispatch", ds.Redispatch)
	b.MaxConn = o.integer("maxconn", 0, 0, math.MaxInt32)
	b.PoolMaxConn = o.integer("pool_max_conn", DefaultPoolMaxConn, 0, maxPoolMaxConn)
	b.HealthCheck = o.inheritHealthCheck(ds.HealthCheck)
	b.Observe = o.observe(ds.Observe)
	b.ErrorLimit = o.errorLimit(ds.ErrorLimit)
	b.ACLs, b.ACLOrder, b.ACLPath = o.acls("acls")
	b.HTTPRequest = o.rules("http_request")
	b.Filters = o.filters("filters")
	b.HTTPResponse = o.rules("http_response")
	b.HTTPAfterResponse = o.rules("http_after_response")
	b.UseService = o.rules("use_service")
	b.ForwardFor = o.inheritForwardFor(ds, b.Mode)
	b.Forwarded = o.inheritForwarded(ds, b.Mode)

	if o.has("stick") {
		s := o.sub("stick")
		b.Stick = &Stick{On: s.str("on", ""), Table: s.str("table", "")}
		if b.Stick.On == "" && !s.bad {
			d.errorf(joinPath(s.path, "on"), "write the sample to stick on, e.g. on: src", "required")
		}
		if b.Stick.Table == "" && !s.bad {
			d.errorf(joinPath(s.path, "table"), "name a table of stick_tables", "required")
		}
		s.done()
	} else {
		o.get("stick")
	}

	// init_addr on the backend is the default of its servers (HAProxy's
	// default-server init-addr).
	initAddr := o.initAddr("init_addr", DefaultInitAddr)
	names, values, sp := o.named("servers")
	for _, n := range names {
		b.Servers = append(b.Servers, d.server(n, joinPath(sp, n), values[n], b.PoolMaxConn, initAddr))
	}
	o.done()

	if b.Mode == ModeTCP {
		d.httpOnly(b.Path, "backend", b.HTTPRequest, b.HTTPResponse, b.HTTPAfterResponse, b.ForwardFor, b.Forwarded)
		if b.Observe == "layer7" {
			d.errorf(joinPath(path, "observe"), "use layer4, or set mode: http", "layer7 needs mode http")
		}
	}
	return b
}

func (d *decoder) healthCheck(o *object) *HealthCheck {
	if !o.has("health_check") {
		o.get("health_check")
		return nil
	}
	v, p := o.get("health_check")
	// `health_check: true` is a TCP check with the defaults.
	if s, ok := v.(string); ok {
		on, ok := parseBool(s)
		if !ok {
			d.errorf(p, "write true, or { type: tcp|http, … }", "invalid value %s", quote(s))
			return nil
		}
		if !on {
			return nil
		}
		v = nil
	}
	c := d.object(p, v)
	h := &HealthCheck{}
	h.Type = c.oneOf("type", DefaultCheckType, "tcp", "http")
	h.Path = c.str("path", DefaultCheckPath)
	h.Method = c.str("method", DefaultCheckMethod)
	h.Host = c.str("host", "")
	ex := c.sub("expect")
	status := ex.str("status", DefaultCheckExpect)
	ex.done()
	h.Interval, _ = c.duration("interval", DefaultCheckInterval, time.Millisecond)
	h.Timeout, _ = c.duration("timeout", h.Interval, time.Millisecond)
	h.Rise = c.integer("rise", DefaultCheckRise, 1, 1000)
	h.Fall = c.integer("fall", DefaultCheckFall, 1, 1000)
	c.done()

	if h.Type == "tcp" {
		for _, k := range []string{"path", "method", "host", "expect"} {
			if c.has(k) {
				d.errorf(joinPath(p, k), "set type: http, or remove it", "only for type http")
			}
		}
		h.Path, h.Method, h.Host = "", "", ""
		return h
	}
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t\r\n") {
		d.errorf(joinPath(p, "path"), "write an absolute path without spaces, e.g. /healthz", "invalid path %s", quote(h.Path))
	}
	if !isToken(h.Method) {
		d.errorf(joinPath(p, "method"), "write a method such as GET or HEAD", "invalid method %s", quote(h.Method))
	}
	if strings.ContainsAny(h.Host, " \t\r\n") {
		d.errorf(joinPath(p, "host"), "write a host name, e.g. app.example.com", "invalid host %s", quote(h.Host))
	}
	if rs, ok := parseStatusRanges(status); ok {
		h.Expect.Status = rs
	} else {
		d.errorf(joinPath(p, "expect.status"), `write a code, a range or a list, e.g. "200-399" or "200,204"`, "invalid status %s", quote(status))
	}
	return h
}

// maxPoolMaxConn bounds pool_max_conn: each idle connection holds a
// descriptor.
const maxPoolMaxConn = 1000000

func (d *decoder) server(name, path string, v any, poolMax int, initAddr []string) *Server {
	o := d.entity(path, v)
	s := &Server{Name: name, Path: path}
	av, ap := o.get("address")
	if av == nil {
		if !o.bad {
			d.errorf(ap, "write host:port, e.g. address: 10.0.0.1:8080", "required")
		}
	} else if a, ok := d.scalar(ap, av); ok {
		s.Address = strings.TrimSpace(a)
		if _, msg, fix := parseHostPort(s.Address, false); msg != "" {
			d.errorf(ap, fix, "%s", msg)
		}
	}
	s.InitAddr = o.initAddr("init_addr", initAddr)
	s.Weight = o.integer("weight", DefaultWeight, 0, 256)
	s.MaxConn = o.integer("maxconn", 0, 0, math.MaxInt32)
	s.PoolMaxConn = o.integer("pool_max_conn", poolMax, 0, maxPoolMaxConn)
	s.Backup = o.boolean("backup", false)
	s.Resolve = o.boolean("resolve", false)
	s.Disabled = o.boolean("disabled", false)
	s.SendProxy = o.oneOf("send_proxy", "", "v1", "v2")
	s.TLS = d.serverTLS(o)
	s.H2 = o.boolean("h2", false)
	o.done()
	return s
}

// initAddrMethods are the init_addr methods strata knows. HAProxy's
// "last" (the address of a server-state file) and literal addresses have
// no equivalent: strata keeps no server-state file.
var initAddrMethods = []string{"libc", "none"}

// initAddr decodes an init_addr value: methods separated by commas.
func (o *object) initAddr(key string, def []string) []string {
	if o.d.rec != nil { // the reference (reference.go)
		o.d.note(joinPath(o.path, key), "methods, comma-separated: "+strings.Join(initAddrMethods, ", "), strings.Join(def, ","), 2)
	}
	s, p, ok := o.scalar(key)
	if !ok {
		return def
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		if !slices.Contains(initAddrMethods, m) {
			o.d.errorf(p, `write libc, none or "libc,none" (strata keeps no server-state file for last)`, "invalid init_addr method %s", quote(m))
			return def
		}
		if slices.Contains(out, m) {
			o.d.errorf(p, "name each method once", "init_addr method %s given twice", quote(m))
			return def
		}
		out = append(out, m)
	}
	return out
}

func (d *decoder) serverTLS(o *object) *ServerTLS {
	v, p := o.get("tls")
	var m any
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		m = x
	default:
		s, ok := d.scalar(p, v)
		if !ok {
			return nil
		}
		on, ok := parseBool(s)
		if !ok {
			d.errorf(p, "write true, or { verify, ca, sni, cert, key }", "invalid value %s", quote(s))
			return nil
		}
		if !on {
			return nil
		}
	}
	c := d.object(p, m)
	t := &ServerTLS{
		Verify: c.oneOf("verify", DefaultTLSVerify, "required", "none"),
		CA:     c.str("ca", ""),
		SNI:    c.str("sni", ""),
		Cert:   c.str("cert", ""),
		Key:    c.str("key", ""),
	}
	c.done()
	if (t.Cert == "") != (t.Key == "") {
		missing := "key"
		if t.Cert == "" {
			missing = "cert"
		}
		d.errorf(joinPath(p, missing), "give both cert and key, or neither", "required with %s", map[string]string{"key": "cert", "cert": "key"}[missing])
	}
	d.checkServerTLSFiles(p, t)
	return t
}
