package config

import "time"

// Every default of the configuration, in one place. The doc comment of each
// field repeats its default; Load applies them.
const (
	// global
	DefaultGrace           = 10 * time.Second
	DefaultMaxConn         = 0 // derived from the file-descriptor limit at start
	DefaultAccessLogOutput = "stdout"
	DefaultAccessLogFormat = "json"

	// global.tracing and global.metrics
	DefaultTracingExporter  = "none"
	DefaultSampleRatio      = 1.0
	DefaultServiceName      = "strata"
	DefaultMetricsExporter  = "none"
	DefaultMetricsInterval  = 10 * time.Second
	DefaultOTLPGRPCEndpoint = "127.0.0.1:4317"
	DefaultOTLPHTTPEndpoint = "127.0.0.1:4318"

	// global.tune
	DefaultMaxRequestLine = 8192
	DefaultMaxHeadBytes   = 16384
	DefaultMaxHeaders     = 101
	DefaultBufSize        = 16384
	DefaultStickCounters  = 3

	// frontends
	DefaultClientTimeout        = 30 * time.Second
	DefaultHTTPRequestTimeout   = 10 * time.Second
	DefaultHTTPKeepAliveTimeout = 15 * time.Second
	DefaultForwardForHeader     = "x-forwarded-for"

	// frontends.NAME.tls
	DefaultTLSMinVersion  = "1.2"
	DefaultTLSALPN        = "http/1.1" // in http mode; none in tcp mode
	DefaultClientAuthMode = "none"

	// backends
	DefaultBalance        = "roundrobin"
	DefaultHashType       = "map-based"
	DefaultConnectTimeout = 5 * time.Second
	DefaultServerTimeout  = 30 * time.Second
	DefaultTunnelTimeout  = time.Hour
	// DefaultServerKeepAlive is how long an idle pooled server connection
	// is kept: below the 5s idle timeout of Apache httpd and Node.js, so
	// that strata closes an idle connection before the server does and
	// never sends a request on a connection the server is closing.
	DefaultServerKeepAlive = 4 * time.Second
	DefaultRetries         = 3
	DefaultErrorLimit      = 10
	// DefaultPoolMaxConn bounds the idle pooled connections of one server
	// (pool_max_conn).
	DefaultPoolMaxConn = 1024

	// backends.NAME.health_check
	DefaultCheckType     = "tcp"
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckRise     = 2
	DefaultCheckFall     = 3
	DefaultCheckPath     = "/"
	DefaultCheckMethod   = "GET"
	DefaultCheckExpect   = "200-399"

	// backends.NAME.servers.NAME
	DefaultWeight    = 1
	DefaultTLSVerify = "required"

	// stick_tables
	DefaultStickKeyLen = 32

	// plugins
	DefaultPluginInstancesMin = 1
	DefaultPluginInstancesMax = 16
	DefaultPluginMemoryLimit  = 32 << 20
	DefaultPluginCallTimeout  = 100 * time.Millisecond
	DefaultPluginInitTimeout  = 5 * time.Second
	DefaultPluginOnError      = "fail_closed"
)

// DefaultInitAddr is the default init_addr of servers: the system
// resolver, and a name it cannot resolve is an error (as in HAProxy).
var DefaultInitAddr = []string{"libc"}
