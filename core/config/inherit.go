package config

import (
	"sort"
	"strings"
	"time"
)

// DefaultsSection is one entry of `defaults`, HAProxy's `defaults` and
// `defaults NAME`: settings a frontend or a backend takes when it does not
// write them itself.
//
// Precedence, highest first: the frontend's or backend's own key; the
// section it names with `defaults: NAME`; the section named `default`;
// the built-in default. A named section is itself decoded over `default`,
// so it only needs to say what differs. A frontend or backend without a
// `defaults` key takes `default` when there is one.
//
// What is inherited: mode, every timeout (frontends take client,
// http_request and http_keep_alive; backends connect, server, tunnel and
// queue — http_keep_alive is the client side's, as HAProxy's `timeout
// http-keep-alive`, while a backend's pool idle time stays its own),
// forward_for and forwarded (both sides), and for backends balance,
// hash_type, retries, redispatch, health_check, observe and error_limit.
// Names, binds, rules, servers and references are never inherited.
type DefaultsSection struct {
	Name string
	Path string // "defaults.NAME"

	Mode       Mode
	Timeouts   DefaultsTimeouts
	ForwardFor *ForwardFor
	Forwarded  bool
	// LogFormat is the frontends' `log_format` (HAProxy's `option httplog`
	// or `log-format` in a defaults section).
	LogFormat string

	Balance     string
	HashType    string
	Retries     int
	Redispatch  bool
	HealthCheck *HealthCheck
	Observe     string
	ErrorLimit  int

	// set holds the timeout keys written in this section or in the one
	// it is decoded over: an unset keep-alive or queue timeout follows
	// another one (http_request, connect), which a set one does not.
	set map[string]bool
}

// DefaultsTimeouts is `defaults.NAME.timeouts`: the timeouts of both
// sides, each applied to the side that has it.
type DefaultsTimeouts struct {
	FrontendTimeouts
	Connect, Server, Tunnel, Queue time.Duration
}

// DefaultSectionName is the section every frontend and backend takes
// unless it names another, as HAProxy's unnamed `defaults`.
const DefaultSectionName = "default"

// builtinDefaults are the built-in values, the base of every section.
func builtinDefaults() *DefaultsSection {
	return &DefaultsSection{
		Mode: ModeHTTP,
		Timeouts: DefaultsTimeouts{
			FrontendTimeouts: FrontendTimeouts{Client: DefaultClientTimeout, HTTPRequest: DefaultHTTPRequestTimeout, HTTPKeepAlive: DefaultHTTPKeepAliveTimeout},
			Connect:          DefaultConnectTimeout, Server: DefaultServerTimeout, Tunnel: DefaultTunnelTimeout, Queue: DefaultConnectTimeout,
		},
		Balance:    DefaultBalance,
		HashType:   DefaultHashType,
		Retries:    DefaultRetries,
		ErrorLimit: DefaultErrorLimit,
		set:        map[string]bool{},
	}
}

// defaultsSections decodes `defaults`: `default` first (over the built-in
// values), then the named sections over it, whatever the file order.
func (d *decoder) defaultsSections(root *object) map[string]*DefaultsSection {
	names, values, p := root.named("defaults")
	all := map[string]*DefaultsSection{}
	base := builtinDefaults()
	if _, ok := values[DefaultSectionName]; ok {
		base = d.defaultsSection(DefaultSectionName, joinPath(p, DefaultSectionName), values[DefaultSectionName], base)
		all[DefaultSectionName] = base
	}
	for _, n := range names {
		if n != DefaultSectionName {
			all[n] = d.defaultsSection(n, joinPath(p, n), values[n], base)
		}
	}
	return all
}

// defaultsSection decodes one section over parent, with the accessors and
// checks of the frontends and backends it serves.
func (d *decoder) defaultsSection(name, path string, v any, parent *DefaultsSection) *DefaultsSection {
	o := d.entity(path, v)
	s := &DefaultsSection{Name: name, Path: path, set: map[string]bool{}}
	for k := range parent.set {
		s.set[k] = true
	}
	s.Mode = o.mode("mode", parent.Mode)

	t := o.sub("timeouts")
	var set []string
	s.Timeouts.FrontendTimeouts, set = t.frontendTimeouts(parent.Timeouts.FrontendTimeouts, parent.set)
	for _, k := range set {
		s.set[k] = true
	}
	s.Timeouts.Connect = s.timeout(t, "connect", parent.Timeouts.Connect)
	s.Timeouts.Server = s.timeout(t, "server", parent.Timeouts.Server)
	s.Timeouts.Tunnel = s.timeout(t, "tunnel", parent.Timeouts.Tunnel)
	s.Timeouts.Queue = s.timeout(t, "queue", parent.Timeouts.Queue)
	if !s.set["queue"] {
		s.Timeouts.Queue = s.Timeouts.Connect
	}
	t.done()

	s.ForwardFor = o.inheritForwardFor(parent, ModeHTTP)
	s.Forwarded = o.inheritForwarded(parent, ModeHTTP)
	s.LogFormat = o.logFormat("log_format", parent.LogFormat)
	s.Balance = o.balance("balance", parent.Balance)
	s.HashType = o.hashType(parent.HashType)
	s.Retries = o.retries(parent.Retries)
	s.Redispatch = o.boolean("redispatch", parent.Redispatch)
	s.HealthCheck = o.inheritHealthCheck(parent.HealthCheck)
	s.Observe = o.observe(parent.Observe)
	s.ErrorLimit = o.errorLimit(parent.ErrorLimit)
	o.elsewhere = notInherited
	o.done()
	return s
}

