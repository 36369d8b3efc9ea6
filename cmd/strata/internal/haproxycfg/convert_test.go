package haproxycfg

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const testDefaults = `defaults
  mode http
  timeout client 5s
  timeout connect 1s
  timeout server 5s
`

// TestImport_Directives converts one directive at a time and checks what
// lands in the YAML and in the report; every output must pass strata's
// check.
func TestImport_Directives(t *testing.T) {
	tests := []struct {
		name    string
		src     string   // after testDefaults
		yaml    []string // substrings of the YAML
		report  []string // substrings of the report
		notYAML []string // substrings the YAML must not hold
	}{
		{
			name: "logging: format, captures, unique id and the global log",
			src: "global\n  log 127.0.0.1:514 local3\nfrontend f\n  bind :7001\n  option httplog\n  capture request header Host len 32\n  capture response header Content-Type len 16\n" +
				"  unique-id-format %{+X}o\\ %ci:%cp_%Ts\n  unique-id-header X-Req-ID\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n",
			yaml: []string{"access_log: {output: 'udp://127.0.0.1:514', syslog: {format: rfc3164, facility: local3}}", "log_format: httplog",
				"capture_request_headers:\n      - {name: Host, len: 32}", "capture_response_headers:\n      - {name: Content-Type, len: 16}",
				"unique_id_format: '%{+X}o %ci:%cp_%Ts'", "unique_id_header: X-Req-ID"},
			notYAML: []string{"log global"},
		},
		{
			name:   "a log-format strata cannot render is reported",
			src:    "frontend f\n  bind :7001\n  log-format %ci\\ %[req.hdr(host)]\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n",
			report: []string{"not converted: log-format", "sample expression %[req.hdr(host)] is not supported"},
		},
		{
			name: "mode defaults to tcp as in HAProxy",
			src:  "defaults\n  timeout client 1s\nfrontend f\n  bind :7001\n  default_backend b\nbackend b\n  timeout connect 1s\n  timeout server 1s\n  server s 127.0.0.1:1\n",
			yaml: []string{"mode: tcp"},
		},
		{
			name:   "no timeouts are reported",
			src:    "defaults\n  mode http\nfrontend f from nothing\n  mode http\n  bind :7001\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n",
			report: []string{"no defaults section called nothing", "no timeout client", "no timeout connect", "no timeout server"},
		},
		{
			name:   "named defaults and from",
			src:    "defaults fast\n  mode http\n  timeout connect 250ms\n  timeout server 2s\ndefaults slow from fast\n  timeout server 60s\nbackend b from slow\n  server s 127.0.0.1:1\nbackend c from fast\n  server s 127.0.0.1:1\nfrontend f\n  bind :7001\n  default_backend b\n",
			yaml:   []string{"b: # line 7\n    mode: http\n    timeouts: {connect: 250ms, server: 60s}", "c: # line 9\n    mode: http\n    timeouts: {connect: 250ms, server: 2s}"},
			report: []string{},
		},
		{
			name: "binds: ipv6, wildcard, list, accept-proxy and tls split the frontend",
			src:  "frontend f\n  bind *:7001,:::7002\n  bind 127.0.0.1:7003 accept-proxy\n  bind unix@/run/x.sock\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n",
			yaml: []string{"bind: [':7001', '[::]:7002']", "f-plain:", "bind: ['127.0.0.1:7003']", "accept_proxy: true"},
			report: []string{"bind unix@/run/x.sock: strata listens on host:port addresses only",
				"strata sets TLS and accept-proxy per frontend: this bind is served by frontend f-plain"},
		},
		{
			name:   "server parameters and default-server",
			src:    "frontend f\n  bind :7001\n  default_backend b\nbackend b\n  default-server inter 3s fall 5 weight 10 send-proxy\n  server a 127.0.0.1:81 check maxconn 7 backup\n  server b ::1:82 check weight 20 no-send-proxy ssl verify none sni str(example.com) disabled\n  server c 10.0.0.1 check\n",
			yaml:   []string{"a: {address: '127.0.0.1:81', weight: 10, send_proxy: v1, maxconn: 7, backup: true}", "b: {address: '[::1]:82', weight: 20, disabled: true, tls: {verify: none, sni: example.com}}", "interval: 3s", "fall: 5"},
			report: []string{"server c 10.0.0.1 check: strata needs host:port"},
		},
		{
			name: "option httpchk with a Host header in the version",
			src:  "frontend f\n  bind :7001\n  default_backend b\nbackend b\n  option httpchk HEAD /up HTTP/1.1\\r\\nHost:\\ www.example.com\n  timeout check 1s\n  server a 127.0.0.1:81 check\n",
			yaml: []string{"type: http", "path: /up", "method: HEAD", "host: www.example.com", "timeout: 1s"},
		},
		{
			name:    "no option and unknown options",
			src:     "defaults\n  mode http\n  timeout client 1s\n  timeout connect 1s\n  timeout server 1s\n  option redispatch\nfrontend f\n  bind :7001\n  default_backend b\nbackend b\n  no option redispatch\n  option frobnicate\n  server a 127.0.0.1:81\n",
			notYAML: []string{"redispatch"},
			report:  []string{"option frobnicate: no strata equivalent"},
		},
		{
			name:    "redirect runs after http-request rules, monitor-uri is strata's monitor_uri",
			src:     "frontend f\n  bind :7001\n  redirect location /new if { path /old }\n  http-request set-header x-a 1\n  monitor-uri /alive\n  default_backend b\nbackend b\n  server a 127.0.0.1:81\n",
			yaml:    []string{"monitor_uri: /alive", "- set-header x-a 1 # line 9\n      - redirect location /new if { path /old } # line 8"},
			notYAML: []string{"return status 200"},
		},
		{
			name:    "a rule strata refuses is taken out, reported, and the rest kept",
			src:     "frontend f\n  bind :7001\n  http-request set-header x-a 1\n  http-request lua.hello\n  acl bad nosuchfetch -m found\n  http-request deny if bad\n  default_backend b\nbackend b\n  server a 127.0.0.1:81\n",
			yaml:    []string{"set-header x-a 1"},
			report:  []string{"f.cfg:9: not converted: lua.hello: strata refuses it", "f.cfg:10: not converted: nosuchfetch -m found: strata refuses it", "f.cfg:11: not converted: deny if bad: strata refuses it"},
			notYAML: []string{"lua.hello", "nosuchfetch", "deny if bad"},
		},
		{
			name: "track-sc and src_ fetches get the section's table",
			src:  "frontend f\n  bind :7001\n  stick-table type string len 16 size 1k store http_req_cnt,gpc_rate(2,10s)\n  http-request track-sc1 req.hdr(x-key) if { req.hdr(x-key) -m found }\n  http-request deny if { src_http_req_cnt gt 3 }\n  default_backend b\nbackend b\n  server a 127.0.0.1:81\nbackend t2\n  stick-table type ip size 1k store conn_cur\n",
			yaml: []string{"track-sc1 req.hdr(x-key) table f if { req.hdr(x-key) -m found }", "src_http_req_cnt(f) gt 3", "store: [http_req_cnt, 'gpc_rate(2,10s)']"},
		},
		{
			name:   "listen without binds and sections strata lacks",
			src:    "userlist u\n  user a password x\ncache c\n  total-max-size 4\nlisten l\n  server a 127.0.0.1:81\nfrontend f\n  bind :7001\n  default_backend l\n",
			report: []string{"userlist u: strata has no user lists", "user a password x: inside a userlist section", "cache c: strata has no cache section", "listen l: no address strata can listen on"},
		},
		{
			name:   "tls bind: client certificates, minimum version, alpn",
			src:    "frontend f\n  bind 127.0.0.1:7443 ssl crt testdata/site.pem verify optional ca-file testdata/site.pem ssl-min-ver TLSv1.3 alpn h2,http/1.1 ciphers HIGH\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n",
			yaml:   []string{"tls:\n      certificates:\n        - testdata/site.pem\n      alpn: [h2, http/1.1]\n      min_version: \"1.3\"\n      client_auth: {mode: optional, ca: testdata/site.pem}"},
			report: []string{"bind option ciphers is not supported"},
		},
		{
			name:   "a frontend without a backend gets an empty one",
			src:    "frontend f\n  bind :7001\n  http-request return status 204\n",
			yaml:   []string{"default_backend: no-server-http", "no-server-http:\n    mode: http"},
			report: []string{"no default_backend"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !strings.HasPrefix(src, "defaults\n") && !strings.Contains(src, "defaults fast") {
				src = testDefaults + src
			}
			res, err := Import([]byte(src), Options{LookupEnv: lookupTestEnv})
			if err != nil {
				t.Fatal(err)
			}
			var rep bytes.Buffer
			res.Report.Write(&rep, "f.cfg")
			if res.CheckErr != nil {
				t.Fatalf("output fails the check: %v\n%s\n%s", res.CheckErr, res.YAML, rep.String())
			}
			y := string(res.YAML)
			for _, want := range tt.yaml {
				if !strings.Contains(y, want) {
					t.Errorf("YAML lacks %q:\n%s", want, y)
				}
			}
			for _, bad := range tt.notYAML {
				if strings.Contains(y, bad) {
					t.Errorf("YAML holds %q:\n%s", bad, y)
				}
			}
			for _, want := range tt.report {
				if !strings.Contains(rep.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, rep.String())
				}
			}
		})
	}
}

