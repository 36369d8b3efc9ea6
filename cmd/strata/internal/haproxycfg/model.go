package haproxycfg

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The output model: strata's configuration as the converter builds it, each
// rule and ACL with the HAProxy line it came from, so that an item the rule
// compiler refuses can be taken out and reported with its line.

type item struct {
	line    int
	text    string
	comment string // the HAProxy comment, carried over
}

func itemOf(l Line, text string) item { return item{l.Num, text, l.Comment} }

type aclDef struct {
	name string
	item
}

type kv struct{ k, v string }

// ruleLists are the rule lists of a frontend or a backend, by strata key.
type ruleLists map[string][]item

// ruleKeys is the order in which rule lists are written.
var ruleKeys = []string{"tcp_request_connection", "tcp_request_session", "tcp_request_content", "http_request", "http_response", "http_after_response", "use_backend", "use_service"}

type forwardFor struct {
	header string
	except []string
}

type frontendOut struct {
	name       string
	line       int
	comment    string
	bind       []string
	mode       string
	timeouts   []kv
	maxconn    string
	acls       []aclDef
	rules      ruleLists
	defBackend string
	ff         *forwardFor
	forwarded  bool
	proxy      bool
	tls        *bindTLS
	logFormat  string
	monitorURI string // monitor-uri
	captureReq []kv   // name, len
	captureRes []kv
	uniqueID   string // unique-id-format
	uniqueHdr  string // unique-id-header
}

type bindTLS struct {
	certs      []string
	alpn       []string
	minVersion string
	verify     string // client_auth mode
	ca         string
}

type serverOut struct {
	name, address string
	line          int
	comment       string
	fields        []kv // in a fixed order
	tls           []kv // nil: none; empty: `tls: true`
}

type healthOut struct {
	typ, path, method, host, expect string
	interval, timeout, rise, fall   string
}

type backendOut struct {
	name     string
	line     int
	comment  string
	mode     string
	balance  string
	hashType string
	timeouts []kv
	fields   []kv // retries, redispatch, …
	health   *healthOut
	acls     []aclDef
	rules    ruleLists
	ff       *forwardFor
	stickOn  []kv
	servers  []*serverOut
}

type tableOut struct {
	name    string
	line    int
	comment string
	fields  []kv
	store   []string
}

type output struct {
	header    string // the comment at the top of the HAProxy file
	global    []kv   // dotted keys under global
	tables    []*tableOut
	frontends []*frontendOut
	backends  []*backendOut
}

// render writes the configuration as YAML and returns, for every rule and
// ACL written, its path and the HAProxy line it came from.
func (o *output) render() ([]byte, map[string]*item) {
	paths := map[string]*item{}
	root := mapping()
	if len(o.global) > 0 {
		g := mapping()
		for _, e := range o.global {
			setDotted(g, e.k, e.v)
		}
		add(root, "global", g)
	}
	if len(o.tables) > 0 {
		ts := mapping()
		for _, t := range o.tables {
			m := flowMapping()
			for _, f := range t.fields {
				add(m, f.k, scalar(f.v))
			}
			if len(t.store) > 0 {
				add(m, "store", flowSeq(t.store))
			}
			addCommented(ts, t.name, m, t.line, t.comment)
		}
		add(root, "stick_tables", ts)
	}
	if len(o.frontends) > 0 {
		fs := mapping()
		for _, f := range o.frontends {
			addCommented(fs, f.name, f.node("frontends."+f.name, paths), f.line, f.comment)
		}
		add(root, "frontends", fs)
	}
	if len(o.backends) > 0 {
		bs := mapping()
		for _, b := range o.backends {
			addCommented(bs, b.name, b.node("backends."+b.name, paths), b.line, b.comment)
		}
		add(root, "backends", bs)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}, HeadComment: o.header}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		panic(err) // a node tree built here is always encodable
	}
	return []byte(b.String()), paths
}

