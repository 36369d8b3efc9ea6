package haproxycfg

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/core/logfmt"
)

// proxyState is one frontend, backend or listen section being converted.
type proxyState struct {
	s          *Section
	fe         *frontendOut // nil for a backend
	be         *backendOut  // nil for a frontend
	binds      []bindOut
	redirects  []item   // `redirect` rules, run after http-request rules
	defServer  []string // default-server parameters, in order
	httpchk    *healthOut
	table      string // name of the section's own stick table
	modeSet    bool
	ownFF      bool // forwardfor written in the section itself
	timeoutSet map[string]bool
}

type bindOut struct {
	line  Line
	addr  string
	tls   *bindTLS
	proxy bool
}

func (c *converter) proxy(s *Section, inh []Line) {
	if c.taken(s) {
		c.rep.add(Entry{Line: s.Line, Level: NotConverted, Directive: s.Kind + " " + s.Name,
			Reason: "a second proxy called " + s.Name + " on the same side (HAProxy refuses it): the section is left out"})
		return
	}
	p := &proxyState{s: s, timeoutSet: map[string]bool{}}
	if s.Kind != "backend" {
		p.fe = &frontendOut{name: s.Name, line: s.Line, comment: s.Comment, rules: ruleLists{}}
	}
	if s.Kind != "frontend" {
		p.be = &backendOut{name: s.Name, line: s.Line, comment: s.Comment, rules: ruleLists{}}
	}
	for _, l := range s.Lines {
		if l.Words[0] == "stick-table" {
			p.table = s.Name // known before the rules that use it
		}
	}
	for _, l := range inh {
		c.directive(p, l, true)
	}
	for _, l := range s.Lines {
		c.directive(p, l, false)
	}
	c.finish(p)
}

// sideOf says where a keyword applies: 'f' frontend side, 'b' backend side,
// 'x' both.
var sideOf = map[string]byte{
	"bind": 'f', "maxconn": 'f', "use_backend": 'f', "default_backend": 'f', "monitor-uri": 'f', "capture": 'f',
	"server": 'b', "default-server": 'b', "balance": 'b', "hash-type": 'b', "retries": 'b', "stick": 'b',
	"http-check": 'b', "use-server": 'b', "cookie": 'b', "fullconn": 'b', "server-template": 'b', "tcp-check": 'b',
}

func (c *converter) directive(p *proxyState, l Line, fromDefaults bool) {
	if !c.utf8(l) {
		return
	}
	w := l.Words
	kw := w[0]
	switch sideOf[kw] {
	case 'f':
		if p.fe == nil {
			if !fromDefaults {
				c.report(l, NotConverted, kw+" belongs in a frontend or listen section (HAProxy refuses it here)", "")
			}
			return
		}
	case 'b':
		if p.be == nil {
			if !fromDefaults {
				c.report(l, NotConverted, kw+" belongs in a backend or listen section (HAProxy refuses it here)", "")
			}
			return
		}
	}
	switch kw {
	case "mode":
		c.mode(p, l)
	case "timeout":
		c.timeout(p, l, fromDefaults)
	case "maxconn":
		p.fe.maxconn = arg(w, 1)
	case "option", "no":
		c.option(p, l, fromDefaults)
	case "acl":
		c.acl(p, l)
	case "http-request", "http-response", "http-after-response":
		c.httpRule(p, l)
	case "tcp-request":
		c.tcpRule(p, l)
	case "use_backend":
		p.fe.rules.add("use_backend", itemOf(l, joinRule(w[1:])))
	case "default_backend":
		p.fe.defBackend = arg(w, 1)
	case "redirect":
		p.redirects = append(p.redirects, itemOf(l, joinRule(w)))
	case "monitor-uri":
		p.fe.monitorURI = arg(w, 1) // answered before any rule, HAProxy's page, not logged
	case "bind":
		c.bind(p, l)
	case "server":
		c.server(p, l)
	case "default-server":
		p.defServer = append(p.defServer, w[1:]...)
	case "balance":
		c.balance(p, l)
	case "hash-type":
		c.hashType(p, l)
	case "retries":
		p.be.setField("retries", arg(w, 1))
	case "stick-table":
		if fromDefaults {
			c.report(l, NotConverted, "a stick-table in defaults is not allowed by HAProxy", "")
			return
		}
		c.stickTable(p, l)
	case "stick":
		c.stick(p, l)
	case "http-check":
		c.httpCheck(p, l)
	case "capture":
		c.capture(p, l)
	case "log-format":
		c.logFormat(p, l, fromDefaults)
	case "unique-id-format", "unique-id-header":
		c.uniqueID(p, l, fromDefaults)
	default:
		c.unsupported(l, fromDefaults)
	}
}

