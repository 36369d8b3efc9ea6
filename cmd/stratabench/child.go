package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process started by the bench. It is killed if the bench dies.
type child struct {
	name   string
	cmd    *exec.Cmd
	stderr *tail
	done   chan struct{} // closed when the process has exited
	err    error         // exit status, valid after done
}

// tail keeps the last bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte // guarded by mu
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// startChild starts cmd; stdout, if not nil, receives its standard output.
func startChild(name string, cmd *exec.Cmd, stdout io.Writer) (*child, error) {
	c := &child{name: name, cmd: cmd, stderr: &tail{}, done: make(chan struct{})}
	cmd.Stdout = stdout
	if stdout == nil {
		cmd.Stdout = c.stderr
	}
	cmd.Stderr = c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// why describes how the process ended, with the end of what it printed.
func (c *child) why() string {
	msg := strings.TrimSpace(c.stderr.String())
	if msg == "" {
		return fmt.Sprintf("%s exited: %v", c.name, c.err)
	}
	lines := strings.Split(msg, "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return fmt.Sprintf("%s exited (%v): %s", c.name, c.err, oneLine(strings.Join(lines, " | "), 300))
}

// stop asks the process to terminate, and kills it if it has not within
// two seconds.
func (c *child) stop() {
	if c.exited() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// startUpstream starts bin/upstream pinned to cpu and returns it with the
// address it listens on.
func startUpstream(ctx context.Context, bin, cpu, name string, lifetime time.Duration, args []string) (*child, string, error) {
	all := append([]string{bin, "-listen", "127.0.0.1:0", "-name", name,
		"-max-lifetime", lifetime.String()}, args...)
	pr, pw := io.Pipe()
	c, err := startChild("upstream "+name, pinned(ctx, cpu, all...), pw)
	if err != nil {
		return nil, "", err
	}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(pr)
		line, _ := br.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, br)
	}()
	go func() {
		<-c.done
		pw.Close()
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			c.stop()
			return nil, "", fmt.Errorf("upstream %s: first line %q; %s", name, line, c.why())
		}
		return c, addr, nil
	case <-time.After(10 * time.Second):
		c.stop()
		return nil, "", fmt.Errorf("upstream %s did not start", name)
	}
}

// waitReady waits until the proxy answers 200 on url, and fails early if it
// exits. Over https it accepts any certificate (the bench's own,
// self-signed) and speaks HTTP/1.1, which every TLS row serves.
func waitReady(ctx context.Context, c *child, url string) error {
	client := &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// A TLSClientConfig of its own also keeps the transport
			// from offering h2.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
		Timeout: 2 * time.Second,
	}
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if c.exited() {
			return errors.New(c.why())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("x-server") != "" {
				return nil
			}
			last = fmt.Errorf("answers %s (x-server %q)", resp.Status, resp.Header.Get("x-server"))
		} else {
			last = err
			var ne *net.OpError
			if !errors.As(err, &ne) {
				last = errors.New(oneLine(err.Error(), 200))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.exited() {
		return errors.New(c.why())
	}
	return fmt.Errorf("not serving after 10s: %v", last)
}

// freePort returns a 127.0.0.1 address no one listens on right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
