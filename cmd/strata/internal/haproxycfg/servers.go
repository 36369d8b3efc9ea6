package haproxycfg

import (
	"slices"
	"strconv"
	"strings"
)

// bindAddr turns HAProxy's bind address into strata's host:port: ":80",
// "*:80", "ipv4@1.2.3.4:80", ":::443" → "[::]:443". ok is false for what
// strata cannot listen on (unix sockets, fd@, port ranges).
func bindAddr(a string) (string, bool) {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "ipv4@"), "ipv6@")
	if strings.Contains(a, "@") || strings.HasPrefix(a, "/") {
		return "", false
	}
	a = strings.TrimPrefix(a, "*")
	return hostPort(a)
}

// hostPort splits at the last colon (HAProxy writes IPv6 without
// brackets) and puts IPv6 hosts in brackets.
func hostPort(a string) (string, bool) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", false
	}
	host, port := a[:i], a[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", false
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + port, true
}

func (c *converter) bind(p *proxyState, l Line) {
	w := l.Words
	if len(w) < 2 {
		c.report(l, NotConverted, "bind needs an address", "")
		return
	}
	var t *bindTLS
	proxy, ssl := false, false
	opts := &bindTLS{}
	for i := 2; i < len(w); i++ {
		switch o := w[i]; o {
		case "ssl":
			ssl = true
		case "crt":
			i++
			opts.certs = append(opts.certs, c.filePath(c.crtBase, arg(w, i)))
		case "alpn":
			i++
			opts.alpn = strings.Split(arg(w, i), ",")
		case "accept-proxy":
			proxy = true
		case "verify":
			i++
			opts.verify = arg(w, i)
		case "ca-file":
			i++
			opts.ca = c.filePath(c.caBase, arg(w, i))
		case "ssl-min-ver":
			i++
			opts.minVersion = strings.TrimPrefix(arg(w, i), "TLSv")
		case "name", "id", "process", "thread", "npn", "nice":
			i++
			c.report(l, Ignored, o+" has no meaning for strata", "")
		case "no-sslv3", "no-tlsv10", "no-tlsv11", "prefer-client-ciphers":
			c.report(l, Ignored, o+": strata accepts TLS 1.2 and later unless tls.min_version says otherwise", "")
		default:
			if i+1 < len(w) && bindOptsWithArg[o] {
				i++
			}
			c.report(l, NotConverted, "bind option "+o+" is not supported", bindOptAlt[o])
		}
	}
	if ssl {
		if len(opts.certs) == 0 {
			c.report(l, NotConverted, "ssl without crt", "frontends.NAME.tls.certificates")
			return
		}
		if opts.verify != "" && opts.verify != "none" && opts.ca == "" {
			c.report(l, NotConverted, "verify "+opts.verify+" without ca-file", "")
			return
		}
		t = opts
	}
	for _, a := range strings.Split(w[1], ",") {
		addr, ok := bindAddr(a)
		if !ok {
			c.report(l, NotConverted, "strata listens on host:port addresses only (no unix sockets, fd@ or port ranges)", "")
			continue
		}
		p.binds = append(p.binds, bindOut{line: l, addr: addr, tls: t, proxy: proxy})
	}
}

var bindOptsWithArg = map[string]bool{
	"crt-list": true, "ciphers": true, "ciphersuites": true, "curves": true, "ecdhe": true, "ssl-max-ver": true,
	"maxconn": true, "backlog": true, "interface": true, "mss": true, "proto": true, "tcp-ut": true, "level": true,
	"mode": true, "user": true, "group": true, "uid": true, "gid": true, "sigalgs": true, "client-sigalgs": true, "ca-ignore-err": true, "crt-ignore-err": true, "crl-file": true,
}

