package rules

import (
	"strings"
	"testing"

	"github.com/strata-proxy/strata/abi"
)

func TestPoint_StringLayers(t *testing.T) {
	const (
		c = abi.LayerConn
		s = abi.LayerSess
		m = abi.LayerStrm
		x = abi.LayerTxn
	)
	tests := []struct {
		name      string
		p         Point
		str       string
		http, tcp abi.Layers
	}{
		{"tcp connection", TCPConnection, "tcp-request connection", c | s, c | s},
		{"tcp session", TCPSession, "tcp-request session", c | s, c | s},
		{"tcp content", TCPContent, "tcp-request content", c | s | m, c | s | m},
		{"http request", HTTPRequest, "http-request", c | s | m | x, c | s | m | x},
		{"http response", HTTPResponse, "http-response", c | s | m | x, c | s | m | x},
		{"http after response", HTTPAfterResponse, "http-after-response", c | s | m | x, c | s | m | x},
		{"use_backend", UseBackend, "use_backend", c | s | m | x, c | s | m},
		{"use-service", UseService, "use-service", c | s | m | x, c | s | m},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.p.String() != tc.str {
				t.Errorf("String = %q, want %q", tc.p.String(), tc.str)
			}
			if got := tc.p.Layers(true); got != tc.http {
				t.Errorf("Layers(http) = %s, want %s", got, tc.http)
			}
			if got := tc.p.Layers(false); got != tc.tcp {
				t.Errorf("Layers(tcp) = %s, want %s", got, tc.tcp)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      bool
	}{
		{name: "plain", in: "deny if { path_beg /a }", want: []string{"deny", "if", "{", "path_beg", "/a", "}"}},
		{name: "tabs and runs", in: " a \t b  ", want: []string{"a", "b"}},
		{name: "double quotes", in: `set-header X "a b"`, want: []string{"set-header", "X", "a b"}},
		{name: "single quotes", in: `x 'a\1 "b"'`, want: []string{"x", `a\1 "b"`}},
		{name: "escaped space", in: `a\ b c`, want: []string{"a b", "c"}},
		{name: "regex escapes kept", in: `^a\.b(.*)$ X\1Y`, want: []string{`^a\.b(.*)$`, `X\1Y`}},
		{name: "hex escape", in: `a\x41b`, want: []string{"aAb"}},
		{name: "escaped quote in double quotes", in: `"a\"b"`, want: []string{`a"b`}},
		{name: "adjacent quoting", in: `a"b c"'d e'`, want: []string{"ab cd e"}},
		{name: "empty quoted word", in: `x ""`, want: []string{"x", ""}},
		{name: "hash is literal", in: "a #b", want: []string{"a", "#b"}},
		{name: "unterminated double", in: `a "b`, err: true},
		{name: "unterminated single", in: `a 'b`, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitWords(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("splitWords(%q) = %q, want error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
				t.Errorf("splitWords(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
