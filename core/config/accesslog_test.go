package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoad_AccessLog(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(`
global:
  access_log:
    output: udp://127.0.0.1:514
    queue_size: 64k
    syslog: { format: rfc3164, facility: local3, level: notice, tag: edge }
frontends:
  web:
    bind: ["127.0.0.1:8080"]
    default_backend: app
    log_format: httplog
    capture_request_headers: [{ name: Host, len: 32 }, { name: User-Agent, len: 64 }]
    capture_response_headers: [{ name: Content-Type, len: 20 }]
backends:
  app:
    servers:
      s1: { address: "127.0.0.1:9001" }
`)})
	want := AccessLog{Output: "udp://127.0.0.1:514", Format: "json", QueueSize: 64 << 10,
		Syslog: SyslogHeader{Format: "rfc3164", Facility: "local3", Level: "notice", Tag: "edge"}}
	if c.Global.AccessLog != want || !c.Global.AccessLog.IsSyslog() {
		t.Errorf("AccessLog = %+v\nwant %+v", c.Global.AccessLog, want)
	}
	fe := c.Frontends[0]
	if fe.LogFormat != "httplog" {
		t.Errorf("LogFormat = %q", fe.LogFormat)
	}
	if !reflect.DeepEqual(fe.CaptureRequestHeaders, []Capture{{"Host", 32}, {"User-Agent", 64}}) ||
		!reflect.DeepEqual(fe.CaptureResponseHeaders, []Capture{{"Content-Type", 20}}) {
		t.Errorf("captures = %+v %+v", fe.CaptureRequestHeaders, fe.CaptureResponseHeaders)
	}
}

func TestLoad_AccessLogErrors(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{name: "unknown log variable",
			sets: []string{"frontends.web.log_format=%ci %Zz"},
			want: []string{`frontends.web.log_format: at offset 4: unknown variable %Zz (write %% for a literal %); fix the format (HAProxy's log-format variables) or use a preset: httplog, tcplog, httpslog, json`}},
		{name: "capture without len",
			sets: []string{"frontends.web.capture_request_headers=[{name: Host}]"},
			want: []string{`frontends.web.capture_request_headers[0].len: required; write how many bytes to keep, e.g. len: 32`}},
		{name: "syslog address without port",
			sets: []string{"global.access_log.output=udp://loghost"},
			want: []string{`global.access_log.output: invalid address "loghost": missing port; write udp://HOST:PORT, e.g. udp://127.0.0.1:514 (write host:port, e.g. 127.0.0.1:8080)`}},
		{name: "unique id header without a format",
			sets: []string{"frontends.web.unique_id_header=X-Unique-ID"},
			want: []string{`frontends.web.unique_id_header: no unique_id_format to fill it; set unique_id_format too, e.g. "%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid"`}},
		{name: "unknown facility",
			sets: []string{"global.access_log.syslog.facility=local9"},
			want: []string{`global.access_log.syslog.facility: invalid value "local9"; did you mean "local0"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{YAML: []byte(minimal), Sets: tt.sets})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
