package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// A scenario is one row pair of the report: the same traffic through strata
// and through HAProxy, both in front of the same upstream servers.
//
// To add a row, add an entry to scenarios:
//   - a plugin action: set setup to build the .wasm module into the
//     directory it is given, reference it from strataConfig, and give
//     haproxyConfig the nearest equivalent (a Lua action, as hdr-plugin
//     does, or an http-request rule);
//   - a TLS or HTTP/2 row: set setup to writeCertificate, bind with TLS in
//     both configurations (strataTLS, haproxyTLS), set scheme to "https"
//     and, for HTTP/2, load to an h2loadGen with tool "h2load", as tls-h2
//     does.
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
	// this row's configuration, over TLS when scheme is "https", with
	// HTTP/2 when idleH2 is set (ALPN h2), else HTTP/1.1.
	idle   bool
	idleH2 bool
	// path is the request path the load generator asks for.
	path   string
	scheme string // "http" unless set
	// setup, when set, prepares files the configurations refer to, in dir.
	setup func(dir string) error
	// load overrides the default load generator (wrk with the -c/-t flags).
	load func(o *options) loadGen
	// tool is a command the row needs besides wrk, and toolPkg the Debian
	// package that has it. When it is missing, both rows are skipped.
	tool, toolPkg string

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
		name:    "hdr-rule",
		about:   "plain, plus a rule copying the path into a request header",
		servers: 1,
		path:    "/bench/path",
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{frontend: "    http_request: [\"set-header x-path %[path]\"]\n"})
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfigWith(p, extra{frontend: "    http-request set-header x-path %[path]\n"})
		},
	},
	{
		// hdr-rule written as a plugin action: a WebAssembly module
		// for strata (examples/plugins/pathheader, default call_timeout
		// and instances), a Lua action for HAProxy.
		name:    "hdr-plugin",
		about:   "hdr-rule as a plugin: WebAssembly (strata) vs Lua (HAProxy)",
		servers: 1,
		needs:   "plugins",
		path:    "/bench/path",
		setup:   setupPathHeader,
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{
				global:   fmt.Sprintf("  plugin_cache: %q\n", filepath.Join(p.dir, "cache")),
				frontend: "    http_request: [\"path_header x-path\"]\n",
				top:      fmt.Sprintf("plugins:\n  pathheader: { file: %q, grants: [headers] }\n", filepath.Join(p.dir, "pathheader.wasm")),
			})
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfigWith(p, extra{
				global:   fmt.Sprintf("    lua-load %s\n", filepath.Join(p.dir, "pathheader.lua")),
				frontend: "    http-request lua.path_header\n",
			})
		},
	},
	{
		// hdr-plugin with call_timeout: none, which spares the plugin
		// call its deadline check (plugins/RATIONALE.md): what the
		// deadline costs.
		name:    "hdr-nodl",
		about:   "hdr-plugin without the plugin's call deadline",
		servers: 1,
		needs:   "plugins (call_timeout: none)",
		path:    "/bench/path",
		setup:   setupPathHeader,
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{
				global:   fmt.Sprintf("  plugin_cache: %q\n", filepath.Join(p.dir, "cache")),
				frontend: "    http_request: [\"path_header x-path\"]\n",
				top:      fmt.Sprintf("plugins:\n  pathheader: { file: %q, grants: [headers], call_timeout: none }\n", filepath.Join(p.dir, "pathheader.wasm")),
			})
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfigWith(p, extra{
				global:   fmt.Sprintf("    lua-load %s\n", filepath.Join(p.dir, "pathheader.lua")),
				frontend: "    http-request lua.path_header\n",
			})
		},
	},
	{
		// hdr-plugin's action written in WebAssembly text: what a plugin
		// call costs without the Go SDK and runtime.
		name:    "hdr-wat",
		about:   "hdr-plugin's action in WebAssembly text (no SDK)",
		servers: 1,
		needs:   "plugins",
		path:    "/bench/path",
		setup:   setupPathHeaderWAT,
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{
				global:   fmt.Sprintf("  plugin_cache: %q\n", filepath.Join(p.dir, "cache")),
				frontend: "    http_request: [\"path_header x-path\"]\n",
				top:      fmt.Sprintf("plugins:\n  pathheader: { file: %q, grants: [headers] }\n", filepath.Join(p.dir, "pathheader-wat.wasm")),
			})
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfigWith(p, extra{
				global:   fmt.Sprintf("    lua-load %s\n", filepath.Join(p.dir, "pathheader.lua")),
				frontend: "    http-request lua.path_header\n",
			})
		},
	},
	{
		// hdr-plugin written as a Proxy-Wasm filter with the Proxy-Wasm
		// Go SDK (examples/proxywasm/pathheader), in the frontend's
		// filter chain.
		name:    "hdr-proxywasm",
		about:   "hdr-plugin as a Proxy-Wasm filter (Go SDK) vs Lua (HAProxy)",
		servers: 1,
		needs:   "Proxy-Wasm filters",
		path:    "/bench/path",
		setup:   setupPathHeaderProxyWasm,
		strataConfig: func(p configParams) string {
			return strataConfigWith(p, extra{
				global:   fmt.Sprintf("  plugin_cache: %q\n", filepath.Join(p.dir, "cache")),
				frontend: "    filters: [{ plugin: pathheader }]\n",
				top:      fmt.Sprintf("plugins:\n  pathheader: { file: %q }\n", filepath.Join(p.dir, "pathheader-proxywasm.wasm")),
			})
		},
		haproxyConfig: func(p configParams) string {
			return haproxyConfigWith(p, extra{
				global:   fmt.Sprintf("    lua-load %s\n", filepath.Join(p.dir, "pathheader.lua")),
				frontend: "    http-request lua.path_header\n",
			})
		},
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
	{
		name:          "tls-h1",
		about:         "plain over TLS (self-signed ECDSA P-256, ALPN http/1.1): wrk over https, keep-alive",
		servers:       1,
		idle:          true,
		path:          "/",
		scheme:        "https",
		setup:         writeCertificate,
		strataConfig:  func(p configParams) string { return strataConfigWith(p, strataTLS(p, "http/1.1")) },
		haproxyConfig: func(p configParams) string { return haproxyConfigWith(p, haproxyTLS(p, "http/1.1")) },
	},
	{
		// The binds offer h2 then http/1.1, as a site would; h2load
		// asks for h2 only, so a proxy without HTTP/2 is skipped (strata)
		// or failed rather than measured over HTTP/1.1.
		name:    "tls-h2",
		about:   "plain over TLS and HTTP/2: h2load, 10 connections × 10 streams",
		servers: 1,
		needs:   "HTTP/2 (ALPN h2 on a TLS frontend)",
		idle:    true,
		idleH2:  true,
		path:    "/",
		scheme:  "https",
		setup:   writeCertificate,
		tool:    "h2load",
		toolPkg: "nghttp2-client",
		load: func(o *options) loadGen {
			return h2loadGen{clients: 10, streams: 10, proto: "h2", cpu: o.loadCPU}
		},
		strataConfig:  func(p configParams) string { return strataConfigWith(p, strataTLS(p, "h2", "http/1.1")) },
		haproxyConfig: func(p configParams) string { return haproxyConfigWith(p, haproxyTLS(p, "h2", "http/1.1")) },
	},
}

