// Package testsupport holds what the end-to-end tests and benchmarks of
// several packages share, so that a helper needed by a second package's
// tests moves here instead of being copied:
//
//   - upstreams: the real upstream process (StartUpstream, cmd/upstream)
//     and what its echo mode answers (DecodeEcho); an allocation-free
//     in-process upstream for benchmarks (RawUpstream) and the keep-alive
//     loop they measure (BenchKeepAlive); an in-process echo server for
//     HTTP/2 servers (EchoOrigin, ServerProtos);
//   - clients: net/http clients for HTTP/1.1, HTTP/2 with prior knowledge,
//     and TLS with ALPN, optionally behind a PROXY header (NewClient,
//     Modes), and raw TCP or TLS from a chosen source address (DialFrom,
//     DialMode, TCPModes);
//   - TLS: a test CA and the certificates it issues (NewCA, NewSite);
//   - configuration builders (DualFrontends, DualTCPFrontends, Backend);
//   - processes: building binaries and example plugins (BuildBinary,
//     BuildPlugins), HAProxy for differential tests (StartHAProxy);
//   - a log sink read while the proxy writes (SyncBuffer), and bounded
//     polling (WaitFor).
//
// It is imported only by _test.go files.
package testsupport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BuildBinary builds the main package pkg into dir and returns the path of
// the binary. TestMain functions use it for strata and the upstream.
func BuildBinary(dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

// Upstream is a running upstream process (cmd/upstream) that logs every
// event it sees as a JSON line in Log.
type Upstream struct {
	Addr string
	Log  string
	Cmd  *exec.Cmd
}

// StartUpstream starts the upstream binary bin with args and waits until it
// listens. It is stopped when the test ends.
func StartUpstream(tb testing.TB, bin string, args ...string) *Upstream {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), "upstream.log")
	args = append([]string{"-listen", "127.0.0.1:0", "-log", logPath, "-max-lifetime", "10m"}, args...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("upstream did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		tb.Fatalf("upstream said %q", line)
	}
	go io.Copy(io.Discard, out)
	return &Upstream{Addr: addr, Log: logPath, Cmd: cmd}
}

// UpstreamEvent is one line of the upstream's log.
type UpstreamEvent struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Conn   uint64    `json:"conn"`
	Method string    `json:"method"`
	URI    string    `json:"uri"`
	Head   []byte    `json:"head"`
}

// Events returns the upstream's log lines of kind ("" for all).
func (u *Upstream) Events(tb testing.TB, kind string) []UpstreamEvent {
	tb.Helper()
	b, err := os.ReadFile(u.Log)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var out []UpstreamEvent
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e UpstreamEvent
		if err := json.Unmarshal(line, &e); err != nil {
			tb.Fatalf("upstream log line %q: %v", line, err)
		}
		if kind == "" || e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

// Requests returns how many requests reached the upstream.
func (u *Upstream) Requests(tb testing.TB) int { return len(u.Events(tb, "request")) }

// Received counts the requests for uri that reached the upstream.
func (u *Upstream) Received(tb testing.TB, uri string) int {
	n := 0
	for _, e := range u.Events(tb, "request") {
		if e.URI == uri {
			n++
		}
	}
	return n
}

// Kill stops the upstream process for good.
func (u *Upstream) Kill() {
	u.Cmd.Process.Kill()
	u.Cmd.Wait()
}

// RawUpstream is an in-process keep-alive server that answers every request
// with a fixed 12-byte body, allocating nothing per request, so that a
// benchmark's figures are the proxy's. It returns its address.
func RawUpstream(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte(RawUpstreamResponse)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16384)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf, buf[i+4:n])
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// RawUpstreamResponse is what RawUpstream answers to every request.
const RawUpstreamResponse = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!"

// SyncBuffer is a sink (an access log, a process's output) that tests read
// while another goroutine writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BuildPlugin builds the example plugin examples/plugins/<name> for the
// plugin target (GOOS=wasip1, a WASI reactor) into out. root is the
// repository's root, relative to the test's directory ("../..").
func BuildPlugin(root, name, out string) error {
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./examples/plugins/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building plugin %s: %v\n%s", name, err, b)
	}
	return nil
}
