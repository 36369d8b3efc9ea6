package testsupport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ServerProto is how the proxy speaks to a test's server.
type ServerProto string

const (
	ServerH1  ServerProto = "h1-server"  // HTTP/1.1
	ServerH2C ServerProto = "h2c-server" // HTTP/2 with prior knowledge, in clear text (a server with `h2: true`)
)

// HTTPVersion is the protocol as a request received over p says it
// (Echoed.Proto).
func (p ServerProto) HTTPVersion() string {
	if p == ServerH2C {
		return "HTTP/2.0"
	}
	return "HTTP/1.1"
}

// ServerOptions are the options of a server entry (after its address)
// that make the proxy speak p to it.
func (p ServerProto) ServerOptions() string {
	if p == ServerH2C {
		return "h2: true"
	}
	return ""
}

// EchoOrigin is an in-process server on 127.0.0.1 that answers as the
// upstream process's echo mode does (DecodeEcho reads its answers), for
// the protocols cmd/upstream does not speak: it serves HTTP/1.1 or
// HTTP/2 with prior knowledge through Go's net/http. It also answers
// /big/N with N bytes. It records the URI of every request as soon as its
// head arrives, before the body is read.
type EchoOrigin struct {
	Addr  string
	Proto ServerProto

	mu   sync.Mutex
	uris []string
}

// StartEchoOrigin starts an EchoOrigin speaking p, named name (its
// x-server header); it is stopped when the test ends.
func StartEchoOrigin(tb testing.TB, p ServerProto, name string) *EchoOrigin {
	tb.Helper()
	o := &EchoOrigin{Proto: p}
	protos := new(http.Protocols)
	if p == ServerH2C {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	srv := &http.Server{Protocols: protos, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.record(r.URL.RequestURI())
			w.Header().Set("x-server", name)
			if n, ok := strings.CutPrefix(r.URL.Path, "/big/"); ok {
				serveBig(w, n)
				return
			}
			serveEcho(w, r)
		})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o.Addr = ln.Addr().String()
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return o
}

func (o *EchoOrigin) record(uri string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.uris = append(o.uris, uri)
}

// Received counts the requests for uri whose head reached the origin.
func (o *EchoOrigin) Received(tb testing.TB, uri string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, u := range o.uris {
		if u == uri {
			n++
		}
	}
	return n
}

// serveBig writes a body of n bytes (the decimal in the path).
func serveBig(w http.ResponseWriter, n string) {
	size, err := strconv.ParseInt(n, 10, 64)
	if err != nil || size < 0 || size > 1<<30 {
		http.Error(w, "want /big/N with N <= 2^30", http.StatusBadRequest)
		return
	}
	w.Header().Set("content-type", "application/octet-stream")
	w.Header().Set("content-length", n)
	chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
	for size > 0 {
		k := min(size, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		size -= k
	}
}

// serveEcho answers with the Echoed description of r: its fields sorted
// by name (net/http keeps no order across names), host first.
func serveEcho(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		return // the client went away mid-body: nothing to answer
	}
	e := Echoed{Method: r.Method, URI: r.URL.RequestURI(), Proto: r.Proto, BodyLength: n, BodySHA256: hex.EncodeToString(h.Sum(nil))}
	e.Headers = append(e.Headers, [2]string{"host", r.Host})
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			e.Headers = append(e.Headers, [2]string{strings.ToLower(k), v})
		}
	}
	for k, vs := range r.Trailer {
		for _, v := range vs {
			e.Trailers = append(e.Trailers, [2]string{strings.ToLower(k), v})
		}
	}
	body, _ := json.Marshal(e)
	w.Header().Set("content-type", "application/json")
	w.Write(body)
}

// ServerProtos are the server protocols a stream-level behaviour is
// checked against.
var ServerProtos = []ServerProto{ServerH1, ServerH2C}