// strataTLS is TLS on strata's frontend: the certificate writeCertificate
// wrote into p.dir, and the ALPN protocols offered, by preference.
func strataTLS(p configParams, alpn ...string) extra {
	return extra{frontend: fmt.Sprintf("    tls:\n      certificates: [{ cert: %q, key: %q }]\n      alpn: [%s]\n",
		filepath.Join(p.dir, certFile), filepath.Join(p.dir, keyFile), strings.Join(alpn, ", "))}
}

// haproxyTLS is HAProxy's equivalent of strataTLS.
//
// The TLS 1.3 cipher suites are listed AES-128-GCM first: HAProxy picks by
// its own order, and crypto/tls, on a CPU with AES instructions, picks
// AES-128-GCM too, so that both proxies encrypt with the same cipher (the
// tls-h2 row records the one h2load saw, in the JSON and the notes).
func haproxyTLS(p configParams, alpn ...string) extra {
	return extra{
		global: "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n",
		bind:   fmt.Sprintf(" ssl crt %s alpn %s", filepath.Join(p.dir, combinedFile), strings.Join(alpn, ",")),
	}
}

func strataPlain(p configParams) string  { return strataConfig(p, "") }
func haproxyPlain(p configParams) string { return haproxyConfig(p, "") }

// extra is what a row adds to the plain configuration, in each proxy's
// syntax: lines for the global section, the frontend and the backend
// (indented as the keys of their section), whole top-level sections
// (strata only), and options appended to the bind line (HAProxy only).
type extra struct {
	global, frontend, backend, top, bind string
}