func (f *frontendOut) node(path string, paths map[string]*item) *yaml.Node {
	m := mapping()
	add(m, "bind", flowSeq(f.bind))
	if f.mode != "" {
		add(m, "mode", scalar(f.mode))
	}
	if len(f.timeouts) > 0 {
		add(m, "timeouts", kvFlow(f.timeouts))
	}
	if f.maxconn != "" {
		add(m, "maxconn", scalar(f.maxconn))
	}
	if f.proxy {
		add(m, "accept_proxy", scalar("true"))
	}
	if f.tls != nil {
		add(m, "tls", f.tls.node())
	}
	addACLs(m, path, f.acls, paths)
	addRules(m, path, f.rules, paths)
	if f.defBackend != "" {
		add(m, "default_backend", scalar(f.defBackend))
	}
	addForwardFor(m, f.ff)
	if f.forwarded {
		add(m, "forwarded", scalar("true"))
	}
	if f.logFormat != "" {
		add(m, "log_format", scalar(f.logFormat))
	}
	if f.monitorURI != "" {
		add(m, "monitor_uri", scalar(f.monitorURI))
	}
	addCaptures(m, "capture_request_headers", f.captureReq)
	addCaptures(m, "capture_response_headers", f.captureRes)
	if f.uniqueID != "" {
		add(m, "unique_id_format", scalar(f.uniqueID))
		if f.uniqueHdr != "" {
			add(m, "unique_id_header", scalar(f.uniqueHdr))
		}
	}
	return m
}