var bindOptAlt = map[string]string{
	"crt-list":     "list the certificates in frontends.NAME.tls.certificates (SNI chooses among them)",
	"ciphers":      "strata uses Go's TLS cipher suites",
	"ciphersuites": "strata uses Go's TLS cipher suites",
	"ssl-max-ver":  "",
	"strict-sni":   "",
	"proto":        "frontends.NAME.h2: { h2c: true } for HTTP/2 in clear",
	"maxconn":      "frontends.NAME.maxconn",
	"transparent":  "",
}

// tlsKey groups binds that strata can serve from one frontend.
func (b bindOut) key() string {
	k := "plain"
	if b.tls != nil {
		k = strings.Join(b.tls.certs, ",") + "|" + strings.Join(b.tls.alpn, ",") + "|" + b.tls.minVersion + "|" + b.tls.verify + "|" + b.tls.ca
	}
	return k + "|" + strconv.FormatBool(b.proxy)
}

// server converts one `server` line, with the default-server parameters
// before its own.
func (c *converter) server(p *proxyState, l Line) {
	w := l.Words
	if len(w) < 3 {
		c.report(l, NotConverted, "server needs a name and an address", "")
		return
	}
	if p.be != nil && slices.ContainsFunc(p.be.servers, func(s *serverOut) bool { return s.name == w[1] }) {
		c.report(l, NotConverted, "a second server called "+w[1]+" in this backend (HAProxy refuses it): the line is left out", "")
		return
	}
	addr, ok := hostPort(w[2])
	if !ok || strings.Contains(w[2], "@") {
		c.report(l, NotConverted, "strata needs host:port for a server (no port, port offsets and sockets are not supported)", "")
		return
	}
	s := &serverOut{name: w[1], address: addr, line: l.Num, comment: l.Comment}
	params := append(append([]string(nil), p.defServer...), w[3:]...)
	check := false
	var tls []kv
	ssl := false
	h := healthOut{}
	for i := 0; i < len(params); i++ {
		next := func() string {
			i++
			return arg(params, i)
		}
		switch o := params[i]; o {
		case "check":
			check = true
		case "no-check":
			check = false
		case "inter":
			h.interval = next()
		case "rise":
			h.rise = next()
		case "fall":
			h.fall = next()
		case "weight", "maxconn":
			setKV(&s.fields, o, next())
		case "backup":
			setKV(&s.fields, "backup", "true")
		case "disabled":
			setKV(&s.fields, "disabled", "true")
		case "enabled":
			s.fields = slices.DeleteFunc(s.fields, func(e kv) bool { return e.k == "disabled" })
		case "send-proxy":
			setKV(&s.fields, "send_proxy", "v1")
		case "send-proxy-v2":
			setKV(&s.fields, "send_proxy", "v2")
		case "no-send-proxy", "no-send-proxy-v2":
			s.fields = slices.DeleteFunc(s.fields, func(e kv) bool { return e.k == "send_proxy" })
		case "resolvers":
			next()
			setKV(&s.fields, "resolve", "true")
		case "ssl":
			ssl = true
		case "no-ssl":
			ssl = false
		case "verify":
			setKV(&tls, "verify", next())
		case "ca-file":
			setKV(&tls, "ca", c.filePath(c.caBase, next()))
		case "crt":
			f := c.filePath(c.crtBase, next())
			setKV(&tls, "cert", f)
			setKV(&tls, "key", f)
		case "sni":
			v := next()
			if s, ok := strings.CutPrefix(v, "str("); ok && strings.HasSuffix(s, ")") {
				setKV(&tls, "sni", strings.TrimSuffix(s, ")"))
			} else {
				c.report(l, NotConverted, "strata sends a fixed SNI per server, not an expression ("+v+")", "servers' tls: { sni: NAME }")
			}
		case "proto":
			if next() == "h2" {
				setKV(&s.fields, "h2", "true")
			}
		case "alpn":
			if a := next(); a == "h2" {
				setKV(&s.fields, "h2", "true")
			} else if strings.Contains(a, "h2") {
				c.report(l, Changed, "strata speaks HTTP/1.1 to this server: it does not negotiate h2 by ALPN", "servers' h2: true to always speak HTTP/2")
			}
		case "check-ssl", "check-send-proxy":
			// strata's checks follow the server's tls and send_proxy.
		case "id", "cookie", "init-addr", "resolve-prefer", "resolve-opts", "slowstart", "port", "addr", "fastinter", "downinter", "minconn", "maxqueue", "observe", "error-limit", "on-error", "agent-check", "agent-port", "agent-inter", "track", "pool-max-conn", "pool-purge-delay", "check-sni", "ws", "tfo", "namespace", "source", "ciphers", "ssl-min-ver", "ssl-max-ver", "redir", "on-marked-down", "on-marked-up":
			if o != "agent-check" && o != "tfo" {
				next()
			}
			c.report(l, serverParamLevel[o], "server parameter "+o+" is not converted", serverParamAlt[o])
		default:
			c.report(l, NotConverted, "unknown server parameter "+o, "")
		}
	}
	if ssl {
		if tls == nil {
			tls = []kv{}
		}
		s.tls = tls
	}
	p.be.servers = append(p.be.servers, s)
	c.serverCheck(p, l, check, h)
}