// timeout decodes one timeout of the section, recording that it was set.
func (s *DefaultsSection) timeout(t *object, key string, def time.Duration) time.Duration {
	v, set := t.duration(key, def, 1)
	if set {
		s.set[key] = true
	}
	return v
}

// frontendTimeouts decodes the client-side timeouts over def, and returns
// the keys it set. An unset http_keep_alive follows http_request, as in
// HAProxy, unless it was set by a section below (inherited).
func (t *object) frontendTimeouts(def FrontendTimeouts, inherited map[string]bool) (FrontendTimeouts, []string) {
	var ft FrontendTimeouts
	var cs, rs, ks bool
	ft.Client, cs = t.duration("client", def.Client, 1)
	ft.HTTPRequest, rs = t.duration("http_request", def.HTTPRequest, 1)
	ft.HTTPKeepAlive, ks = t.duration("http_keep_alive", def.HTTPKeepAlive, 1)
	if (rs || inherited["http_request"]) && !ks && !inherited["http_keep_alive"] {
		ft.HTTPKeepAlive = ft.HTTPRequest
	}
	var set []string
	for _, k := range []struct {
		key string
		set bool
	}{{"client", cs}, {"http_request", rs}, {"http_keep_alive", ks}} {
		if k.set {
			set = append(set, k.key)
		}
	}
	return ft, set
}

// The backend keys below are decoded alike in a backend and in a defaults
// section, so that both take the same values and bounds.

func (o *object) hashType(def string) string {
	return o.oneOf("hash_type", def, "map-based", "consistent")
}

func (o *object) retries(def int) int { return o.integer("retries", def, 0, 100) }

func (o *object) observe(def string) string { return o.oneOf("observe", def, "layer4", "layer7") }

func (o *object) errorLimit(def int) int { return o.integer("error_limit", def, 1, 1000000) }

// inheritHealthCheck returns the health_check of o, or def when o does not
// set it (the key is still read, so that it is known and in the reference).
func (o *object) inheritHealthCheck(def *HealthCheck) *HealthCheck {
	if !o.has("health_check") {
		o.get("health_check")
		return def
	}
	return o.d.healthCheck(o)
}

// inheritForwardFor returns the forward_for of o, or the section's when
// o does not set it (`forward_for: false` turns an inherited one off). A
// TCP frontend or backend inherits none: it has no header to add to (as
// HAProxy ignores a defaults' option forwardfor in mode tcp).
func (o *object) inheritForwardFor(ds *DefaultsSection, m Mode) *ForwardFor {
	if o.has("forward_for") {
		return o.forwardFor("forward_for")
	}
	o.get("forward_for")
	if m == ModeTCP {
		return nil
	}
	return ds.ForwardFor
}

// inheritForwarded is inheritForwardFor for `forwarded`.
func (o *object) inheritForwarded(ds *DefaultsSection, m Mode) bool {
	return o.boolean("forwarded", ds.Forwarded && m == ModeHTTP)
}

// notInherited are keys of frontends or backends that a defaults section
// cannot hold, with the fix.
var notInherited = map[string]string{
	"bind":            "bind is not inherited: set it under frontends.NAME",
	"default_backend": "default_backend is not inherited: set it under frontends.NAME",
	"servers":         "servers are not inherited: set them under backends.NAME (init_addr and pool_max_conn give defaults to a backend's servers)",
	"defaults":        "a defaults section is decoded over defaults.default only: remove the key",
}

// sectionFor returns the defaults section of the frontend or backend o:
// the one its `defaults` key names, else `default`, else the built-in
// values. A name that is not defined is an error naming the known ones.
func (d *decoder) sectionFor(o *object) *DefaultsSection {
	name, p, ok := o.scalar("defaults")
	if !ok {
		if s := d.sections[DefaultSectionName]; s != nil {
			return s
		}
		return d.builtin
	}
	name = strings.TrimSpace(name)
	if s := d.sections[name]; s != nil {
		return s
	}
	known := make([]string, 0, len(d.sections))
	for n := range d.sections {
		known = append(known, n)
	}
	sort.Strings(known)
	fix := "define it under defaults, or name one of: " + strings.Join(known, ", ")
	if len(known) == 0 {
		fix = "define it: defaults: { " + name + ": { … } }"
	} else if sg := suggest(name, known); sg != "" {
		fix = "did you mean " + quote(sg) + "? defined: " + strings.Join(known, ", ")
	}
	o.d.errorf(p, fix, "unknown defaults section %s", quote(name))
	if s := d.sections[DefaultSectionName]; s != nil {
		return s
	}
	return d.builtin
}
