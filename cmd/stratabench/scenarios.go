package main

import (
	"fmt"
	"strings"
)

// A scenario is one row pair of the report: the same traffic through strata
// and through HAProxy, both in front of the same upstream servers.
//
// To add a row, add an entry to scenarios:
//   - a plugin action: set setup to build the .wasm module into the
//     directory it is given, reference it from strataConfig, and give
//     haproxyConfig the nearest native equivalent (an http-request rule);
//   - a TLS or HTTP/2 row: set setup to write a certificate and key, bind
//     with TLS in both configurations, and set load to an h2load loadGen
//     (see loadGen); scheme becomes "https".
type scenario struct {
	name  string
	about string
	// servers is how many upstream servers to start (s1, s2, …);
	// upstreamArgs are passed to each of them.
	servers      int
	upstreamArgs []string
	// needs names the strata feature the row depends on. When set and
	// `strata check` rejects the configuration, the strata row is skipped
	// with that name rather than reported as a failure.
	needs string
	// idle: also measure the memory cost of idle client connections on
	// this row's configuration.
	idle bool
	// path is the request path the load generator asks for.
	path   string
	scheme string // "http" unless set
	// setup, when set, prepares files the configurations refer to, in dir.
	setup func(dir string) error
	// load overrides the default load generator (wrk with the -c/-t flags).
	load func(o *options) loadGen

	strataConfig  func(p configParams) string
	haproxyConfig func(p configParams) string
}

// configParams is what a configuration is generated from.
type configParams struct {
	listen  string   // address the proxy binds, 127.0.0.1:PORT
	servers []string // upstream addresses, s1 first
	dir     string   // the scenario's directory
	maxconn int      // at least the idle connection count, with room
}

var scenarios = []scenario{
	{
		name:          "plain",
		about:         "one backend, one server, 12-byte answers",
		servers:       1,
		idle:          true,
		path:          "/",
		strataConfig:  strataPlain,
		haproxyConfig: haproxyPlain,
	},
	{
		name:    "leastconn2",
		about:   "one backend, two servers, balance leastconn",
		servers: 2,
		needs:   "the backends feature (balance: leastconn, several servers)",
		path:    "/",
		strataConfig: func(p configParams) string {
			return strataConfig(p, "    balance: leastconn\n")
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfig(p, "    balance leastconn\n")
		},
	},
}

func strataPlain(p configParams) string  { return strataConfig(p, "") }
func haproxyPlain(p configParams) string { return haproxyConfig(p, "") }

// strataConfig is the configuration of the plain row, with backendExtra
// added to the backend.
func strataConfig(p configParams, backendExtra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  access_log: { output: none }
frontends:
  bench:
    bind: ["%s"]
    mode: http
    timeouts: { client: 30s, http_request: 10s, http_keep_alive: 30s }
    default_backend: app
backends:
  app:
    mode: http
%s    timeouts: { connect: 2s, server: 30s }
    servers:
`, p.listen, backendExtra)
	for i, s := range p.servers {
		fmt.Fprintf(&b, "      s%d: { address: %q }\n", i+1, s)
	}
	return b.String()
}

// haproxyConfig is HAProxy's equivalent of strataConfig: one thread, HTTP
// keep-alive on both sides, no logging.
func haproxyConfig(p configParams, backendExtra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread 1
    maxconn %d

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 30s

frontend bench
    bind %s
    default_backend app

backend app
%s`, p.maxconn, p.listen, backendExtra)
	for i, s := range p.servers {
		fmt.Fprintf(&b, "    server s%d %s\n", i+1, s)
	}
	return b.String()
}
