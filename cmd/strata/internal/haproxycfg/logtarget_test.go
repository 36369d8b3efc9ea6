package haproxycfg

import (
	"bytes"
	"strings"
	"testing"
)

// logTargetTests are HAProxy's log address forms (configuration manual,
// "log" and "Address formats") with what strata's
// global.access_log.output receives, or the reason it cannot.
var logTargetTests = []struct {
	name, addr string
	out        string // "" when not converted
	why        string // substring of the reason, when not converted
	note       string // substring of the reported difference, when converted
}{
	{name: "ipv4 with port", addr: "127.0.0.1:5514", out: "udp://127.0.0.1:5514"},
	{name: "ipv4 without port", addr: "127.0.0.1", out: "udp://127.0.0.1:514"},
	{name: "ipv6 with port", addr: "::1:514", out: "udp://[::1]:514"},
	{name: "ipv6 with an empty port", addr: "fe80::1:", out: "udp://[fe80::1]:514"},
	{name: "ipv6 in brackets", addr: "[::1]:5514", out: "udp://[::1]:5514"},
	{name: "ipv6 in brackets without port", addr: "[2001:db8::7]", out: "udp://[2001:db8::7]:514"},
	{name: "ipv6 without a port colon", addr: "::1", why: "invalid IPv6 address"},
	{name: "host name", addr: "logs.example.com:1514", out: "udp://logs.example.com:1514"},
	{name: "udp@", addr: "udp@10.0.0.5:514", out: "udp://10.0.0.5:514"},
	{name: "udp4@", addr: "udp4@10.0.0.5", out: "udp://10.0.0.5:514"},
	{name: "udp6@", addr: "udp6@::1:514", out: "udp://[::1]:514"},
	{name: "ipv4@", addr: "ipv4@127.0.0.1:514", out: "udp://127.0.0.1:514"},
	{name: "ipv6@", addr: "ipv6@2001:db8::1:5514", out: "udp://[2001:db8::1]:5514"},
	{name: "ip@ ipv6", addr: "ip@::1:9", out: "udp://[::1]:9"},
	{name: "dgram+ipv6@", addr: "dgram+ipv6@::1:514", out: "udp://[::1]:514"},
	{name: "udp4@ with ipv6 address", addr: "udp4@::1:514", why: "not an IPv4 address"},
	{name: "udp6@ with ipv4 address", addr: "udp6@127.0.0.1:514", why: "not an IPv6 address"},
	{name: "udp6@ with a host name", addr: "udp6@logs.example.com:514", out: "udp://logs.example.com:514", note: "either address family"},
	{name: "port range", addr: "127.0.0.1:514-516", why: "not a range"},
	{name: "port zero", addr: "127.0.0.1:0", why: "invalid port 0"},
	{name: "path", addr: "/dev/log", out: "unix:///dev/log"},
	{name: "unix@", addr: "unix@/var/run/log.sock", out: "unix:///var/run/log.sock"},
	{name: "uxdg@", addr: "uxdg@/dev/log", out: "unix:///dev/log"},
	{name: "unix@ relative path", addr: "unix@log.sock", why: "absolute socket path"},
	{name: "stdout", addr: "stdout", out: "stdout"},
	{name: "stderr", addr: "stderr", out: "stderr"},
	{name: "fd@1", addr: "fd@1", out: "stdout"},
	{name: "fd@2", addr: "fd@2", out: "stderr"},
	{name: "other fd", addr: "fd@3", why: "inherited descriptor"},
	{name: "tcp@", addr: "tcp@127.0.0.1:514", why: "not over a stream"},
	{name: "tcp6@", addr: "tcp6@::1:514", why: "not over a stream"},
	{name: "uxst@", addr: "uxst@/dev/log", why: "not over a stream"},
	{name: "stream+ipv4@", addr: "stream+ipv4@127.0.0.1:514", why: "datagrams only"},
	{name: "ring@", addr: "ring@buf", why: "no in-memory log ring"},
	{name: "abns@", addr: "abns@log", why: "abstract namespace"},
	{name: "unknown prefix", addr: "quic4@127.0.0.1:514", why: "unknown address prefix quic4@"},
}

func TestLogOutput(t *testing.T) {
	for _, tt := range logTargetTests {
		t.Run(tt.name, func(t *testing.T) {
			out, why, note := logOutput(tt.addr)
			if out != tt.out {
				t.Errorf("logOutput(%q) = %q, want %q (why %q)", tt.addr, out, tt.out, why)
			}
			if tt.out == "" && (why == "" || !strings.Contains(why, tt.why)) {
				t.Errorf("logOutput(%q): reason %q, want it to hold %q", tt.addr, why, tt.why)
			}
			if tt.out != "" && why != "" {
				t.Errorf("logOutput(%q) converted with a reason %q", tt.addr, why)
			}
			if (tt.note == "") != (note == "") || !strings.Contains(note, tt.note) {
				t.Errorf("logOutput(%q): note %q, want %q", tt.addr, note, tt.note)
			}
		})
	}
}

// TestImport_GlobalLogTargets imports `log ADDRESS local0` for every form:
// a converted one lands in global.access_log.output and the YAML passes
// strata's check; one strata cannot express is reported as not converted,
// naming the line, and leaves the default output.
func TestImport_GlobalLogTargets(t *testing.T) {
	for _, tt := range logTargetTests {
		t.Run(tt.name, func(t *testing.T) {
			src := "global\n  log " + tt.addr + " local0\n" + testDefaults + "frontend f\n  bind :7001\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"
			res, err := Import([]byte(src), Options{LookupEnv: lookupTestEnv})
			if err != nil {
				t.Fatal(err)
			}
			var rep bytes.Buffer
			res.Report.Write(&rep, "f.cfg")
			if res.CheckErr != nil {
				t.Fatalf("output fails the check: %v\n%s\n%s", res.CheckErr, res.YAML, rep.String())
			}
			if err := Check(res.YAML); err != nil {
				t.Fatalf("Check: %v", err)
			}
			y := string(res.YAML)
			if tt.out == "" {
				want := "f.cfg:2: not converted: log " + tt.addr + " local0: "
				if !strings.Contains(rep.String(), want) || !strings.Contains(rep.String(), tt.why) {
					t.Errorf("report lacks %q … %q:\n%s", want, tt.why, rep.String())
				}
				if strings.Contains(y, "access_log") {
					t.Errorf("YAML sets an access log for an address strata cannot send to:\n%s", y)
				}
				return
			}
			if !strings.Contains(y, "output: '"+tt.out+"'") && !strings.Contains(y, "output: "+tt.out+"}") {
				t.Errorf("YAML lacks output %s:\n%s", tt.out, y)
			}
			if strings.Contains(rep.String(), ": not converted: ") {
				t.Errorf("report has a line not converted:\n%s", rep.String())
			}
			if tt.note != "" && (!strings.Contains(rep.String(), "f.cfg:2: changed: log "+tt.addr+" local0: ") || !strings.Contains(rep.String(), tt.note)) {
				t.Errorf("report lacks the difference %q:\n%s", tt.note, rep.String())
			}
		})
	}
}