// strataConfig is the configuration of the plain row, with backendExtra
// added to the backend.
func strataConfig(p configParams, backendExtra string) string {
	return strataConfigWith(p, extra{backend: backendExtra})
}

func strataConfigWith(p configParams, x extra) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  access_log: { output: none }
%sfrontends:
  bench:
    bind: ["%s"]
    mode: http
    timeouts: { client: 30s, http_request: 10s, http_keep_alive: 30s }
%s    default_backend: app
backends:
  app:
    mode: http
%s    timeouts: { connect: 2s, server: 30s }
    servers:
`, x.global, p.listen, x.frontend, x.backend)
	for i, s := range p.servers {
		fmt.Fprintf(&b, "      s%d: { address: %q }\n", i+1, s)
	}
	b.WriteString(x.top)
	return b.String()
}

// haproxyConfig is HAProxy's equivalent of strataConfig: one thread, HTTP
// keep-alive on both sides, no logging.
func haproxyConfig(p configParams, backendExtra string) string {
	return haproxyConfigWith(p, extra{backend: backendExtra})
}

func haproxyConfigWith(p configParams, x extra) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread 1
    maxconn %d
%s
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 30s

frontend bench
    bind %s%s
%s    default_backend app

backend app
%s`, p.maxconn, x.global, p.listen, x.bind, x.frontend, x.backend)
	for i, s := range p.servers {
		fmt.Fprintf(&b, "    server s%d %s\n", i+1, s)
	}
	return b.String()
}

// pathHeaderLua is the HAProxy side of the hdr-plugin row: the action
// of examples/plugins/pathheader in Lua.
const pathHeaderLua = `core.register_action("path_header", { "http-req" }, function(txn)
    txn.http:req_set_header("x-path", txn.sf:path())
end)
`

// setupPathHeader builds the pathheader plugin for strata and writes its
// Lua equivalent for HAProxy into dir.
func setupPathHeader(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", filepath.Join(dir, "pathheader.wasm"), "./examples/plugins/pathheader")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(b))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New("building the pathheader plugin: " + oneLine(msg, 300))
	}
	return os.WriteFile(filepath.Join(dir, "pathheader.lua"), []byte(pathHeaderLua), 0o644)
}

// setupPathHeaderProxyWasm builds examples/proxywasm/pathheader (its own
// module) and writes the Lua equivalent for HAProxy into dir.
func setupPathHeaderProxyWasm(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := filepath.Abs(filepath.Join(dir, "pathheader-proxywasm.wasm"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, "./pathheader")
	cmd.Dir = "examples/proxywasm"
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(b))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New("building the Proxy-Wasm pathheader filter: " + oneLine(msg, 300))
	}
	return os.WriteFile(filepath.Join(dir, "pathheader.lua"), []byte(pathHeaderLua), 0o644)
}

// setupPathHeaderWAT assembles examples/plugins/pathheader/pathheader.wat
// with wat2wasm and writes the Lua equivalent for HAProxy into dir.
func setupPathHeaderWAT(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wat2wasm", "examples/plugins/pathheader/pathheader.wat", "-o", filepath.Join(dir, "pathheader-wat.wasm"))
	if b, err := cmd.CombinedOutput(); err != nil {
		return errors.New("assembling pathheader.wat (wat2wasm, from wabt): " + oneLine(strings.TrimSpace(string(b))+" "+err.Error(), 300))
	}
	return os.WriteFile(filepath.Join(dir, "pathheader.lua"), []byte(pathHeaderLua), 0o644)
}