var serverParamLevel = map[string]Level{"id": Ignored, "init-addr": Ignored, "resolve-prefer": Ignored, "resolve-opts": Ignored, "pool-max-conn": Ignored, "pool-purge-delay": Ignored}

var serverParamAlt = map[string]string{
	"cookie":    "stick: { on: EXPR, table: T }",
	"observe":   "backends.NAME.observe",
	"port":      "strata checks the traffic port",
	"fastinter": "health_check.interval",
	"downinter": "health_check.interval",
	"maxqueue":  "backends.NAME.timeouts.queue",
}

// serverCheck folds one server's check settings into the backend's: strata
// checks every server of a backend, with one interval, rise and fall.
func (c *converter) serverCheck(p *proxyState, l Line, check bool, h healthOut) {
	be := p.be
	if !check {
		if be.health != nil {
			c.report(l, Changed, "this server has no check, but strata checks every server of a backend that has a health check", "")
		}
		return
	}
	if be.health == nil {
		be.health = &healthOut{typ: "tcp", interval: h.interval, rise: h.rise, fall: h.fall}
		for _, s := range be.servers[:len(be.servers)-1] {
			c.rep.add(Entry{Line: s.line, Level: Changed, Directive: "server " + s.name,
				Reason: "this server has no check, but strata checks every server of a backend that has a health check"})
		}
		return
	}
	if be.health.interval != h.interval || be.health.rise != h.rise || be.health.fall != h.fall {
		c.report(l, Changed, "strata uses one check interval, rise and fall per backend: those of the first checked server", "")
	}
}

func (c *converter) balance(p *proxyState, l Line) {
	w := l.Words
	alg := arg(w, 1)
	switch {
	case len(w) == 2 && slices.Contains([]string{"roundrobin", "static-rr", "leastconn", "first", "source", "random", "uri"}, alg):
	case len(w) == 2 && (strings.HasPrefix(alg, "random(") || strings.HasPrefix(alg, "hdr(")):
	default:
		c.report(l, NotConverted, "strata balances by roundrobin, static-rr, leastconn, first, source, random, random(N), uri and hdr(NAME), without options", "")
		return
	}
	p.be.balance = alg
}

func (c *converter) hashType(p *proxyState, l Line) {
	t := arg(l.Words, 1)
	if t != "map-based" && t != "consistent" {
		c.report(l, NotConverted, "strata has map-based and consistent hashing", "")
		return
	}
	p.be.hashType = t
	if len(l.Words) > 2 {
		c.report(l, Changed, "strata uses its own hash function: the same key may land on another server than with HAProxy", "")
	}
}

