package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// End-to-end tests of the server side of a stream (core/stream/server.go): the same
// behaviours, from the same table, against an HTTP/1.1 server and an
// HTTP/2 server, which the one forwarding loop reaches through its two
// connectors.

// startConnectorOrigin starts Go's HTTP server on 127.0.0.1 speaking
// only HTTP/1.1, or only cleartext HTTP/2 (prior knowledge), with the
// routes the table below uses.
func startConnectorOrigin(t *testing.T, useH2 bool) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Method, body)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/abort", func(http.ResponseWriter, *http.Request) {
		// HTTP/1.1: the connection closes without a response; HTTP/2:
		// the stream is reset.
		panic(http.ErrAbortHandler)
	})
	protos := new(http.Protocols)
	if useH2 {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	srv := &http.Server{Handler: mux, Protocols: protos, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestConnector_SameOutcomes: a request that succeeds, a server that
// times out before its response head and a server that aborts before it
// end the same way whichever protocol the server speaks: the client's
// status, the log's termination state, and the server's counters of
// responses and terminations.
func TestConnector_SameOutcomes(t *testing.T) {
	for _, proto := range []struct {
		name  string
		h2    bool
		reply string // what /echo says of the request it got
	}{
		{"http1", false, "HTTP/1.1 POST hello"},
		{"http2", true, "HTTP/2.0 POST hello"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			origin := startConnectorOrigin(t, proto.h2)
			p := startProxy(t, `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    timeouts: { server: 300ms }
    servers:
      s1: { address: "{{o}}", h2: {{h2}} }
`, map[string]string{"o": origin, "h2": fmt.Sprint(proto.h2)})
			for i, step := range []struct {
				name, method, path, body string
				status                   int
				termState, termCause     string
			}{
				{"success", "POST", "/echo", "hello", 200, "--", ""},
				{"server timeout before the head", "GET", "/slow", "", 504, "sH", "server_timeout"},
				{"server abort before the head", "GET", "/abort", "", 502, "SH", "server_abort"},
			} {
				cl := dial(t, p.addr("web"), "")
				var r reply
				if step.body != "" {
					r = cl.postOn(step.path, step.body)
				} else {
					r = cl.do(step.method, step.path)
				}
				cl.c.Close()
				if r.err != nil || r.status != step.status {
					t.Fatalf("%s: %+v, want status %d", step.name, r, step.status)
				}
				if step.status == 200 && r.body != proto.reply {
					t.Fatalf("%s: body %q, want %q", step.name, r.body, proto.reply)
				}
				l := p.logLines(t, i+1)[i]
				if l["termination_state"] != step.termState || l["status"] != float64(step.status) {
					t.Fatalf("%s: log %v, want termination state %s", step.name, l, step.termState)
				}
				s := p.server(t, "s1")
				if step.termCause != "" && s.Term[step.termCause] != 1 {
					t.Fatalf("%s: server terminations %v, want one %s", step.name, s.Term, step.termCause)
				}
			}
			s := p.server(t, "s1")
			if s.Status["2xx"] != 1 || s.Status["5xx"] != 0 {
				// 504 and 502 are strata's answers, not the server's.
				t.Fatalf("server responses %v, want one 2xx and no 5xx", s.Status)
			}
		})
	}
}
