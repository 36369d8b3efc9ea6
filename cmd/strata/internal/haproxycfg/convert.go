package haproxycfg

import (
	"path/filepath"
	"strings"
	"unicode/utf8"
)

type converter struct {
	name     string // of the HAProxy file
	fileDir  string // see Options.FileDir
	f        *File
	rep      *Report
	out      output
	defaults map[string]*Section
	crtBase  string
	caBase   string
	section  *Section // being converted
	logSet   bool     // a global `log` became global.access_log
}

func newConverter(f *File, opt Options) *converter {
	c := &converter{f: f, name: opt.Name, fileDir: opt.FileDir, rep: &Report{}, defaults: map[string]*Section{}}
	for _, m := range f.Messages {
		c.rep.add(Entry{Line: m.Line, Level: Info, Directive: "." + m.Level, Reason: m.Text})
	}
	return c
}

// words joins a line as written, for the report.
func (l Line) String() string { return strings.Join(quoteWords(l.Words), " ") }

func (c *converter) report(l Line, lvl Level, reason, alt string) {
	c.rep.add(Entry{Line: l.Num, Level: lvl, Directive: l.String(), Reason: reason, Alternative: alt})
}

func (c *converter) run() {
	if len(c.f.Sections) > 0 {
		c.out.header = c.f.Sections[0].Comment
	}
	var lastDefaults *Section
	for _, s := range c.f.Sections {
		c.section = s
		switch s.Kind {
		case "global":
			c.global(s)
		case "defaults":
			if s.Name != "" {
				c.defaults[s.Name] = s
			}
			lastDefaults = s
		case "frontend", "backend", "listen":
			if !c.utf8(Line{Num: s.Line, Words: []string{s.Kind, s.Name}}) {
				continue
			}
			d := lastDefaults
			if s.From != "" {
				d = c.defaults[s.From]
				if d == nil {
					c.rep.add(Entry{Line: s.Line, Level: NotConverted, Directive: s.Kind + " " + s.Name + " from " + s.From,
						Reason: "no defaults section called " + s.From + " before it"})
				}
			}
			c.proxy(s, c.inherited(d, 0))
		default:
			c.otherSection(s)
		}
	}
}

// inherited returns the lines a proxy takes from defaults section d and
// the sections d itself takes from, outermost first.
func (c *converter) inherited(d *Section, depth int) []Line {
	if d == nil || depth > 16 {
		return nil
	}
	var lines []Line
	if d.From != "" {
		lines = c.inherited(c.defaults[d.From], depth+1)
	}
	return append(lines, d.Lines...)
}

func (c *converter) otherSection(s *Section) {
	l := Line{Num: s.Line, Words: []string{s.Kind, s.Name}}
	switch s.Kind {
	case "userlist":
		c.report(l, NotConverted, "strata has no user lists or http_auth", "authenticate in a plugin (strata_v1 action) or at the servers")
	case "resolvers":
		c.report(l, Changed, "strata resolves with the system resolver", "set resolve: true on servers to re-resolve their names at run time")
	case "peers":
		c.report(l, NotConverted, "strata does not speak HAProxy's peers protocol", "share stick tables across instances through Redis (see README, fleet)")
	default:
		c.report(l, NotConverted, "strata has no "+s.Kind+" section", "")
	}
	for _, line := range s.Lines {
		c.report(line, NotConverted, "inside a "+s.Kind+" section, which is not converted", "")
	}
}

// utf8 reports whether the words of l are UTF-8, which YAML requires;
// a line that is not is reported.
func (c *converter) utf8(l Line) bool {
	for _, w := range l.Words {
		if !utf8.ValidString(w) {
			c.rep.add(Entry{Line: l.Num, Level: NotConverted, Directive: strings.ToValidUTF8(l.String(), "\uFFFD"),
				Reason: "holds bytes that are not UTF-8, which a YAML file cannot carry"})
			return false
		}
	}
	return true
}

// processDirectives mean nothing to strata's behaviour.
var processDirectives = map[string]string{
	"daemon": "strata runs in the foreground under a supervisor", "master-worker": "strata reloads with SIGHUP and upgrades its binary itself",
	"nbthread": "strata uses every core (GOMAXPROCS)", "nbproc": "strata is one process", "cpu-map": "strata uses every core",
	"user": "run strata as the user you want", "group": "run strata as the group you want", "uid": "run strata as the user you want", "gid": "run strata as the group you want",
	"chroot": "strata reads its files at start", "pidfile": "strata run --pidfile FILE", "description": "", "node": "",
	"stats timeout": "", "ssl-server-verify": "", "hard-stop-after": "global.grace bounds the drain",
}

