// Package config loads strata's configuration: it reads YAML files, applies
// environment and command-line overrides, decodes the result into typed
// structs and checks everything that can be checked without the rule
// engine. Rules are kept as written, with their paths; the rule compiler
// parses them later and reports its errors with the same paths.
//
// # Layers
//
// Load merges three layers, each overriding the one before.
//
// First, YAML files (Sources.Files), in order, or inline YAML
// (Sources.YAML, e.g. Default()). A later file overrides the keys it sets
// and adds what it defines; a list replaces a list, it is not appended to.
// A key set to null (`timeouts: ~`) goes back to its default.
//
// Then the environment (Sources.Env): STRATA_ variables whose name is a key
// path with "__" (two underscores) between keys, since keys hold single
// underscores:
//
//	STRATA_GLOBAL__ADMIN__TOKEN=s3cret           global.admin.token
//	STRATA_FRONTENDS__WEB__BIND=127.0.0.1:9000   frontends.web.bind
//	STRATA_FRONTENDS__WEB__TIMEOUTS__CLIENT=5s   frontends.web.timeouts.client
//
// Keys are matched without case; a name is also matched with '-' and '.'
// read as '_' when only one name matches (STRATA_BACKENDS__API_V2__…
// reaches backends.api-v2). A part that matches nothing is taken in lower
// case, so a variable can add a server or a whole backend. A variable with
// no "__" is left to the command (STRATA_CONFIG, …), except one that
// starts with a section name and '_' (STRATA_GLOBAL_MAXCONN), which is
// reported as a mistake. Two variables of which one sets a parent of the
// other are refused: which one wins would depend on the environment's
// order.
//
// Last, overrides (Sources.Sets, from --set): "key.path=value", split at
// dots; a name that contains dots (a backend "api.v2") is matched whole
// when it exists. A trailing [i] replaces element i of a list, or appends
// when i is the list's length:
//
//	--set frontends.web.timeouts.client=5s
//	--set 'frontends.web.http_request[0]=deny if { src 10.0.0.0/8 }'
//
// An override value is a string, converted by the field it lands in,
// unless it is written as a YAML flow list or mapping, "[…]" or "{…}":
//
//	STRATA_FRONTENDS__WEB__BIND='[":80", "[::1]:80"]'
//	--set 'backends.app.timeouts={connect: 1s, server: 10s}'
//
// A list of plain values (bind, except, store, grants) may also be given
// as one comma-separated string, in YAML as well: STRATA_…__BIND=":80,:81".
// A rule list given as one string is one rule, since rules contain commas
// (`req.hdr(host),lower`).
//
// # Values
//
// Every scalar is read by the field it lands in, whatever YAML type it
// was written as: `maxconn: "100"` and `maxconn: 100` are the same, and a
// token written 0x1F stays "0x1F". Only plugins.NAME.config keeps YAML's
// types, for the plugin.
//
//   - Durations: Go durations ("500ms", "5s", "1m30s", "1h"), "<n>d" for
//     days, or a bare integer of milliseconds, as in HAProxy ("5000" is 5s).
//   - Sizes (byte sizes and the stick-table entry count): an integer with
//     an optional suffix k, m or g, also written K, KB, KiB, M, MB, MiB, …,
//     all powers of 1024 as in HAProxy: "16k", "32MiB", "200k".
//   - Booleans: true/false, also yes/no, on/off, 1/0.
//   - Names of frontends, backends, servers, stick tables, plugins and ACLs:
//     [A-Za-z0-9_.-]+.
//   - Addresses: host:port, port 1 to 65535, IPv6 in brackets ("[::1]:80").
//     A listening address (bind, global.admin.listen) may have an empty host
//     (every address) and port 0 (any free port: tests, and tools that read
//     the bound address back).
//
// # Validation
//
// Load reports every problem it finds, each with its path and a fix, and
// returns no configuration when there is one (see Errors). It refuses:
// unknown keys (with "did you mean" when one is close, so that a typo is
// not silently ignored); malformed values and values out of range; a
// frontend without bind, or without default_backend when it has neither
// use_backend nor use_service rules; references to a missing backend or
// stick table; a default_backend whose mode differs from the frontend's;
// http_request/http_response/http_after_response rules, forward_for and
// forwarded in tcp mode; two listeners on one address (including a
// wildcard and a specific address on the same port, and the admin
// address). use_backend and use_service targets are checked by the rule
// compiler, which parses the rules. TLS certificate, key and CA files
// (frontends.NAME.tls, servers' tls) are read and parsed: a missing file, a
// key that does not match its certificate or a CA file without certificates
// is reported at the path that names it. Server names are resolved when
// the configuration is built (core/generation, init_addr), not here. LoadAll
// also returns what it decoded of a configuration with errors, so that a
// command can report the errors of the later checks in the same pass.
//
// # Defaults
//
// Every default is a constant in defaults.go, and the doc comment of each
// field states its own. Some follow another field: a frontend's
// http_keep_alive follows http_request when only that is set (as in
// HAProxy), a backend's queue timeout follows connect, a health check's
// timeout follows its interval.
//
// The `defaults` section (inherit.go, DefaultsSection) holds named sets of
// defaults, as HAProxy's `defaults NAME`: `default` applies to every
// frontend and backend, a named one to those that say `defaults: NAME`,
// read over `default`; their values replace the built-in defaults above,
// and a key written in the frontend or backend wins over both. Sections
// are decoded once, before the frontends and backends, so an error in one
// is reported once, at its own path.
//
// # Why is every scalar a string until decoded?
//
// Values come from three layers, and the environment and --set only have
// strings. Decoding YAML scalars by the field they land in, rather than by
// YAML's guess, makes the three layers behave alike and keeps values as
// written (YAML would turn 0x1F into 31 and 1.10 into 1.1).
//
// # Why does strata parse the YAML node tree instead of koanf's parser?
//
// koanf merges maps, which have no order, but servers are used in the
// order written and errors should come out in file order. The node tree
// gives the order and the line of every key (Error.Source) and lets
// duplicate keys be refused. koanf still does the layering: files through
// its file and rawbytes providers (with strata's YAML parser), the
// environment through its env provider, --set through confmap.
//
// # Why does Load read TLS files when it reads no other file?
//
// A certificate that is missing, does not match its key or is not PEM is the
// most common reason a TLS listener fails to start, and `strata check`
// should say so before a deployment does. The files are small and read
// again by the engine when it starts; map files and plugin modules are
// left to the rule compiler and the plugin host, which read them anyway.
// Only regular files of at most 1 MiB are read.
//
// # Why a 4s default for idle server connections?
//
// A pooled connection is best closed by strata before the server closes
// it. strata never reuses one the server has closed, but a server that
// closes at the very moment a request goes out makes that request fail
// unless it can be shown unprocessed and sent again. Apache httpd and
// Node.js close idle connections after 5s; 4s stays below. Raise it for
// servers with longer idle timeouts.
package config
