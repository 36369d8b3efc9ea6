package config

import (
	"math"
	"strings"
	"time"
)

// Global is the `global` section.
type Global struct {
	Admin     Admin         // `admin`; the admin API is off by default
	AccessLog AccessLog     // `access_log`
	Grace     time.Duration // `grace`: how long a stopping or reloaded proxy lets streams finish; default 10s
	MaxConn   int           // `maxconn`: client connections for the whole process; default 100000
	Tune      Tune          // `tune`
	// PluginCache is `plugin_cache`: the directory where compiled plugin
	// modules are kept across restarts (relative to Config.Dir). Default
	// "": strata/plugins under the user's cache directory ($XDG_CACHE_HOME
	// or ~/.cache); "none" keeps them in memory only.
	PluginCache string
}

// Admin is `global.admin`: the admin API (runtime API and metrics).
type Admin struct {
	// Listen is "" (the default: no admin API), "host:port" (port 0 takes
	// any free port) or "unix:/path/to/socket".
	Listen string
	// Token is the bearer token the admin API requires; required when
	// Listen is a TCP address, optional for a unix socket (whose file
	// permissions guard it). Usually given by STRATA_GLOBAL__ADMIN__TOKEN.
	Token string
}

// Unix returns the socket path when Listen is "unix:PATH", else "".
func (a Admin) Unix() string {
	p, _ := strings.CutPrefix(a.Listen, "unix:")
	if p == a.Listen {
		return ""
	}
	return p
}

// AccessLog is `global.access_log`.
type AccessLog struct {
	// Output is "stdout" (the default), "stderr", "none" or a file path
	// (relative to Config.Dir; see Config.Resolve).
	Output string
	// Format is "json" (the default) or "text".
	Format string
}

// Tune is `global.tune`: limits of the HTTP codec and of tracking.
type Tune struct {
	MaxRequestLine int // `max_request_line`: bytes of the request line; default 8192, at most max_head_bytes
	MaxHeadBytes   int // `max_head_bytes`: bytes of a request or response head; default 16384, at most bufsize
	MaxHeaders     int // `max_headers`: header fields of a head; default 101
	BufSize        int // `bufsize`: per-connection read buffer in bytes; default 16384
	StickCounters  int // `stick_counters`: track-sc slots (sc0…); default 3
}

func (d *decoder) global(v any) Global {
	o := d.object("global", v)
	var g Global

	a := o.sub("admin")
	g.Admin.Listen = a.str("listen", "")
	g.Admin.Token = a.str("token", "")
	a.done()
	if l := g.Admin.Listen; l != "" {
		if strings.HasPrefix(l, "unix:") {
			if g.Admin.Unix() == "" {
				d.errorf("global.admin.listen", "write unix:/path/to/socket", "empty unix socket path")
			}
		} else if _, msg, fix := parseHostPort(l, true); msg != "" {
			d.errorf("global.admin.listen", fix+", or unix:/path/to/socket", "%s", msg)
		} else if g.Admin.Token == "" {
			d.errorf("global.admin.token", "set a token or listen on unix:PATH", "required when global.admin.listen is a TCP address")
		}
	}

	l := o.sub("access_log")
	g.AccessLog.Output = l.str("output", DefaultAccessLogOutput)
	if g.AccessLog.Output == "" {
		d.errorf("global.access_log.output", "write stdout, stderr, none or a file path", "empty output")
		g.AccessLog.Output = DefaultAccessLogOutput
	}
	g.AccessLog.Format = l.oneOf("format", DefaultAccessLogFormat, "json", "text")
	l.done()

	g.Grace, _ = o.duration("grace", DefaultGrace, 0)
	g.MaxConn = o.integer("maxconn", DefaultMaxConn, 1, math.MaxInt32)
	g.PluginCache = o.str("plugin_cache", "")

	t := o.sub("tune")
	g.Tune.MaxRequestLine = int(t.size("max_request_line", DefaultMaxRequestLine, 64, 1<<20))
	g.Tune.MaxHeadBytes = int(t.size("max_head_bytes", DefaultMaxHeadBytes, 256, 1<<24))
	g.Tune.MaxHeaders = t.integer("max_headers", DefaultMaxHeaders, 1, 10000)
	g.Tune.BufSize = int(t.size("bufsize", DefaultBufSize, 1024, 1<<26))
	g.Tune.StickCounters = t.integer("stick_counters", DefaultStickCounters, 0, 64)
	t.done()
	if g.Tune.MaxRequestLine > g.Tune.MaxHeadBytes {
		d.errorf("global.tune.max_request_line", "lower it, or raise global.tune.max_head_bytes", "larger than global.tune.max_head_bytes (%d)", g.Tune.MaxHeadBytes)
	}
	if g.Tune.MaxHeadBytes > g.Tune.BufSize {
		d.errorf("global.tune.max_head_bytes", "lower it, or raise global.tune.bufsize: a head is parsed in the connection's buffer", "larger than global.tune.bufsize (%d)", g.Tune.BufSize)
	}
	o.done()
	return g
}
