package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/abi"
)

func TestCompile_LayerRejection(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		http bool
		rule string // "" when tested as a target below
		want string // "" when the rule is accepted
	}{
		// tcp-request connection: CONN|SESS
		{"conn src ok", TCPConnection, true, "reject if { src 10.0.0.0/8 }", ""},
		{"conn fe_name ok", TCPConnection, true, "accept if { fe_name web }", ""},
		{"conn req.hdr", TCPConnection, true, "reject if { req.hdr(host) -m found }",
			`tcp-request connection "reject if { req.hdr(host) -m found }": fetch "req.hdr" needs layer TXN, which does not exist at tcp-request connection (available: CONN|SESS)`},
		{"conn req.len", TCPConnection, true, "reject if { req.len gt 0 }",
			`fetch "req.len" needs layer STRM, which does not exist at tcp-request connection (available: CONN|SESS)`},
		{"conn var txn in cond", TCPConnection, true, "reject if { var(txn.x) -m found }",
			`fetch "var" needs layer STRM, which does not exist at tcp-request connection`},
		{"conn set-var txn", TCPConnection, true, "set-var(txn.x) src",
			`variable "txn.x" needs layer STRM, which does not exist at tcp-request connection (available: CONN|SESS)`},
		{"conn set-var expr", TCPConnection, true, "set-var(sess.x) path",
			`fetch "path" needs layer TXN, which does not exist at tcp-request connection`},
		{"conn set-var-fmt", TCPConnection, true, "set-var-fmt(sess.x) %[be_name]",
			`fetch "be_name" needs layer STRM`},
		{"conn set-var sess ok", TCPConnection, true, "set-var(sess.x) src", ""},
		{"conn set-var proc ok", TCPConnection, true, "set-var(proc.x) int(1)", ""},
		// tcp-request session: CONN|SESS
		{"session status", TCPSession, true, "reject if { status 500 }",
			`tcp-request session "reject if { status 500 }": fetch "status" needs layer TXN, which does not exist at tcp-request session (available: CONN|SESS)`},
		{"session var sess ok", TCPSession, true, "accept if { var(sess.ok) -m found }", ""},
		// tcp-request content: CONN|SESS|STRM
		{"content req.payload ok", TCPContent, true, "accept if { req.payload(0,1) -m bin 16 }", ""},
		{"content be_name ok", TCPContent, false, "set-var(txn.b) be_name", ""},
		{"content req.hdr", TCPContent, true, "reject if { req.hdr(host) -m found }",
			`fetch "req.hdr" needs layer TXN, which does not exist at tcp-request content (available: CONN|SESS|STRM)`},
		{"content method", TCPContent, false, "accept if METH_GET",
			`acl METH_GET: fetch "method" needs layer TXN, which does not exist at tcp-request content`},
		// http-*: everything
		{"http-request status ok", HTTPRequest, true, "deny if { status 500 }", ""},
		{"http-request req.payload ok", HTTPRequest, true, "deny if { req.len gt 100 }", ""},
		{"http-response req.hdr ok", HTTPResponse, true, "set-header X %[req.hdr(host)]", ""},
		{"http-after-response var ok", HTTPAfterResponse, true, "set-header X %[var(sess.x)]", ""},
		// named ACLs are checked where they are used
		{"named acl at conn", TCPConnection, true, "reject if is_api",
			`acl is_api: fetch "path" needs layer TXN, which does not exist at tcp-request connection`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{HTTP: tc.http}
			if err := env.DefineACL("is_api", "path_beg /api"); err != nil {
				t.Fatal(err)
			}
			_, err := Compile(tc.p, tc.rule, env)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %s\nwant it to contain\n  %s", err, tc.want)
			}
			if !errors.Is(err, ErrLayer) {
				t.Errorf("error is not ErrLayer")
			}
			var le *LayerError
			if !errors.As(err, &le) || le.Point != tc.p {
				t.Errorf("no LayerError for %s", tc.p)
			}
		})
	}
}

func TestCompileTarget_Layers(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		http bool
		src  string
		want string
	}{
		{"backend by host in http", UseBackend, true, "be_api if { req.hdr(host) api.example.com }", ""},
		{"dynamic backend in http", UseBackend, true, "be_%[req.hdr(host),lower]", ""},
		{"backend by host in tcp", UseBackend, false, "be_api if { req.hdr(host) api.example.com }",
			`use_backend "be_api if { req.hdr(host) api.example.com }": fetch "req.hdr" needs layer TXN, which does not exist at use_backend (available: CONN|SESS|STRM)`},
		{"dynamic backend in tcp", UseBackend, false, "be_%[path]",
			`fetch "path" needs layer TXN, which does not exist at use_backend (available: CONN|SESS|STRM)`},
		{"service by payload in tcp", UseService, false, "svc if { req.payload(0,1) -m bin 16 }", ""},
		{"service by host in tcp", UseService, false, "svc if { hdr(host) x }",
			`fetch "hdr" needs layer TXN, which does not exist at use-service`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileTarget(tc.p, tc.src, &Env{HTTP: tc.http})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestLayerError_Plural(t *testing.T) {
	e := &LayerError{Subject: `fetch "x"`, Missing: abi.LayerStrm | abi.LayerTxn, Point: TCPConnection, Available: TCPConnection.Layers(true)}
	want := `fetch "x" needs layers STRM|TXN, which do not exist at tcp-request connection (available: CONN|SESS)`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
}
