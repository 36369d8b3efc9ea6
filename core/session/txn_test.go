package session

import (
	"testing"

	"github.com/strata-proxy/strata/core/h1"
)

func newTxn(t *testing.T, raw string) *Txn {
	t.Helper()
	txn := &Txn{}
	if err := h1.ParseRequest(&txn.Req, []byte(raw), nil); err != nil {
		t.Fatal(err)
	}
	return txn
}

func TestTxn_HeaderEdits(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Txn)
		want string
	}{
		{name: "set replaces every occurrence", edit: func(x *Txn) { x.SetReqHeader([]byte("x-a"), []byte("new")) },
			want: "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nx-b: 2\r\nx-a: new\r\n\r\n"},
		{name: "add appends", edit: func(x *Txn) { x.AddReqHeader([]byte("x-c"), []byte("3")) },
			want: "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-b: 2\r\nx-a: 1b\r\nx-c: 3\r\n\r\n"},
		{name: "del is case-insensitive", edit: func(x *Txn) { x.DelReqHeader([]byte("X-a")) },
			want: "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nx-b: 2\r\n\r\n"},
		{name: "set-path keeps the query", edit: func(x *Txn) { x.SetPath([]byte("/new")) },
			want: "GET /new?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-b: 2\r\nx-a: 1b\r\n\r\n"},
		{name: "empty query removes it", edit: func(x *Txn) { x.SetQuery(nil) },
			want: "GET /p HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-b: 2\r\nx-a: 1b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := newTxn(t, "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-b: 2\r\nx-a: 1b\r\n\r\n")
			tt.edit(txn)
			if !txn.ReqEdited {
				t.Fatal("edit not marked")
			}
			if got := string(h1.AppendRequestHead(nil, &txn.Req)); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTxn_InvalidRewriteRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Txn) bool
	}{
		{name: "CRLF in a value", edit: func(x *Txn) bool { return x.SetReqHeader([]byte("x-a"), []byte("a\r\nx-evil: 1")) }},
		{name: "bad name", edit: func(x *Txn) bool { return x.AddRespHeader([]byte("x a"), []byte("v")) }},
		{name: "space in path", edit: func(x *Txn) bool { return x.SetPath([]byte("/a b")) }},
		{name: "relative path", edit: func(x *Txn) bool { return x.SetPath([]byte("a")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := newTxn(t, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if tt.edit(txn) {
				t.Fatal("an invalid rewrite was accepted")
			}
			if got := string(h1.AppendRequestHead(nil, &txn.Req)); got != "GET / HTTP/1.1\r\nHost: h\r\n\r\n" {
				t.Fatalf("request changed: %q", got)
			}
		})
	}
}

func TestTxn_KeepSurvivesLaterKeeps(t *testing.T) {
	var txn Txn
	a := txn.Keep([]byte("first"))
	for range 100 {
		txn.Keep(make([]byte, 300)) // forces new arenas
	}
	if string(a) != "first" {
		t.Fatalf("earlier kept bytes changed: %q", a)
	}
}

func TestTermination_FirstCauseWins(t *testing.T) {
	var term Termination
	term.Set(CauseServerTimeout, PhaseHeaders)
	term.Set(CauseClientAbort, PhaseData)
	if st := term.State(); string(st[:]) != "sH" {
		t.Fatalf("state %q", st)
	}
	if CauseConnectFailed.String() != "connect_failed" || PhaseConnect.Code() != 'C' {
		t.Fatal("names")
	}
}
