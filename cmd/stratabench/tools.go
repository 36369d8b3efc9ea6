package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// ensureTool reports whether cmd is on PATH, installing pkg with apt-get
// first when it is not and the bench runs as root.
func ensureTool(ctx context.Context, cmd, pkg string, logf func(string, ...any)) bool {
	if _, err := lookPath(cmd); err == nil {
		return true
	}
	if os.Geteuid() != 0 {
		logf("%s not found; install it with `apt-get install -y %s` (as root)", cmd, pkg)
		return false
	}
	if _, err := lookPath("apt-get"); err != nil {
		logf("%s not found and apt-get is not available", cmd)
		return false
	}
	logf("%s not found: apt-get install -y %s", cmd, pkg)
	install := func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", pkg)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := c.CombinedOutput()
		if err != nil {
			return errors.New(oneLine(string(out), 300))
		}
		return nil
	}
	if err := install(); err != nil {
		// The package lists may be missing on a fresh machine.
		exec.CommandContext(ctx, "apt-get", "update", "-qq").Run()
		if err := install(); err != nil {
			logf("apt-get install %s: %v", pkg, err)
			return false
		}
	}
	_, err := lookPath(cmd)
	return err == nil
}

// goBuild builds pkg into out.
func goBuild(ctx context.Context, out, pkg string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	b, err := c.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(b))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(oneLine(msg, 300))
	}
	return nil
}

// env describes the machine and the tools.
type env struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	HAProxy string `json:"haproxy,omitempty"`
	WRK     string `json:"wrk"`
	H2Load  string `json:"h2load,omitempty"`
}

func describeEnv(ctx context.Context) env {
	e := env{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	// wrk -v prints its version and exits with status 1.
	out, _ := exec.CommandContext(ctx, "wrk", "-v").CombinedOutput()
	e.WRK = firstLine(string(out))
	if out, err := exec.CommandContext(ctx, "haproxy", "-v").Output(); err == nil {
		e.HAProxy = firstLine(string(out))
	}
	if out, err := exec.CommandContext(ctx, "h2load", "--version").Output(); err == nil {
		e.H2Load = firstLine(string(out))
	}
	return e
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