// addCaptures writes captured headers as [{ name: N, len: L }, …].
func addCaptures(m *yaml.Node, key string, caps []kv) {
	if len(caps) == 0 {
		return
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, c := range caps {
		e := flowMapping()
		add(e, "name", scalar(c.k))
		add(e, "len", scalar(c.v))
		list.Content = append(list.Content, e)
	}
	add(m, key, list)
}

func (t *bindTLS) node() *yaml.Node {
	m := mapping()
	certs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, c := range t.certs {
		certs.Content = append(certs.Content, scalar(c))
	}
	add(m, "certificates", certs)
	if len(t.alpn) > 0 {
		add(m, "alpn", flowSeq(t.alpn))
	}
	if t.minVersion != "" {
		add(m, "min_version", scalar(t.minVersion))
	}
	if t.verify != "" && t.verify != "none" {
		ca := flowMapping()
		add(ca, "mode", scalar(t.verify))
		add(ca, "ca", scalar(t.ca))
		add(m, "client_auth", ca)
	}
	return m
}

func (b *backendOut) node(path string, paths map[string]*item) *yaml.Node {
	m := mapping()
	if b.mode != "" {
		add(m, "mode", scalar(b.mode))
	}
	if b.balance != "" {
		add(m, "balance", scalar(b.balance))
	}
	if b.hashType != "" {
		add(m, "hash_type", scalar(b.hashType))
	}
	if len(b.timeouts) > 0 {
		add(m, "timeouts", kvFlow(b.timeouts))
	}
	for _, f := range b.fields {
		add(m, f.k, scalar(f.v))
	}
	if h := b.health; h != nil {
		hm := mapping()
		for _, f := range []kv{{"type", h.typ}, {"path", h.path}, {"method", h.method}, {"host", h.host}, {"interval", h.interval}, {"timeout", h.timeout}, {"rise", h.rise}, {"fall", h.fall}} {
			if f.v != "" {
				add(hm, f.k, scalar(f.v))
			}
		}
		if h.expect != "" {
			e := flowMapping()
			add(e, "status", scalar(h.expect))
			add(hm, "expect", e)
		}
		add(m, "health_check", hm)
	}
	addACLs(m, path, b.acls, paths)
	addRules(m, path, b.rules, paths)
	addForwardFor(m, b.ff)
	if len(b.stickOn) > 0 {
		add(m, "stick", kvFlow(b.stickOn))
	}
	if len(b.servers) > 0 {
		ss := mapping()
		for _, s := range b.servers {
			sm := flowMapping()
			add(sm, "address", scalar(s.address))
			for _, f := range s.fields {
				add(sm, f.k, scalar(f.v))
			}
			if s.tls != nil {
				if len(s.tls) == 0 {
					add(sm, "tls", scalar("true"))
				} else {
					add(sm, "tls", kvFlow(s.tls))
				}
			}
			addCommented(ss, s.name, sm, s.line, s.comment)
		}
		add(m, "servers", ss)
	}
	return m
}

func addACLs(m *yaml.Node, path string, acls []aclDef, paths map[string]*item) {
	var order []string
	defs := map[string][]*item{}
	for i := range acls {
		a := &acls[i]
		if a.text == "" {
			continue // taken out
		}
		if _, ok := defs[a.name]; !ok {
			order = append(order, a.name)
		}
		defs[a.name] = append(defs[a.name], &a.item)
	}
	if len(order) == 0 {
		return
	}
	am := mapping()
	for _, name := range order {
		list := defs[name]
		p := path + ".acls." + name
		if len(list) == 1 {
			paths[p] = list[0]
			addCommented(am, name, scalar(list[0].text), list[0].line, list[0].comment)
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for i, it := range list {
			paths[p+"["+strconv.Itoa(i)+"]"] = it
			seq.Content = append(seq.Content, scalar(it.text))
		}
		addCommented(am, name, seq, list[0].line, list[0].comment)
	}
	add(m, "acls", am)
}

func addRules(m *yaml.Node, path string, rules ruleLists, paths map[string]*item) {
	for _, k := range ruleKeys {
		list := rules[k]
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for j := range list {
			it := &list[j]
			if it.text == "" {
				continue // taken out
			}
			i := len(seq.Content)
			paths[path+"."+k+"["+strconv.Itoa(i)+"]"] = it
			n := scalar(it.text)
			n.HeadComment = it.comment
			n.LineComment = "line " + strconv.Itoa(it.line)
			seq.Content = append(seq.Content, n)
		}
		if len(seq.Content) > 0 {
			add(m, k, seq)
		}
	}
}

func addForwardFor(m *yaml.Node, ff *forwardFor) {
	if ff == nil {
		return
	}
	if ff.header == "" && len(ff.except) == 0 {
		add(m, "forward_for", scalar("true"))
		return
	}
	f := flowMapping()
	if ff.header != "" {
		add(f, "header", scalar(ff.header))
	}
	if len(ff.except) > 0 {
		add(f, "except", flowSeq(ff.except))
	}
	add(m, "forward_for", f)
}

// setDotted sets a.b.c = v in a mapping, creating the mappings between.
func setDotted(m *yaml.Node, key, v string) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == p {
				next = m.Content[i+1]
			}
		}
		if next == nil {
			next = flowMapping()
			add(m, p, next)
		}
		m = next
	}
	add(m, parts[len(parts)-1], scalar(v))
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func flowMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle} }

func kvFlow(list []kv) *yaml.Node {
	m := flowMapping()
	for _, e := range list {
		add(m, e.k, scalar(e.v))
	}
	return m
}

func flowSeq(list []string) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range list {
		s.Content = append(s.Content, scalar(v))
	}
	return s
}

// scalar is a string node; values that YAML would read as something else
// (or that need it) are quoted by the encoder.
func scalar(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if _, err := strconv.Atoi(v); err == nil || v == "true" || v == "false" {
		n.Tag = "" // a number or a boolean, written bare
	}
	return n
}

func add(m *yaml.Node, k string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
}

func addCommented(m *yaml.Node, k string, v *yaml.Node, line int, comment string) {
	kn := &yaml.Node{Kind: yaml.ScalarNode, Value: k, HeadComment: comment}
	switch {
	case line <= 0:
	case v.Kind == yaml.MappingNode && v.Style == yaml.FlowStyle:
		v.LineComment = "line " + strconv.Itoa(line) // on the key, the encoder moves it below
	default:
		kn.LineComment = "line " + strconv.Itoa(line)
	}
	m.Content = append(m.Content, kn, v)
}
