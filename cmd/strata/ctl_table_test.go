package main

import (
	"bytes"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/proxy"
	"github.com/strata-proxy/strata/core/track"
)

// TestCtlTable runs `strata ctl table` against a running proxy's runtime
// API: listing, showing with filters, setting, clearing.
func TestCtlTable(t *testing.T) {
	cfg, err := config.Load(config.Sources{YAML: []byte(`
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 100, expire: 1m, store: [conn_cur, conn_cnt, "gpc(2)", "gpt(1)"] }
  per_key: { type: string, len: 16, size: 10, store: [gpc0] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["track-sc0 src table per_ip"]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "127.0.0.1:1" } }
`)})
	if err != nil {
		t.Fatal(err)
	}
	g, err := generation.Build(cfg, generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(g, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	a := admin.New("sesame", nil)
	p.RegisterAPI(a)
	if err := a.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(t.Context()) })

	// One connection held open: its entry is in use.
	c, err := net.Dial("tcp", p.Addrs("web")[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	exp := regexp.MustCompile(`exp=\d+`) // milliseconds left: real time passes
	spaces := regexp.MustCompile(`  +`)
	ctlT := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"ctl", "--admin", a.Addr().String(), "--token", "sesame"}, args...), &out, &errb)
		o := spaces.ReplaceAllString(exp.ReplaceAllString(out.String(), "exp=E"), " ") // table columns
		return code, o, errb.String()
	}
	waitShow := func() string {
		for range 500 {
			if _, out, _ := ctlT("table", "show", "per_ip"); strings.Contains(out, "conn_cur=1") {
				return out
			}
		}
		t.Fatal("the tracked connection never showed")
		return ""
	}
	out := waitShow()
	if !strings.HasPrefix(out, "# table: per_ip, type: ip, size:100, used:1\nkey=127.0.0.1 use=1 exp=E conn_cnt=1 conn_cur=1 gpt0=0 gpc0=0 gpc1=0\n") {
		t.Fatalf("show:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"table", "show"}, 0, "per_ip ip 100 1 60000ms conn_cnt,conn_cur,gpt(1),gpc(2)"},
		{[]string{"table", "show"}, 0, "per_key string len 16 10 0 never gpc0"},
		{[]string{"table", "set", "per_ip", "127.0.0.1", "gpt0=3", "gpc1=9"}, 0, "key=127.0.0.1 use=1 exp=E conn_cnt=1 conn_cur=1 gpt0=3 gpc0=0 gpc1=9"},
		{[]string{"table", "show", "per_ip", "data.gpc1", "gt", "8"}, 0, "key=127.0.0.1"},
		{[]string{"table", "show", "per_ip", "data.gpc1", "gt", "9"}, 0, "used:1\n"},
		{[]string{"table", "show", "per_ip", "key", "127.0.0.1", "data.gpt0", "eq", "3"}, 0, "gpt0=3"},
		{[]string{"table", "set", "per_key", "svc a", "gpc0=2"}, 0, `key=svc\ a use=0`},
		{[]string{"table", "clear", "per_ip", "127.0.0.1"}, 1, "in use by a tracker"},
		{[]string{"table", "clear", "per_ip"}, 0, "per_ip: 0 entries removed, 1 kept because trackers hold them"},
		{[]string{"table", "clear", "per_key", "svc a"}, 0, "per_key: entry svc a removed"},
		{[]string{"table", "clear", "per_key", "svc a"}, 1, "has no entry"},
		{[]string{"table", "show", "nope"}, 1, "no stick table named"},
		{[]string{"table", "show", "per_ip", "conn_cur", "gt", "1"}, 1, "write data.TYPE OP VALUE"},
		{[]string{"table", "set", "per_ip", "127.0.0.1", "gpt0"}, 1, "write NAME=VALUE"},
		{[]string{"table", "frobnicate"}, 1, "wrong arguments"},
	} {
		code, out, errs := ctlT(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.out) {
			t.Errorf("strata ctl %s: exit %d\n%s%s\nwant exit %d and ...%s...", strings.Join(tc.args, " "), code, out, errs, tc.code, tc.out)
		}
	}
	code, out, _ := ctlT("--json", "table", "show", "per_ip")
	var d track.TableDump
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || len(d.Entries) != 1 || d.Entries[0].Data["gpc1"] != 9 {
		t.Fatalf("--json: exit %d %s", code, out)
	}
	c.Close()
}