func (c *converter) stickTable(p *proxyState, l Line) {
	w := l.Words
	for _, o := range c.out.tables {
		if o.name == p.s.Name {
			c.report(l, NotConverted, "a second stick-table called "+p.s.Name+" (a frontend and a backend of that name both have one)", "")
			return
		}
	}
	t := &tableOut{name: p.s.Name, line: l.Num, comment: l.Comment}
	for i := 1; i < len(w); i++ {
		switch o := w[i]; o {
		case "type", "len", "size", "expire":
			i++
			v := arg(w, i)
			if o == "type" && v == "ipv4" {
				v = "ip" // strata's ip tables hold both
			}
			t.fields = append(t.fields, kv{o, v})
		case "store":
			i++
			t.store = append(t.store, splitTopCommas(arg(w, i))...)
		case "peers":
			i++
			c.report(l, NotConverted, "strata does not speak HAProxy's peers protocol", "share the table across instances through Redis")
		case "nopurge":
			c.report(l, NotConverted, "strata always evicts the least recently used entry of a full table", "")
		default:
			c.report(l, NotConverted, "stick-table option "+o+" is not supported", "")
		}
	}
	c.out.tables = append(c.out.tables, t)
}

func (c *converter) stick(p *proxyState, l Line) {
	w := l.Words
	if arg(w, 1) != "on" {
		c.report(l, NotConverted, "strata has `stick on` only: it matches and stores the same sample", "stick: { on: EXPR, table: T }")
		return
	}
	table := p.s.Name
	for i := 3; i < len(w); i++ {
		switch w[i] {
		case "table":
			table = arg(w, i+1)
			i++
		default:
			c.report(l, NotConverted, "strata's stick has no condition", "")
			return
		}
	}
	p.be.stickOn = []kv{{"on", arg(w, 2)}, {"table", table}}
}

// httpchk reads `option httpchk [METHOD] [URI] [VERSION]`, where an old
// configuration may hide a Host header in VERSION after "\r\n".
func (c *converter) httpchk(p *proxyState, l Line, args []string) {
	if p.httpchk == nil {
		p.httpchk = &healthOut{}
	}
	h := p.httpchk
	h.typ = "http"
	switch len(args) {
	case 0:
	case 1:
		h.path = args[0]
	default:
		h.method, h.path = args[0], args[1]
		if len(args) > 2 {
			if _, rest, ok := strings.Cut(args[2], "\r\n"); ok {
				if host, ok := strings.CutPrefix(strings.TrimSpace(rest), "Host:"); ok {
					h.host = strings.TrimSpace(host)
				} else {
					c.report(l, NotConverted, "extra check request headers other than Host are not supported", "")
				}
			}
		}
	}
}

// httpCheck reads the http-check directives of 2.2 and later.
func (c *converter) httpCheck(p *proxyState, l Line) {
	w := l.Words
	if p.httpchk == nil {
		p.httpchk = &healthOut{typ: "http"}
	}
	h := p.httpchk
	switch arg(w, 1) {
	case "send":
		for i := 2; i < len(w); i++ {
			switch w[i] {
			case "meth":
				i++
				h.method = arg(w, i)
			case "uri":
				i++
				h.path = arg(w, i)
			case "ver":
				i++
			case "hdr":
				if strings.EqualFold(arg(w, i+1), "host") {
					h.host = arg(w, i+2)
				} else {
					c.report(l, NotConverted, "extra check request headers other than Host are not supported", "")
				}
				i += 2
			default:
				c.report(l, NotConverted, "http-check send "+w[i]+" is not supported", "")
			}
		}
	case "expect":
		ws := w[2:]
		if arg(ws, 0) == "!" {
			c.report(l, NotConverted, "strata's check expects status codes only", "health_check.expect.status")
			return
		}
		if arg(ws, 0) == "status" && len(ws) == 2 {
			h.expect = ws[1]
			return
		}
		c.report(l, NotConverted, "strata's check expects status codes only", "health_check.expect.status")
	default:
		c.report(l, NotConverted, "strata's http checks are one request with an expected status", "backends.NAME.health_check")
	}
}