// capture converts `capture request|response header NAME len N`.
func (c *converter) capture(p *proxyState, l Line) {
	w := l.Words
	if len(w) != 6 || w[2] != "header" || w[4] != "len" || (w[1] != "request" && w[1] != "response") {
		c.report(l, NotConverted, "strata captures request and response headers only (capture request|response header NAME len N)", "")
		return
	}
	if n, err := strconv.Atoi(w[5]); err != nil || n < 1 || n > 65536 {
		c.report(l, NotConverted, "the length must be a number from 1 to 65536", "")
		return
	}
	if w[1] == "request" {
		p.fe.captureReq = append(p.fe.captureReq, kv{w[3], w[5]})
	} else {
		p.fe.captureRes = append(p.fe.captureRes, kv{w[3], w[5]})
	}
}

// uniqueID converts `unique-id-format FORMAT` and `unique-id-header NAME`
// of a frontend.
func (c *converter) uniqueID(p *proxyState, l Line, fromDefaults bool) {
	if p.fe == nil {
		if !fromDefaults {
			c.report(l, NotConverted, "strata makes unique ids in frontends", "frontends.NAME.unique_id_format")
		}
		return
	}
	v := strings.Join(l.Words[1:], " ")
	if l.Words[0] == "unique-id-header" {
		p.fe.uniqueHdr = v
		return
	}
	if _, err := logfmt.Parse(v); err != nil {
		c.report(l, NotConverted, "strata cannot render this format: "+err.Error(), "")
		return
	}
	p.fe.uniqueID = v
}

// logFormat converts `log-format FORMAT` of a frontend.
func (c *converter) logFormat(p *proxyState, l Line, fromDefaults bool) {
	if p.fe == nil {
		if !fromDefaults {
			c.report(l, Ignored, "a backend's log-format is not used (HAProxy logs with the frontend's)", "")
		}
		return
	}
	f := strings.Join(l.Words[1:], " ")
	if _, err := logfmt.Parse(f); err != nil {
		c.report(l, NotConverted, "strata cannot render this format: "+err.Error(), "frontends.NAME.log_format: httplog")
		return
	}
	p.fe.logFormat = f
}

func arg(w []string, i int) string {
	if i < len(w) {
		return w[i]
	}
	return ""
}

func (r ruleLists) add(key string, it item) {
	r[key] = append(r[key], it)
}

func (b *backendOut) setField(k, v string) {
	for i := range b.fields {
		if b.fields[i].k == k {
			b.fields[i].v = v
			return
		}
	}
	b.fields = append(b.fields, kv{k, v})
}

func (b *backendOut) delField(k string) {
	b.fields = slices.DeleteFunc(b.fields, func(e kv) bool { return e.k == k })
}

func (c *converter) mode(p *proxyState, l Line) {
	m := arg(l.Words, 1)
	if m != "http" && m != "tcp" {
		c.report(l, NotConverted, "strata has modes http and tcp only", "")
		return
	}
	p.modeSet = true
	if p.fe != nil {
		p.fe.mode = m
	}
	if p.be != nil {
		p.be.mode = m
	}
}

func setKV(list *[]kv, k, v string) {
	for i := range *list {
		if (*list)[i].k == k {
			(*list)[i].v = v
			return
		}
	}
	*list = append(*list, kv{k, v})
}

