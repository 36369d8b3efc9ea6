package generation

import (
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/config"
)

// TestStick_ConfigErrors: every mistake is reported with its path, and a
// broken table does not hide the rules' own mistakes behind "unknown
// action".
func TestStick_ConfigErrors(t *testing.T) {
	cfg, err := config.Load(config.Sources{YAML: []byte(`
global:
  tune: { stick_counters: 20 }
stick_tables:
  bad: { type: ip, size: 10, store: [conn_cur, http_req_rate] }
  good: { type: string, size: 10, store: [conn_cur] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["track-sc0 src", "track-sc1 src table bad", "track-sc2 src table good"]
    http_request: ["deny if { sc0_http_req_rate(bad) gt 1 }", "track-sc3 req.hdr(x) table nope", "sc-inc-gpc(0,17)"]
    default_backend: app
backends:
  app:
    stick: { on: src, table: good }
    servers: { s1: { address: "127.0.0.1:1" } }
`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(cfg, BuildOptions{})
	if err == nil {
		t.Fatal("built")
	}
	for _, want := range []string{
		"stick_tables.bad.store[1]: invalid data type argument: http_req_rate: missing period",
		"global.tune.stick_counters: 20 tracker slots, at most 16",
		"frontends.web.tcp_request_connection[0]: " + `tcp-request connection "track-sc0 src": track-sc0: no such stick table: track-sc0 must name its table when several are defined (tables: good, bad (invalid))`,
		"frontends.web.tcp_request_connection[1]: " + `tcp-request connection "track-sc1 src table bad": track-sc1: no such stick table: stick table "bad" is not usable: its definition has errors (stick_tables.bad)`,
		"frontends.web.http_request[0]: ",
		"frontends.web.http_request[1]: " + `http-request "track-sc3 req.hdr(x) table nope": track-sc3: no such stick table "nope"`,
		"frontends.web.http_request[2]: " + `http-request "sc-inc-gpc(0,17)": sc-inc-gpc: syntax error: slot 17 out of range 0-15`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "tcp_request_connection[2]") || strings.Contains(err.Error(), "backends.app") {
		t.Errorf("a correct rule was reported:\n%s", err)
	}
}
