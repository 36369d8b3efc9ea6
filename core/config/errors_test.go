package config

import (
	"reflect"
	"strings"
	"testing"
)

// minimal is a valid configuration that the error cases change.
const minimal = `
frontends:
  web:
    bind: ["127.0.0.1:8080"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "127.0.0.1:9001" }
`

func TestLoad_FileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  []string
	}{
		{"missing file", []string{"testdata/full.yaml", "testdata/nope.yaml"},
			[]string{"testdata/nope.yaml: file not found; check the file name"}},
		{"every file's syntax errors", []string{"testdata/errors/syntax.yaml", "testdata/errors/syntax.yaml"},
			[]string{
				"testdata/errors/syntax.yaml:5: found unexpected end of stream; check the indentation and quoting on that line",
				"testdata/errors/syntax.yaml:5: found unexpected end of stream; check the indentation and quoting on that line",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{Files: tt.files, Sets: []string{"global.maxconn=x"}})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name string
		yaml string // replaces minimal when set
		env  []string
		sets []string
		want []string
	}{
		{name: "unknown key with a suggestion",
			yaml: strings.Replace(minimal, "    bind:", "    timeout: { client: 5s }\n    bind:", 1),
			want: []string{`frontends.web.timeout: unknown key; did you mean "timeouts"?`}},
		{name: "unknown key in HAProxy spelling",
			yaml: strings.Replace(minimal, "    bind:", "    http-request: [\"deny\"]\n    bind:", 1),
			want: []string{`frontends.web.http-request: unknown key; did you mean "http_request"?`}},
		{name: "unknown key without a suggestion",
			yaml: minimal + "    zzz: 1\n",
			want: []string{`backends.app.zzz: unknown key; remove it; valid keys here: acls, balance, error_limit, filters, forward_for, forwarded, hash_type, health_check, http_after_response, http_request, http_response, init_addr, maxconn, mode, observe, pool_max_conn, redispatch, retries, servers, stick, timeouts, use_service`}},
		{name: "unknown top-level key",
			yaml: minimal + "backend: {}\n",
			want: []string{`backend: unknown key; did you mean "backends"?`}},
		{name: "key of another section",
			yaml: minimal + "    bind: [\":80\"]\n",
			want: []string{`backends.app.bind: unknown key; bind belongs in a frontend: move it under frontends.NAME`}},
		{name: "invalid duration",
			sets: []string{"frontends.web.timeouts.client=5 s"},
			want: []string{`frontends.web.timeouts.client: invalid duration "5 s"; write a duration such as 500ms, 5s, 1m30s or 1h, or a number of milliseconds`}},
		{name: "zero timeout",
			sets: []string{"backends.app.timeouts.connect=0"},
			want: []string{`backends.app.timeouts.connect: must be greater than 0; write a duration greater than 0, e.g. 5s`}},
		{name: "invalid size",
			sets: []string{"global.tune.bufsize=16q"},
			want: []string{`global.tune.bufsize: invalid size "16q"; write a whole number with an optional suffix k, m or g (powers of 1024), e.g. 16k or 32MiB`}},
		{name: "size out of range",
			sets: []string{"global.tune.bufsize=1"},
			want: []string{`global.tune.bufsize: 1 is out of range; write a size from 1KiB to 64MiB`}},
		{name: "head larger than the buffer",
			sets: []string{"global.tune.max_head_bytes=32k"},
			want: []string{`global.tune.max_head_bytes: larger than global.tune.bufsize (16384); lower it, or raise global.tune.bufsize: a head is parsed in the connection's buffer`}},
		{name: "invalid number",
			sets: []string{"global.maxconn=many"},
			want: []string{`global.maxconn: invalid number "many"; write a whole number of at least 1`}},
		{name: "weight out of range",
			sets: []string{"backends.app.servers.s1.weight=300"},
			want: []string{`backends.app.servers.s1.weight: 300 is out of range; write a value from 0 to 256`}},
		{name: "rise below 1",
			sets: []string{"backends.app.health_check.rise=0"},
			want: []string{`backends.app.health_check.rise: 0 is out of range; write a value from 1 to 1000`}},
		{name: "invalid boolean",
			sets: []string{"backends.app.redispatch=maybe"},
			want: []string{`backends.app.redispatch: invalid boolean "maybe"; write true or false`}},
		{name: "invalid enum with a suggestion",
			sets: []string{"frontends.web.mode=htp"},
			want: []string{`frontends.web.mode: invalid value "htp"; did you mean "http"?`}},
		{name: "invalid balance",
			sets: []string{"backends.app.balance=round-robin"},
			want: []string{`backends.app.balance: invalid balance "round-robin"; did you mean "roundrobin"?`}},
		{name: "invalid balance argument",
			sets: []string{"backends.app.balance=random(0)"},
			want: []string{`backends.app.balance: invalid balance "random(0)"; use one of: roundrobin, static-rr, leastconn, first, source, random, random(N), uri, hdr(name)`}},
		{name: "missing bind",
			sets: []string{"frontends.web.bind=[]"},
			want: []string{`frontends.web.bind: required; add at least one address, e.g. bind: ["127.0.0.1:8080"] or [":8080"]`}},
		{name: "bind without port",
			sets: []string{"frontends.web.bind=127.0.0.1"},
			want: []string{`frontends.web.bind: invalid address "127.0.0.1": missing port; write host:port, e.g. 127.0.0.1:8080 or :8080 for every address`}},
		{name: "bind port out of range",
			sets: []string{"frontends.web.bind[0]=:70000"},
			want: []string{`frontends.web.bind[0]: port 70000 is out of range in ":70000"; write the port as a number from 1 to 65535, or 0 for any free port`}},
		{name: "IPv6 bind without brackets",
			sets: []string{"frontends.web.bind[0]=::1:80"},
			want: []string{`frontends.web.bind[0]: invalid address "::1:80": too many colons; put an IPv6 address in brackets, e.g. [::1]:8080`}},
		{name: "port 0 binds never conflict",
			yaml: strings.Replace(minimal, "backends:", "  web2: { bind: [\"127.0.0.1:0\"], default_backend: app }\n  web3: { bind: [\"127.0.0.1:0\"], default_backend: app }\nbackends:", 1),
			want: nil},
		{name: "port 0 on a server",
			sets: []string{"backends.app.servers.s1.address=127.0.0.1:0"},
			want: []string{`backends.app.servers.s1.address: port 0 is out of range in "127.0.0.1:0"; write the port as a number from 1 to 65535`}},
		{name: "two frontends on one address",
			yaml: strings.Replace(minimal, "backends:", "  web2: { bind: [\"127.0.0.1:8080\"], default_backend: app }\nbackends:", 1),
			want: []string{`frontends.web2.bind[0]: address "127.0.0.1:8080" is already bound by frontends.web.bind[0]; use another port, or remove one of them`}},
		{name: "wildcard and address on one port",
			yaml: strings.Replace(minimal, "backends:", "  web2: { bind: \":8080\", default_backend: app }\nbackends:", 1),
			want: []string{`frontends.web2.bind: address ":8080" is already bound by frontends.web.bind[0] ("127.0.0.1:8080"); use another port, or remove one of them`}},
		{name: "admin on a frontend address",
			sets: []string{"global.admin.listen=127.0.0.1:8080", "global.admin.token=t"},
			want: []string{`frontends.web.bind[0]: address "127.0.0.1:8080" is already bound by global.admin.listen; use another port, or remove one of them`}},
		{name: "admin on TCP without token",
			sets: []string{"global.admin.listen=127.0.0.1:9900"},
			want: []string{`global.admin.token: required when global.admin.listen is a TCP address; set a token or listen on unix:PATH`}},
		{name: "invalid name",
			yaml: strings.Replace(minimal, "s1:", "\"s 1\":", 1),
			want: []string{`backends.app.servers.s 1: invalid name "s 1"; use only letters, digits, '_', '.' and '-'`}},
		{name: "missing default_backend",
			sets: []string{"frontends.web.default_backend="},
			want: []string{`frontends.web.default_backend: required when the frontend has no use_backend or use_service rules; name the backend of streams no rule routes, e.g. default_backend: app, or add use_backend or use_service rules`}},
		{name: "unknown default_backend",
			sets: []string{"frontends.web.default_backend=ap"},
			want: []string{`frontends.web.default_backend: no backend named "ap"; did you mean "app"?`}},
		{name: "HTTP frontend to a TCP backend",
			sets: []string{"backends.app.mode=tcp"},
			want: []string{`frontends.web.default_backend: backend "app" is in tcp mode but frontend "web" is in http mode; set mode: http in backends.app, or use a http backend`}},
		{name: "TCP frontend to an HTTP backend",
			sets: []string{"frontends.web.mode=tcp"},
			want: []string{`frontends.web.default_backend: backend "app" is in http mode but frontend "web" is in tcp mode; set mode: tcp in backends.app, or use a tcp backend`}},
		{name: "HTTP rules in a TCP frontend",
			env:  []string{"STRATA_FRONTENDS__WEB__MODE=tcp", "STRATA_BACKENDS__APP__MODE=tcp"},
			sets: []string{"frontends.web.http_request=deny"},
			want: []string{`frontends.web.http_request: HTTP rules in a TCP frontend; set mode: http or move the rules to tcp_request_content`}},
		{name: "unknown stick table",
			sets: []string{"backends.app.stick={on: src, table: per_ip}"},
			want: []string{`backends.app.stick.table: no stick table named "per_ip"; define it under stick_tables`}},
		{name: "stick table type and size",
			yaml: minimal + "stick_tables:\n  t: { type: ipv4, size: 0 }\n",
			want: []string{
				`stick_tables.t.type: invalid value "ipv4"; did you mean "ipv6"?`,
				`stick_tables.t.size: 0 is out of range; write a size from 1 to 2147483647`,
			}},
		{name: "server without address",
			sets: []string{"backends.app.servers.s2.weight=2"},
			want: []string{`backends.app.servers.s2.address: required; write host:port, e.g. address: 10.0.0.1:8080`}},
		{name: "rule that YAML read as a mapping",
			yaml: strings.Replace(minimal, "    bind:", "    http_request:\n      - set-header x-a: b\n    bind:", 1),
			want: []string{`frontends.web.http_request[0]: expected a rule, got a mapping; quote the rule: an unquoted ": " makes YAML read a mapping`}},
		{name: "empty rule",
			sets: []string{`frontends.web.http_request=["deny", ""]`},
			want: []string{`frontends.web.http_request[1]: empty rule; remove it or write a rule`}},
		{name: "duplicate key",
			yaml: minimal + "    retries: 1\n    retries: 2\n",
			want: []string{`backends.app.retries: duplicate key (first written at line 10); remove one of them`}},
		{name: "health check fields for tcp",
			sets: []string{"backends.app.health_check={path: /healthz}"},
			want: []string{`backends.app.health_check.path: only for type http; set type: http, or remove it`}},
		{name: "no frontends",
			yaml: "backends: {}\n",
			want: []string{`frontends: at least one frontend is required; add one, e.g. frontends: { web: { bind: [":8080"], default_backend: app } }`}},
		{name: "section that is not a mapping",
			yaml: minimal + "global: [1]\n",
			want: []string{`global: expected a mapping, got a list; write key: value pairs under it`}},
		{name: "frontends as a list",
			yaml: "frontends:\n  - web\n",
			want: []string{`frontends: expected a mapping of names, got a list; write a mapping of names, e.g. frontends: { NAME: { … } }`}},
		{name: "YAML syntax error",
			yaml: "frontends:\n  web: [\n",
			want: []string{`(inline):2: did not find expected node content; check the indentation and quoting on that line`}},
		{name: "not a mapping",
			yaml: "- a\n",
			want: []string{`(inline):1: the configuration is a list, not a mapping; start with top-level keys such as global:, frontends: and backends:`}},
		{name: "two documents",
			yaml: minimal + "---\nglobal: {}\n",
			want: []string{`(inline):11: more than one YAML document (a second ---); put one configuration in each file, and give the files in order`}},
		{name: "env variable with single underscores",
			env:  []string{"STRATA_GLOBAL_MAXCONN=5"},
			want: []string{`STRATA_GLOBAL_MAXCONN: not a key path: keys are separated by __ (two underscores); write STRATA_GLOBAL__MAXCONN`}},
		{name: "env variable with an unknown key",
			env:  []string{"STRATA_GLOBAL__MAXCONNS=5"},
			want: []string{`global.maxconns: unknown key; did you mean "maxconn"?`}},
		{name: "env variables that overlap",
			env:  []string{"STRATA_GLOBAL__TUNE={bufsize: 32k}", "STRATA_GLOBAL__TUNE__MAX_HEADERS=50"},
			want: []string{`global.tune.max_headers: set by both STRATA_GLOBAL__TUNE__MAX_HEADERS and STRATA_GLOBAL__TUNE; set the value in one variable only`}},
		{name: "set without =",
			sets: []string{"global.maxconn"},
			want: []string{`global.maxconn: not a key.path=value override; write e.g. --set frontends.web.timeouts.client=5s`}},
		{name: "set index out of range",
			sets: []string{"frontends.web.bind[3]=:9"},
			want: []string{`frontends.web.bind[3]: index out of range: the list has 1 elements; use an index from 0 to 1 (the length appends)`}},
		{name: "set a list as a string",
			sets: []string{"frontends.web.bind=[a, b"},
			want: []string{`frontends.web.bind[0]: invalid address "[a": missing port; write host:port, e.g. 127.0.0.1:8080 or :8080 for every address`, `frontends.web.bind[1]: invalid address "b": missing port; write host:port, e.g. 127.0.0.1:8080 or :8080 for every address`}},
		{name: "set broken flow mapping",
			sets: []string{"backends.app.timeouts={connect: [}"},
			want: []string{`backends.app.timeouts: invalid YAML value: did not find expected node content; write a flow list or mapping, e.g. "[a, b]" or "{key: value}"`}},
		{name: "global maxconn not a number",
			sets: []string{"global.maxconn=10k"},
			want: []string{`global.maxconn: invalid number "10k"; write a whole number of at least 1`}},
		{name: "global maxconn negative",
			sets: []string{"global.maxconn=-1"},
			want: []string{`global.maxconn: -1 is out of range; write a value of at least 1`}},
		{name: "global maxconn past int32",
			sets: []string{"global.maxconn=3000000000"},
			want: []string{`global.maxconn: 3000000000 is out of range; write a value from 1 to 2147483647`}},
		{name: "frontend maxconn negative",
			sets: []string{"frontends.web.maxconn=-5"},
			want: []string{`frontends.web.maxconn: -5 is out of range; write a value of at least 0`}},
		{name: "frontend maxconn not a number",
			sets: []string{"frontends.web.maxconn=lots"},
			want: []string{`frontends.web.maxconn: invalid number "lots"; write a whole number of at least 0`}},
		{name: "every error at once",
			yaml: "global: { maxconn: 0 }\nfrontends:\n  web: { bind: [\":80\"], mode: tcp, default_backend: nope, timeoutz: {} }\nbackends:\n  b:\n    servers: { s: { address: \"x:0\", weight: -1 } }\n",
			want: []string{
				`global.maxconn: 0 is out of range; write a value of at least 1`,
				`frontends.web.timeoutz: unknown key; did you mean "timeouts"?`,
				`backends.b.servers.s.address: port 0 is out of range in "x:0"; write the port as a number from 1 to 65535`,
				`backends.b.servers.s.weight: -1 is out of range; write a value from 0 to 256`,
				`frontends.web.default_backend: no backend named "nope"; name one of: b`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := tt.yaml
			if y == "" {
				y = minimal
			}
			got := errorLines(t, Sources{YAML: []byte(y), Env: tt.env, Sets: tt.sets})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