func (c *converter) timeout(p *proxyState, l Line, fromDefaults bool) {
	name, v := arg(l.Words, 1), arg(l.Words, 2)
	fe := map[string]string{"client": "client", "http-request": "http_request", "http-keep-alive": "http_keep_alive"}
	be := map[string]string{"connect": "connect", "server": "server", "tunnel": "tunnel", "queue": "queue"}
	wrongSide := func(where string) {
		if !fromDefaults {
			c.report(l, NotConverted, "timeout "+name+" applies to "+where+" (HAProxy ignores it here)", "")
		}
	}
	switch {
	case fe[name] != "":
		if p.fe == nil {
			wrongSide("frontends")
			return
		}
		setKV(&p.fe.timeouts, fe[name], v)
		p.timeoutSet[name] = true
	case be[name] != "":
		if p.be == nil {
			wrongSide("backends")
			return
		}
		setKV(&p.be.timeouts, be[name], v)
		p.timeoutSet[name] = true
	case name == "check":
		if p.be == nil {
			wrongSide("backends")
			return
		}
		p.healthTimeout(v)
	case name == "client-fin" || name == "server-fin" || name == "tarpit":
		c.report(l, NotConverted, "strata has no "+name+" timeout", "timeouts.client / timeouts.server bound the same waits")
	default:
		c.unsupported(l, fromDefaults)
	}
}

func (p *proxyState) healthTimeout(v string) {
	if p.httpchk == nil {
		p.httpchk = &healthOut{}
	}
	p.httpchk.timeout = v
}

// option handles `option NAME …` and `no option NAME`.
func (c *converter) option(p *proxyState, l Line, fromDefaults bool) {
	w := l.Words
	neg := w[0] == "no"
	if neg {
		if arg(w, 1) != "option" {
			c.unsupported(l, fromDefaults)
			return
		}
		w = w[1:]
	}
	name := arg(w, 1)
	switch name {
	case "httplog", "tcplog", "httpslog":
		switch {
		case p.fe == nil:
			if !fromDefaults {
				c.report(l, Ignored, "a backend's log format is not used (HAProxy logs with the frontend's)", "")
			}
		case neg:
			p.fe.logFormat = ""
		case len(w) > 2:
			c.report(l, NotConverted, "strata has no "+name+" "+strings.Join(w[2:], " ")+" variant", "frontends.NAME.log_format")
		default:
			p.fe.logFormat = name // HAProxy's own format, byte for byte
		}
	case "dontlognull", "log-health-checks", "dontlog-normal", "log-separate-errors", "log-asap":
		c.report(l, Changed, "strata logs every stream once it ends", "global.access_log")
	case "http-server-close", "httpclose", "http-keep-alive", "http-pretend-keepalive", "http-no-delay":
		c.report(l, Changed, "strata keeps client connections alive and pools idle server connections", "backends.NAME.timeouts.http_keep_alive (0 is not allowed; a short value closes sooner)")
	case "forwardfor":
		c.forwardFor(p, l, w[2:], neg, fromDefaults)
	case "forwarded":
		if p.fe != nil {
			p.fe.forwarded = !neg
		} else if !fromDefaults {
			p.be.fields = append(p.be.fields, kv{"forwarded", "true"})
		}
		c.report(l, Changed, "strata adds Forwarded: for=…;proto=…; HAProxy's parameters (by, host, …) are not taken", "")
	case "redispatch", "httpchk":
		if p.be == nil {
			if !fromDefaults {
				c.report(l, NotConverted, "option "+name+" applies to backends (HAProxy ignores it here)", "")
			}
			return
		}
		switch {
		case name == "httpchk":
			c.httpchk(p, l, w[2:])
		case neg:
			p.be.delField("redispatch")
		default:
			p.be.setField("redispatch", "true")
		}
	case "tcp-smart-accept", "tcp-smart-connect", "splice-auto", "splice-request", "splice-response", "tcpka", "clitcpka", "srvtcpka", "contstats", "socket-stats", "http-use-htx", "http-buffer-request", "abortonclose", "nolinger", "idle-close-on-response":
		c.report(l, Ignored, "socket and buffering tuning that strata does its own way", "")
	case "ssl-hello-chk", "mysql-check", "pgsql-check", "redis-check", "smtpchk", "ldap-check", "spop-check", "tcp-check", "external-check":
		c.report(l, NotConverted, "strata's health checks are tcp (a connection) or http", "backends.NAME.health_check: { type: tcp }")
	default:
		c.unsupported(l, fromDefaults)
	}
}

