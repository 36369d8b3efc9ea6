package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// The binaries under test, built once by TestMain: strata itself and the
// upstream server the proxy forwards to.
var strataBin, upstreamBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	strataBin = filepath.Join(dir, "strata")
	upstreamBin = filepath.Join(dir, "upstream")
	for bin, pkg := range map[string]string{strataBin: "github.com/strata-proxy/strata/cmd/strata", upstreamBin: "github.com/strata-proxy/strata/cmd/upstream"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// upstream is a running upstream process.
type upstream struct {
	addr string
	log  string
}

func startUpstream(t *testing.T, name string, args ...string) *upstream {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "upstream.log")
	cmd := exec.Command(upstreamBin, append([]string{"-listen", "127.0.0.1:0", "-name", name, "-log", logPath, "-max-lifetime", "5m"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("upstream said %q (%v)", line, err)
	}
	go io.Copy(io.Discard, out)
	return &upstream{addr: addr, log: logPath}
}

// received reports whether the upstream logged a request for uri.
func (u *upstream) received(uri string) bool {
	b, _ := os.ReadFile(u.log)
	return bytes.Contains(b, []byte(`"uri":"`+uri+`"`))
}

// syncBuf collects a process's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// strataProc is a running `strata run`.
type strataProc struct {
	cmd    *exec.Cmd
	stdout *syncBuf // access log
	stderr *syncBuf // slog
	web    string   // address of frontend web
	admin  string   // admin API address, when configured
	exited chan struct{}
	code   int
	config string
}

var (
	listeningRE = regexp.MustCompile(`msg=listening frontend=web address=(\S+)`)
	adminRE     = regexp.MustCompile(`msg="admin API listening" address=(\S+)`)
)

// startStrata runs strata with the configuration yaml and waits until it
// listens.
func startStrata(t *testing.T, yaml string, withAdmin bool) *strataProc {
	t.Helper()
	return startStrataWith(t, yaml, withAdmin, exec.Command)
}

// startStrataWith is startStrata with the command built by command from
// strata's argv (e.g. under a shell that lowers a limit first).
func startStrataWith(t *testing.T, yaml string, withAdmin bool, command func(string, ...string) *exec.Cmd) *strataProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &strataProc{stdout: &syncBuf{}, stderr: &syncBuf{}, exited: make(chan struct{}), config: cfg}
	p.cmd = command(strataBin, "run", "-c", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.stderr.String()
		if m := listeningRE.FindStringSubmatch(s); m != nil {
			p.web = m[1]
		}
		if m := adminRE.FindStringSubmatch(s); m != nil {
			p.admin = m[1]
		}
		if p.web != "" && (!withAdmin || p.admin != "") {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("strata exited with %d:\n%s", p.code, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strata did not start:\n%s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *strataProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *strataProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(limit):
		t.Fatalf("strata still running after %v:\n%s", limit, p.stderr.String())
		return -1
	}
}

func proxyConfig(up, grace, extra string) string {
	return `
global:
  grace: ` + grace + `
  access_log: { output: stdout, format: json }
` + extra + `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    default_backend: app
backends:
  app:
    timeouts: { connect: 1s, server: 10s }
    servers:
      s1: { address: "` + up + `" }
`
}

// inFlight sends a request on a new connection and delivers the response
// (or the error) on the returned channel.
func inFlight(addr, path string) <-chan *http.Response {
	ch := make(chan *http.Response, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			ch <- nil
			return
		}
		io.ReadAll(resp.Body)
		ch <- resp
	}()
	return ch
}

// TestRun_GracefulStop sends SIGTERM while a request is in flight: the
// request completes, idle connections and the listener close, strata exits
// 0 once the stream is done.
func TestRun_GracefulStop(t *testing.T) {
	up := startUpstream(t, "s1")
	p := startStrata(t, proxyConfig(up.addr, "10s", ""), false)

	idle, err := net.Dial("tcp", p.web)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /first HTTP/1.1\r\nHost: test\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	} else {
		io.ReadAll(resp.Body)
	}

	pending := inFlight(p.web, "/delay/1s")
	testsupport.WaitFor(t, 5*time.Second, "the request at the server", func() bool { return up.received("/delay/1s") })
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)

	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ibr.ReadByte(); err == nil {
		t.Fatal("the idle keep-alive connection stayed open")
	}
	testsupport.WaitFor(t, 5*time.Second, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", p.web, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	resp := <-pending
	if resp == nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("in-flight request: %+v", resp)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.stderr.String())
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Fatalf("strata took %v to stop after its last stream", d)
	}
	if s := p.stderr.String(); !strings.Contains(s, "draining in-flight streams") || !strings.Contains(s, "msg=stopped") {
		t.Fatalf("log:\n%s", s)
	}
}

// TestRun_GraceOver: a stream longer than the grace period is cut, logged
// as killed, and strata still exits 0.
func TestRun_GraceOver(t *testing.T) {
	up := startUpstream(t, "s1")
	p := startStrata(t, proxyConfig(up.addr, "300ms", ""), false)
	pending := inFlight(p.web, "/delay/10s")
	testsupport.WaitFor(t, 5*time.Second, "the request at the server", func() bool { return up.received("/delay/10s") })
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.stderr.String())
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Fatalf("exit %v after SIGTERM with a grace of 300ms", d)
	}
	if resp := <-pending; resp != nil {
		t.Fatalf("the cut stream got a response: %d", resp.StatusCode)
	}
	if log := p.stdout.String(); !strings.Contains(log, `"termination_state":"KH"`) {
		t.Fatalf("access log:\n%s", log)
	}
	if !strings.Contains(p.stderr.String(), "grace period over") {
		t.Fatalf("log:\n%s", p.stderr.String())
	}
}

// TestRun_SecondSignal: a second signal during the grace period exits at
// once.
func TestRun_SecondSignal(t *testing.T) {
	up := startUpstream(t, "s1")
	p := startStrata(t, proxyConfig(up.addr, "30s", ""), false)
	inFlight(p.web, "/delay/10s")
	testsupport.WaitFor(t, 5*time.Second, "the request at the server", func() bool { return up.received("/delay/10s") })
	p.signal(t, syscall.SIGTERM)
	testsupport.WaitFor(t, 5*time.Second, "draining", func() bool { return strings.Contains(p.stderr.String(), "draining") })
	sent := time.Now()
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 5*time.Second); code != 1 {
		t.Fatalf("exit status %d after a second signal", code)
	}
	if d := time.Since(sent); d > 3*time.Second {
		t.Fatalf("exited %v after the second signal", d)
	}
}
