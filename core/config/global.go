package config

import (
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Global is the `global` section.
type Global struct {
	Admin     Admin         // `admin`; the admin API is off by default
	AccessLog AccessLog     // `access_log`
	Grace     time.Duration // `grace`: how long a stopping or reloaded proxy lets streams finish; default 10s
	// MaxConn is `maxconn`: client connections the whole process holds at
	// once; at the limit it stops accepting until one closes. Default 0:
	// derived at start from the file-descriptor limit (see
	// core/listen's DerivedMaxConn), as HAProxy does from ulimit -n.
	MaxConn int
	Tune    Tune // `tune`
	// PluginCache is `plugin_cache`: the directory where compiled plugin
	// modules are kept across restarts (relative to Config.Dir). Default
	// "": strata/plugins under the user's cache directory ($XDG_CACHE_HOME
	// or ~/.cache); "none" keeps them in memory only.
	PluginCache string
	Tracing     Tracing // `tracing`: OpenTelemetry traces; off by default
	Metrics     Metrics // `metrics`: OTLP metrics export (GET /metrics on the admin API needs none); off by default
}

// Tracing is `global.tracing`: a span per stream, per server attempt and
// per plugin call, exported over OTLP (core/telemetry). A reload applies a
// change.
type Tracing struct {
	// Exporter is "none" (the default: no spans, no cost), "otlp_grpc",
	// "otlp_http" or "stdout" (one JSON document per span on standard
	// output, for trying things out).
	Exporter string
	// Endpoint is the collector's host:port; default 127.0.0.1:4317 for
	// otlp_grpc and 127.0.0.1:4318 for otlp_http.
	Endpoint string
	// Insecure sends in plaintext; default true when the endpoint's host
	// is a loopback address, false (TLS) otherwise.
	Insecure bool
	// SampleRatio is the share of new traces recorded, 0 to 1; default 1.
	// Parent-based: a request that arrives with a W3C traceparent follows
	// its sampled flag whatever the ratio.
	SampleRatio float64
	// ServiceName is the resource's service.name; default "strata".
	ServiceName string
}

// On reports whether tracing is configured.
func (t Tracing) On() bool { return t.Exporter != "" && t.Exporter != "none" }

// Metrics is `global.metrics`: periodic OTLP export of the same metrics
// that GET /metrics shows on the admin API.
type Metrics struct {
	Exporter string        // "none" (the default), "otlp_grpc" or "otlp_http"
	Endpoint string        // as Tracing.Endpoint
	Insecure bool          // as Tracing.Insecure
	Interval time.Duration // between two exports; default 10s
}

// On reports whether metrics export is configured.
func (m Metrics) On() bool { return m.Exporter != "" && m.Exporter != "none" }

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

// AccessLog is `global.access_log`: where access-log lines go. What a
// line says is the format: this one, or a frontend's log_format.
type AccessLog struct {
	// Output is "stdout" (the default), "stderr", "none", a file path
	// (relative to Config.Dir; see Config.Resolve; reopened on SIGUSR1
	// for logrotate), or a syslog server as HAProxy's `log` directive:
	// "udp://HOST:PORT" or "unix:///dev/log" (a datagram socket).
	Output string
	// Format is "json" (the default) or "text": strata's own line, for
	// frontends without a log_format.
	Format string
	// Syslog is `syslog`: the message header when Output is a syslog
	// server.
	Syslog SyslogHeader
	// QueueSize is `queue_size`: bytes of lines waiting to be written;
	// beyond it lines are dropped and counted (strata_log_dropped_total),
	// so a slow destination never stalls requests. Default 0: 1 MiB.
	QueueSize int
}

// SyslogHeader is `global.access_log.syslog` (HAProxy's `log ADDRESS
// [format F] FACILITY [LEVEL]` and `log-tag`). Empty fields take the
// default.
type SyslogHeader struct {
	Format   string // `format`: "rfc5424" (default) or "rfc3164"
	Facility string // `facility`: kern … local7; default local0
	Level    string // `level`: the severity, emerg … debug; default info
	Tag      string // `tag`: APP-NAME (5424) or TAG (3164); default strata
}

// IsSyslog reports whether the output is a syslog server.
func (a AccessLog) IsSyslog() bool {
	return strings.HasPrefix(a.Output, "udp://") || strings.HasPrefix(a.Output, "unix://")
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
	d.note("global", "mapping", "", 1)
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
	g.AccessLog.QueueSize = int(l.size("queue_size", 0, 4096, 1<<30))
	sl := l.sub("syslog")
	g.AccessLog.Syslog = SyslogHeader{
		Format:   sl.oneOf("format", "", "rfc5424", "rfc3164"),
		Facility: sl.oneOf("facility", "", syslogFacilities...),
		Level:    sl.oneOf("level", "", "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"),
		Tag:      sl.str("tag", ""),
	}
	sl.done()
	l.done()
	d.accessLogOutput(g.AccessLog.Output)

	g.Grace, _ = o.duration("grace", DefaultGrace, 0)
	g.MaxConn = o.integer("maxconn", DefaultMaxConn, 1, math.MaxInt32) // absent: DefaultMaxConn, derived
	g.PluginCache = o.str("plugin_cache", "")
	g.Tracing = d.tracing(o.sub("tracing"))
	g.Metrics = d.metrics(o.sub("metrics"))

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

var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// accessLogOutput checks a syslog output's address.
func (d *decoder) accessLogOutput(out string) {
	const path = "global.access_log.output"
	if a, ok := strings.CutPrefix(out, "udp://"); ok {
		if _, msg, fix := parseHostPort(a, false); msg != "" {
			d.errorf(path, "write udp://HOST:PORT, e.g. udp://127.0.0.1:514 ("+fix+")", "%s", msg)
		}
		return
	}
	if p, ok := strings.CutPrefix(out, "unix://"); ok && !strings.HasPrefix(p, "/") {
		d.errorf(path, "write unix:// and an absolute path, e.g. unix:///dev/log", "not an absolute socket path: %s", quote(p))
	}
}

func (d *decoder) tracing(t *object) Tracing {
	var tr Tracing
	tr.Exporter = t.oneOf("exporter", DefaultTracingExporter, "none", "otlp_grpc", "otlp_http", "stdout")
	tr.Endpoint, tr.Insecure = d.otlpEndpoint(t, tr.Exporter)
	tr.SampleRatio = DefaultSampleRatio
	if s, p, ok := t.scalar("sample_ratio"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 || f > 1 || f != f {
			d.errorf(p, "write a number from 0 to 1, such as 0.1 for one trace in ten", "invalid sample ratio %s", quote(s))
		} else {
			tr.SampleRatio = f
		}
	}
	tr.ServiceName = t.str("service_name", DefaultServiceName)
	if tr.ServiceName == "" {
		d.errorf("global.tracing.service_name", "write a name, or leave the key out for "+DefaultServiceName, "empty service name")
		tr.ServiceName = DefaultServiceName
	}
	t.done()
	return tr
}

func (d *decoder) metrics(m *object) Metrics {
	var mt Metrics
	mt.Exporter = m.oneOf("exporter", DefaultMetricsExporter, "none", "otlp_grpc", "otlp_http")
	mt.Endpoint, mt.Insecure = d.otlpEndpoint(m, mt.Exporter)
	mt.Interval, _ = m.duration("interval", DefaultMetricsInterval, time.Second)
	m.done()
	return mt
}

// otlpEndpoint reads `endpoint` and `insecure` of an exporter section.
func (d *decoder) otlpEndpoint(o *object, exporter string) (endpoint string, insecure bool) {
	def := ""
	switch exporter {
	case "otlp_grpc":
		def = DefaultOTLPGRPCEndpoint
	case "otlp_http":
		def = DefaultOTLPHTTPEndpoint
	}
	endpoint = o.str("endpoint", def)
	host := ""
	if exporter == "otlp_grpc" || exporter == "otlp_http" {
		if _, msg, fix := parseHostPort(endpoint, false); msg != "" {
			d.errorf(joinPath(o.path, "endpoint"), fix+" (the collector's OTLP address)", "%s", msg)
		} else {
			host, _, _ = net.SplitHostPort(endpoint)
		}
	}
	insecure = false
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() || host == "localhost" {
		insecure = true
	}
	return endpoint, o.boolean("insecure", insecure)
}