func (c *converter) forwardFor(p *proxyState, l Line, args []string, neg, fromDefaults bool) {
	ff := &forwardFor{}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "except":
			i++
			ff.except = append(ff.except, arg(args, i))
		case "header":
			i++
			ff.header = arg(args, i)
		case "if-none":
			c.report(l, Changed, "strata always adds the header (if-none is not supported)", "")
		default:
			c.report(l, NotConverted, "unknown forwardfor argument "+quoteWord(args[i]), "")
		}
	}
	if neg {
		ff = nil
	}
	switch {
	case p.fe != nil:
		p.fe.ff = ff
	case !fromDefaults:
		// In a backend only when written there: from defaults, the
		// frontends add it already and HAProxy adds it once.
		p.be.ff = ff
		p.ownFF = true
	}
}

func (c *converter) acl(p *proxyState, l Line) {
	if len(l.Words) < 3 {
		c.report(l, NotConverted, "an acl needs a name and a criterion", "")
		return
	}
	d := aclDef{name: l.Words[1], item: itemOf(l, c.rewriteRule(p, l.Words[2:]))}
	if p.fe != nil {
		p.fe.acls = append(p.fe.acls, d)
	} else {
		p.be.acls = append(p.be.acls, d)
	}
}

var srcFetch = regexp.MustCompile(`^src_[a-z0-9_]+$`)

// rewriteRule adapts words of a rule or ACL to strata: a track-sc or src_*
// fetch that names no table names the section's own, as HAProxy takes it
// (strata needs the name unless there is one table in all).
func (c *converter) rewriteRule(p *proxyState, w []string) string {
	out := append([]string(nil), w...)
	if p.table != "" {
		if strings.HasPrefix(out[0], "track-sc") && !slices.Contains(out, "table") {
			end := len(out)
			for i, x := range out {
				if x == "if" || x == "unless" {
					end = i
					break
				}
			}
			out = slices.Insert(out, end, "table", p.table)
		}
		for i, x := range out {
			if srcFetch.MatchString(x) && !strings.Contains(x, "gpc") && !strings.Contains(x, "gpt") {
				out[i] = x + "(" + p.table + ")"
			}
		}
	}
	return joinRule(out)
}

func (c *converter) httpRule(p *proxyState, l Line) {
	key := strings.ReplaceAll(l.Words[0], "-", "_")
	if len(l.Words) < 2 {
		c.report(l, NotConverted, "a rule needs an action", "")
		return
	}
	text := c.rewriteRule(p, l.Words[1:])
	if p.fe != nil {
		p.fe.rules.add(key, itemOf(l, text))
	} else {
		p.be.rules.add(key, itemOf(l, text))
	}
}

func (c *converter) tcpRule(p *proxyState, l Line) {
	point := arg(l.Words, 1)
	switch point {
	case "connection", "session", "content":
	case "inspect-delay":
		c.report(l, Changed, "strata evaluates tcp-request content rules on what has arrived; there is no inspect delay", "")
		return
	default:
		c.report(l, NotConverted, "unknown tcp-request point "+quoteWord(point), "")
		return
	}
	if p.fe == nil {
		c.report(l, NotConverted, "strata runs tcp-request rules in frontends only", "move the rule to the frontends that use this backend")
		return
	}
	if len(l.Words) < 3 {
		c.report(l, NotConverted, "a rule needs an action", "")
		return
	}
	p.fe.rules.add("tcp_request_"+point, itemOf(l, c.rewriteRule(p, l.Words[2:])))
}

