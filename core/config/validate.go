package config

import (
	"sort"
	"strings"
)

// config decodes the merged tree. Sections are decoded in the order they
// are written, so errors come out in file order.
func (d *decoder) config(raw map[string]any) *Config {
	root := d.object("", raw)
	root.known = append(root.known, topKeys...)
	c := &Config{}
	for _, key := range d.st.keys("", raw) {
		switch key {
		case "global":
			c.Global = d.global(raw[key])
		case "frontends":
			names, values, p := root.named(key)
			for _, n := range names {
				c.Frontends = append(c.Frontends, d.frontend(n, joinPath(p, n), values[n]))
			}
		case "backends":
			names, values, p := root.named(key)
			for _, n := range names {
				c.Backends = append(c.Backends, d.backend(n, joinPath(p, n), values[n]))
			}
		case "stick_tables":
			names, values, p := root.named(key)
			for _, n := range names {
				c.StickTables = append(c.StickTables, d.stickTable(n, joinPath(p, n), values[n]))
			}
		case "plugins":
			names, values, p := root.named(key)
			for _, n := range names {
				c.Plugins = append(c.Plugins, d.plugin(n, joinPath(p, n), values[n]))
			}
		default:
			// x-… keys are free, to hold YAML anchors:
			// `x-server: &server { weight: 10 }`.
			if !strings.HasPrefix(key, "x-") {
				root.unknown(key)
			}
		}
	}
	if _, ok := raw["global"]; !ok {
		c.Global = d.global(nil)
	}
	fv := raw["frontends"]
	if _, isMap := fv.(map[string]any); len(c.Frontends) == 0 && (fv == nil || isMap) {
		d.errorf("frontends", `add one, e.g. frontends: { web: { bind: [":8080"], default_backend: app } }`, "at least one frontend is required")
	}
	d.validate(c)
	return c
}

// validate checks what involves more than one section: references, modes
// and addresses.
func (d *decoder) validate(c *Config) {
	backends := map[string]*Backend{}
	var backendNames []string
	for _, b := range c.Backends {
		backends[b.Name] = b
		backendNames = append(backendNames, b.Name)
	}
	tables := map[string]bool{}
	var tableNames []string
	for _, t := range c.StickTables {
		tables[t.Name] = true
		tableNames = append(tableNames, t.Name)
	}

	for _, f := range c.Frontends {
		if d.broken[f.Path] {
			continue
		}
		p := joinPath(f.Path, "default_backend")
		switch {
		case f.DefaultBackend != "":
			b := backends[f.DefaultBackend]
			if b == nil {
				d.errorf(p, refFix("backend", f.DefaultBackend, backendNames), "no backend named %s", quote(f.DefaultBackend))
			} else if b.Mode != f.Mode {
				d.errorf(p, "set mode: "+f.Mode.String()+" in "+b.Path+", or use a "+f.Mode.String()+" backend",
					"backend %s is in %s mode but frontend %s is in %s mode", quote(b.Name), b.Mode, quote(f.Name), f.Mode)
			}
		case len(f.UseBackend.List) == 0 && len(f.UseService.List) == 0:
			fix := "name the backend of streams no rule routes, e.g. default_backend: " + firstOr(backendNames, "app") + ", or add use_backend or use_service rules"
			if len(backendNames) == 0 {
				fix = "define a backend under backends and name it here, or add use_backend or use_service rules"
			}
			d.errorf(p, fix, "required when the frontend has no use_backend or use_service rules")
		}
	}

	for _, b := range c.Backends {
		if b.Stick == nil || b.Stick.Table == "" || tables[b.Stick.Table] {
			continue
		}
		d.errorf(joinPath(b.Path, "stick.table"), refFix("stick table", b.Stick.Table, tableNames), "no stick table named %s", quote(b.Stick.Table))
	}

	d.validateFilters(c, backendNames, backends)
	d.checkAddresses(c)
}

// refFix is the fix of a reference to a missing name.
func refFix(what, name string, names []string) string {
	if len(names) == 0 {
		return "define it under " + strings.ReplaceAll(what, " ", "_") + "s"
	}
	if s := suggest(name, names); s != "" {
		return "did you mean " + quote(s) + "?"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return "name one of: " + strings.Join(sorted, ", ")
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// bound is an address something listens on.
type bound struct {
	addr hostPort
	path string
	text string
}

// checkAddresses refuses two listeners on one address: the same address
// twice, or a wildcard and any address on one port (the second listen
// would fail). Port 0 never conflicts: each listener gets its own port.
func (d *decoder) checkAddresses(c *Config) {
	var all []bound
	if l := c.Global.Admin.Listen; l != "" && c.Global.Admin.Unix() == "" {
		if a, msg, _ := parseHostPort(l, true); msg == "" {
			all = append(all, bound{a, "global.admin.listen", l})
		}
	}
	all = append(all, d.binds...)
	byPort := map[int][]bound{}
	for _, b := range all {
		if b.addr.port == 0 {
			continue // each gets its own free port
		}
		for _, o := range byPort[b.addr.port] {
			if o.addr.key() == b.addr.key() || o.addr.wildcard() || b.addr.wildcard() {
				msg := "address " + quote(b.text) + " is already bound by " + o.path
				if o.text != b.text {
					msg += " (" + quote(o.text) + ")"
				}
				d.errorf(b.path, "use another port, or remove one of them", "%s", msg)
				break
			}
		}
		byPort[b.addr.port] = append(byPort[b.addr.port], b)
	}
}