// FuzzConvert: the converter takes whatever the parser accepts without
// panicking, and writes YAML that parses.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cfg")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(testDefaults + "frontend f\n  bind :1 ssl crt x verify required\n  bind a:b:c\nbackend b\n  server s ::1:2 ssl sni x\n  stick on\n  http-check expect\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, Options{LookupEnv: lookupTestEnv})
		if err != nil {
			return
		}
		c := newConverter(file, Options{})
		c.run()
		y, _ := c.out.render()
		var v any
		if err := yaml.Unmarshal(y, &v); err != nil {
			t.Fatalf("the YAML does not parse: %v\n%s", err, y)
		}
	})
}

// TestConvert_FilePaths: relative certificate and CA names follow crt-base
// and ca-base, then default-path or Options.FileDir, so that strata, which
// reads relative names from its configuration's directory, finds the files
// HAProxy read.
func TestConvert_FilePaths(t *testing.T) {
	tests := []struct {
		name, global, fileDir string
		want                  []string
	}{
		{"as written", "", "", []string{"certificates:\n        - site.pem", "ca: ca/ca.pem"}},
		{"crt-base and ca-base", "  crt-base /etc/ssl/own\n  ca-base /etc/ssl/cas\n", "", []string{"- /etc/ssl/own/site.pem", "ca: /etc/ssl/cas/ca/ca.pem"}},
		{"file dir", "", "/srv/haproxy", []string{"- /srv/haproxy/site.pem", "ca: /srv/haproxy/ca/ca.pem"}},
		{"default-path config", "  default-path config\n", "/elsewhere", []string{"- /etc/haproxy/site.pem", "ca: /etc/haproxy/ca/ca.pem"}},
		{"default-path origin", "  default-path origin /opt/lb\n", "", []string{"- /opt/lb/site.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "global\n" + tt.global + testDefaults + "frontend f\n  bind :443 ssl crt site.pem\n  default_backend b\nbackend b\n  server s 127.0.0.1:1 ssl ca-file ca/ca.pem\n"
			f, err := Parse([]byte(src), Options{LookupEnv: lookupTestEnv})
			if err != nil {
				t.Fatal(err)
			}
			c := newConverter(f, Options{Name: "/etc/haproxy/haproxy.cfg", FileDir: tt.fileDir})
			c.run()
			y, _ := c.out.render()
			for _, w := range tt.want {
				if !strings.Contains(string(y), w) {
					t.Errorf("YAML lacks %q:\n%s", w, y)
				}
			}
		})
	}
}