// unsupportedWhy gives the reason and the strata alternative of keywords
// with no conversion.
var unsupportedWhy = map[string][2]string{
	"log":                         {"strata has one access-log destination for the process", "global.access_log"},
	"log-tag":                     {"strata's syslog tag is process-wide", "global.access_log.syslog.tag"},
	"errorfile":                   {"strata does not serve error pages from files", "http_after_response: [\"set-status …\"] or an http_request return rule with a string body"},
	"errorfiles":                  {"strata does not serve error pages from files", "an http_request return rule with a string body"},
	"errorloc":                    {"strata does not redirect on errors", ""},
	"errorloc302":                 {"strata does not redirect on errors", ""},
	"errorloc303":                 {"strata does not redirect on errors", ""},
	"http-error":                  {"strata does not customise its error replies", ""},
	"compression":                 {"strata does not compress responses", "compress at the servers"},
	"stats":                       {"strata's stats page is GET /stats on the admin listener, or the stats service on a frontend", "use_service: [\"stats if { path /stats }\"] on a frontend, or global.admin.listen"},
	"http-reuse":                  {"strata always reuses idle server connections of the same server", "backends.NAME.timeouts.http_keep_alive"},
	"cookie":                      {"strata has no cookie persistence", "stick: { on: EXPR, table: T } on a request sample"},
	"use-server":                  {"strata has no use-server", "a backend per server, chosen with use_backend"},
	"fullconn":                    {"strata has no dynamic server maxconn", "servers' maxconn"},
	"rate-limit":                  {"strata has no session rate limit", "a stick table with conn_rate and a tcp_request_connection reject rule"},
	"server-template":             {"strata has no server templates", "list the servers, with resolve: true"},
	"tcp-response":                {"strata has no tcp-response rules", ""},
	"tcp-check":                   {"strata's health checks are tcp (a connection) or http", ""},
	"filter":                      {"strata has no HAProxy filters", "a Proxy-Wasm filter"},
	"declare":                     {"strata has no declared captures", ""},
	"description":                 {"no meaning for strata", ""},
	"id":                          {"no meaning for strata", ""},
	"email-alert":                 {"strata sends no mail", "watch the admin API's metrics"},
	"external-check":              {"strata runs no external checks", ""},
	"source":                      {"strata does not choose the source address", ""},
	"dispatch":                    {"strata has no dispatch address", "a server"},
	"retry-on":                    {"strata retries failed connections only", "backends.NAME.retries"},
	"persist":                     {"strata has no RDP cookie persistence", ""},
	"force-persist":               {"strata has no cookie persistence", ""},
	"ignore-persist":              {"strata has no cookie persistence", ""},
	"grace":                       {"strata's grace is global", "global.grace"},
	"backlog":                     {"strata uses the system's listen backlog", ""},
	"hash-balance-factor":         {"strata has no bounded-load hashing", ""},
	"max-keep-alive-queue":        {"strata has no keep-alive queue", ""},
	"load-server-state-from-file": {"strata keeps server state across reloads itself", ""},
}

func (c *converter) unsupported(l Line, fromDefaults bool) {
	why, ok := unsupportedWhy[l.Words[0]]
	if !ok {
		why = [2]string{"no strata equivalent", ""}
	}
	lvl := NotConverted
	switch {
	case why[0] == "no meaning for strata":
		lvl = Ignored
	case l.Words[0] == "log":
		lvl = Changed // where logs go, not what traffic does
	}
	c.report(l, lvl, why[0], why[1])
}

