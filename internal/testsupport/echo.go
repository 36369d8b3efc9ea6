package testsupport

import (
	"encoding/json"
	"strings"
	"testing"
)

// Echoed is what the upstream's echo mode (cmd/upstream -mode echo)
// answers: the request as it reached the upstream.
type Echoed struct {
	Method     string      `json:"method"`
	URI        string      `json:"uri"`
	Proto      string      `json:"proto"` // "HTTP/1.1", or "HTTP/2.0" from an EchoOrigin over HTTP/2
	Headers    [][2]string `json:"headers"`
	BodyLength int64       `json:"body_length"`
	BodySHA256 string      `json:"body_sha256"`
	Trailers   [][2]string `json:"trailers"` // of a chunked body
}

// Header returns every value of the fields called name, in order.
func (e Echoed) Header(name string) []string {
	var out []string
	for _, h := range e.Headers {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

// First returns the first value of the fields called name, and whether
// there is one.
func (e Echoed) First(name string) (string, bool) {
	if vs := e.Header(name); len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// DecodeEcho decodes an echo-mode response body; a body that is not one
// fails the test.
func DecodeEcho(tb testing.TB, body []byte) Echoed {
	tb.Helper()
	var e Echoed
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("echo body %q: %v", body, err)
	}
	return e
}
