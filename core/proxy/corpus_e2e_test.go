package proxy

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/core/transport"
)

// corpusRequest is one rejected request of the codec's smuggling corpus.
type corpusRequest struct {
	name   string
	status int
	raw    string
}

// loadRejectedRequests reads core/h1/testdata/smuggling.txt and keeps the
// request cases the codec rejects (see that file for its format).
func loadRejectedRequests(t *testing.T) []corpusRequest {
	t.Helper()
	return loadRejected(t, "request", 40)
}

// loadRejected reads the cases of kind the codec rejects from
// core/h1/testdata/smuggling.txt, failing when there are fewer than atLeast.
func loadRejected(t *testing.T, kind string, atLeast int) []corpusRequest {
	t.Helper()
	f, err := os.Open("../h1/testdata/smuggling.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[0] != kind {
			continue
		}
		status, err := strconv.Atoi(fields[2])
		if err != nil {
			continue // "ok" or "more"
		}
		rest := line[strings.Index(line, fields[2])+len(fields[2]):]
		raw, err := corpusData(strings.TrimSpace(rest))
		if err != nil {
			t.Fatalf("corpus case %s: %v", fields[1], err)
		}
		out = append(out, corpusRequest{name: fields[1], status: status, raw: raw})
	}
	if len(out) < atLeast {
		t.Fatalf("only %d rejected %s cases in the corpus", len(out), kind)
	}
	return out
}

// corpusData decodes one or more Go-quoted strings, each optionally
// followed by *N.
func corpusData(s string) (string, error) {
	var b strings.Builder
	for s != "" {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", err
		}
		v, _ := strconv.Unquote(q)
		s = strings.TrimSpace(s[len(q):])
		n := 1
		if strings.HasPrefix(s, "*") {
			end := 1
			for end < len(s) && s[end] >= '0' && s[end] <= '9' {
				end++
			}
			n, _ = strconv.Atoi(s[1:end])
			s = strings.TrimSpace(s[end:])
		}
		b.WriteString(strings.Repeat(v, n))
	}
	return b.String(), nil
}

// TestProxy_SmugglingCorpus sends every request the codec's corpus rejects
// through the running proxy: each gets exactly the codec's status, the
// connection closes, and nothing reaches the server.
func TestProxy_SmugglingCorpus(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	cases := loadRejectedRequests(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := rawExchange(t, p.addr("web"), tc.raw)
			if got := statusOf(out); got != tc.status {
				t.Fatalf("status %d, want %d; response %q", got, tc.status, out)
			}
		})
	}
	if n := len(up.Events(t, "accept")); n != 0 {
		t.Fatalf("the server saw %d connections for %d rejected requests", n, len(cases))
	}
}

// TestProxy_SmugglingCorpusChunked sends every chunked body the codec's
// corpus rejects, with its head in one write, through the running proxy:
// each gets 400 and nothing reaches the server, not even the head, as with
// HAProxy, which parses all it has received before forwarding. Bodies that
// do not fit the read buffer with the head are left out: then the head
// leaves before the error is read, in HAProxy as in strata.
func TestProxy_SmugglingCorpusChunked(t *testing.T) {
	up := startUpstream(t, "-mode", "echo")
	p := startProxy(t, basicConfig, basicVars(up.Addr))
	const head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	sent := 0
	for _, tc := range loadRejected(t, "chunked", 20) {
		if len(head)+len(tc.raw) > transport.DefaultBufSize {
			continue
		}
		sent++
		t.Run(tc.name, func(t *testing.T) {
			out := rawExchange(t, p.addr("web"), head+tc.raw)
			if got := statusOf(out); got != tc.status {
				t.Fatalf("status %d, want %d; response %q", got, tc.status, out)
			}
		})
	}
	if n := len(up.Events(t, "accept")); n != 0 {
		t.Fatalf("the server saw %d connections for %d rejected bodies", n, sent)
	}
}