// finish completes a section once all its lines are read.
func (c *converter) finish(p *proxyState) {
	if !p.modeSet {
		// HAProxy's default mode is tcp; strata's is http: say it.
		if p.fe != nil {
			p.fe.mode = "tcp"
		}
		if p.be != nil {
			p.be.mode = "tcp"
		}
	}
	if be := p.be; be != nil {
		if be.health != nil && p.httpchk != nil {
			h := p.httpchk
			if h.typ == "http" {
				be.health.typ, be.health.path, be.health.method, be.health.host, be.health.expect = "http", h.path, h.method, h.host, h.expect
			}
			be.health.timeout = h.timeout
		}
		if p.fe == nil {
			for _, r := range p.redirects {
				be.rules.add("http_request", r)
			}
		}
		c.missingTimeouts(p, []string{"connect", "server"})
		c.out.backends = append(c.out.backends, be)
	}
	fe := p.fe
	if fe == nil {
		return
	}
	fe.rules["http_request"] = append(fe.rules["http_request"], p.redirects...)
	if p.s.Kind == "listen" && fe.defBackend == "" {
		fe.defBackend = p.s.Name
	}
	if fe.defBackend == "" && len(fe.rules["use_backend"]) == 0 {
		c.rep.add(Entry{Line: p.s.Line, Level: Changed, Directive: p.s.Kind + " " + p.s.Name,
			Reason: "no default_backend: strata requires one; requests no rule routes get 503 from an empty backend, as in HAProxy"})
		fe.defBackend = c.emptyBackend(fe.mode)
	}
	c.missingTimeouts(p, []string{"client"})
	if len(p.binds) == 0 {
		c.rep.add(Entry{Line: p.s.Line, Level: NotConverted, Directive: p.s.Kind + " " + p.s.Name,
			Reason: "no address strata can listen on: the frontend is left out"})
		return
	}
	// strata's TLS and accept_proxy are per frontend: binds that differ
	// become frontends of their own, with the same rules.
	var groups [][]bindOut
	index := map[string]int{}
	for _, b := range p.binds {
		k := b.key()
		if i, ok := index[k]; ok {
			groups[i] = append(groups[i], b)
			continue
		}
		index[k] = len(groups)
		groups = append(groups, []bindOut{b})
	}
	for i, g := range groups {
		f := *fe
		if i > 0 {
			f.name = fe.name + "-plain"
			if g[0].tls != nil {
				f.name = fe.name + "-tls"
			}
			if i > 1 {
				f.name += strconv.Itoa(i)
			}
			c.rep.add(Entry{Line: g[0].line.Num, Level: Changed, Directive: g[0].line.String(),
				Reason: "strata sets TLS and accept-proxy per frontend: this bind is served by frontend " + f.name + ", with the same rules"})
		}
		for c.frontendNamed(f.name) != nil {
			f.name += "-"
		}
		f.tls, f.proxy = g[0].tls, g[0].proxy
		for _, b := range g {
			f.bind = append(f.bind, b.addr)
		}
		c.out.frontends = append(c.out.frontends, &f)
	}
}

// taken reports whether a frontend (or backend) of s's name exists already
// where s would add one.
func (c *converter) taken(s *Section) bool {
	if s.Kind != "backend" && c.frontendNamed(s.Name) != nil {
		return true
	}
	if s.Kind != "frontend" {
		for _, b := range c.out.backends {
			if b.name == s.Name {
				return true
			}
		}
	}
	return false
}

func (c *converter) frontendNamed(name string) *frontendOut {
	for _, f := range c.out.frontends {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (c *converter) missingTimeouts(p *proxyState, names []string) {
	for _, n := range names {
		if !p.timeoutSet[n] {
			c.rep.add(Entry{Line: p.s.Line, Level: Changed, Directive: p.s.Kind + " " + p.s.Name,
				Reason: "no timeout " + n + ": HAProxy waits forever (and warns); strata applies its default"})
		}
	}
}

// emptyBackend returns the name of a backend without servers, for
// frontends that have no default_backend.
func (c *converter) emptyBackend(mode string) string {
	name := "no-server-" + mode
	for _, b := range c.out.backends {
		if b.name == name {
			return name
		}
	}
	c.out.backends = append(c.out.backends, &backendOut{name: name, mode: mode, rules: ruleLists{}})
	return name
}
