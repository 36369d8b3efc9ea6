package generation

import (
	"errors"
	"testing"

	"github.com/strata-proxy/strata/core/filter"
)

// TestCallHead: a filter's call is written as a client's request would
// be, or refused: nothing a filter sends can add a line to the head that
// goes to a pooled server connection.
func TestCallHead(t *testing.T) {
	base := [][2]string{{":method", "GET"}, {":path", "/check?u=1"}, {":authority", "authz"}}
	for _, tc := range []struct {
		name   string
		fields [][2]string
		body   string
		want   string
		err    error
	}{
		{name: "plain", fields: append(base, [2]string{"x-user", "alice"}, [2]string{"connection", "close"}, [2]string{"host", "other"}),
			want: "GET /check?u=1 HTTP/1.1\r\nhost: authz\r\nx-user: alice\r\n\r\n"},
		{name: "body", fields: [][2]string{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}, body: "hi",
			want: "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\n"},
		{name: "CRLF in authority", fields: [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a\r\nx-injected: 1"}}, err: errCallHead},
		{name: "CRLF in a value", fields: append(base, [2]string{"x-user", "a\r\n\r\nGET /admin HTTP/1.1"}), err: errCallField},
		{name: "bad name", fields: append(base, [2]string{"x user", "a"}), err: errCallField},
		{name: "unknown pseudo-header", fields: append(base, [2]string{":protocol", "websocket"}), err: errCallField},
		{name: "no authority", fields: [][2]string{{":method", "GET"}, {":path", "/"}}, err: errCallHead},
		{name: "bad path", fields: [][2]string{{":method", "GET"}, {":path", "/a b"}, {":authority", "a"}}, err: errCallHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := callHead(&filter.CallRequest{Fields: tc.fields, Body: []byte(tc.body)})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %q, %v; want error %v", got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