func (c *converter) global(s *Section) {
	for _, l := range s.Lines {
		if !c.utf8(l) {
			continue
		}
		w := l.Words
		kw := w[0]
		switch {
		case kw == "maxconn" && len(w) == 2:
			c.out.global = append(c.out.global, kv{"maxconn", w[1]})
		case kw == "tune.bufsize" && len(w) == 2:
			c.out.global = append(c.out.global, kv{"tune.bufsize", w[1]})
		case kw == "tune.http.maxhdr" && len(w) == 2:
			c.out.global = append(c.out.global, kv{"tune.max_headers", w[1]})
		case kw == "default-path" && len(w) >= 2:
			c.defaultPath(l)
		case kw == "crt-base" && len(w) == 2:
			c.crtBase = w[1]
		case kw == "ca-base" && len(w) == 2:
			c.caBase = w[1]
		case kw == "stats" && len(w) >= 3 && w[1] == "socket":
			c.adminSocket(l)
		case kw == "log":
			c.globalLog(l)
		case kw == "hard-stop-after" && len(w) == 2:
			c.out.global = append(c.out.global, kv{"grace", w[1]})
		case kw == "ssl-default-bind-options" && onlyOldVersionsOff(w[1:]):
			c.report(l, Ignored, "strata accepts TLS 1.2 and later by default", "frontends.NAME.tls.min_version")
		case strings.HasPrefix(kw, "ssl-default-"):
			c.report(l, NotConverted, "strata uses Go's TLS defaults (TLS 1.2+, modern cipher suites)", "frontends.NAME.tls.min_version")
		default:
			if why, ok := processDirectives[kw]; ok {
				c.report(l, Ignored, orText(why, "no meaning for strata"), "")
				continue
			}
			c.report(l, NotConverted, "no strata equivalent for this global setting", "")
		}
	}
}

// onlyOldVersionsOff reports whether ssl-default-bind-options only turns
// off what strata never offers.
func onlyOldVersionsOff(opts []string) bool {
	for _, o := range opts {
		switch o {
		case "no-sslv3", "no-tlsv10", "no-tlsv11", "prefer-client-ciphers":
		default:
			return false
		}
	}
	return true
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *converter) adminSocket(l Line) {
	path := l.Words[2]
	if strings.HasPrefix(path, "ipv4@") || strings.Contains(path, ":") && !strings.HasPrefix(path, "/") {
		c.report(l, NotConverted, "a TCP admin address needs a token", "global.admin: { listen: HOST:PORT, token: … }")
		return
	}
	c.out.global = append(c.out.global, kv{"admin.listen", "unix:" + strings.TrimPrefix(path, "unix@")})
	c.report(l, Changed, "the runtime API is strata's admin API on this socket (HTTP; strata ctl --admin unix:PATH)", "")
}

// filePath joins a relative file to crt-base or ca-base, as HAProxy does,
// then to the directory HAProxy reads relative files from when the YAML
// goes elsewhere (Options.FileDir, or default-path).
func (c *converter) filePath(base, file string) string {
	if base != "" && !filepath.IsAbs(file) {
		file = filepath.Join(base, file)
	}
	if c.fileDir != "" && !filepath.IsAbs(file) {
		file = filepath.Join(c.fileDir, file)
	}
	return file
}

// defaultPath reads `default-path current|config|parent|origin PATH`.
func (c *converter) defaultPath(l Line) {
	cfgDir := filepath.Dir(c.name)
	switch arg(l.Words, 1) {
	case "current":
	case "config":
		c.fileDir = cfgDir
	case "parent":
		c.fileDir = filepath.Dir(cfgDir)
	case "origin":
		c.fileDir = arg(l.Words, 2)
	default:
		c.report(l, NotConverted, "unknown default-path", "")
		return
	}
	if c.fileDir != "" {
		if abs, err := filepath.Abs(c.fileDir); err == nil {
			c.fileDir = abs
		}
	}
}

// quoteWords writes words so that strata's rule splitter (and a reader)
// gets them back: bare when safe, else in single quotes, else double.
func quoteWords(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = quoteWord(w)
	}
	return out
}

func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\"'\\#\n\r") {
		return w
	}
	if !strings.ContainsAny(w, "'\n\r") {
		return "'" + w + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(w) + `"`
}

func joinRule(ws []string) string { return strings.Join(quoteWords(ws), " ") }

// splitTopCommas splits "a,b(1,2),c" at commas outside parentheses.
func splitTopCommas(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// globalLog converts the first `log TARGET [len N] [format F] FACILITY
// [LEVEL]` of global into global.access_log (strata has one destination).
func (c *converter) globalLog(l Line) {
	w := l.Words[1:]
	if c.logSet || len(w) < 2 {
		c.report(l, NotConverted, "strata has one access-log destination for the process", "global.access_log")
		return
	}
	out, why, note := logOutput(w[0])
	if out == "" {
		c.report(l, NotConverted, why, "global.access_log.output: stdout, stderr, a file, udp://HOST:PORT or unix:///PATH")
		return
	}
	if note != "" {
		c.report(l, Changed, note, "")
	}
	kvs := []kv{{"access_log.output", out}}
	format, rest := "", w[1:]
	for len(rest) >= 2 && (rest[0] == "len" || rest[0] == "format" || rest[0] == "sample") {
		if rest[0] == "format" {
			format = rest[1]
		}
		rest = rest[2:]
	}
	syslogOut := strings.HasPrefix(out, "udp://") || strings.HasPrefix(out, "unix://")
	switch {
	case format == "rfc5424" || format == "rfc3164":
		if syslogOut {
			kvs = append(kvs, kv{"access_log.syslog.format", format})
		}
	case format == "" && syslogOut:
		kvs = append(kvs, kv{"access_log.syslog.format", "rfc3164"}) // HAProxy's default
	}
	if syslogOut && len(rest) >= 1 {
		// What follows the facility are HAProxy's level filters, not
		// the severity: traffic logs are sent at info in both.
		kvs = append(kvs, kv{"access_log.syslog.facility", rest[0]})
	}
	c.logSet = true
	c.out.global = append(c.out.global, kvs...)
	if !syslogOut && format != "raw" {
		// HAProxy's default format is rfc3164 whatever the address.
		c.report(l, Changed, "strata writes lines to "+out+" without a syslog header (HAProxy's format raw)", "")
	}
}
