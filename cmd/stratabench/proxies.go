package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"time"
)

// proxyKind is a proxy under test.
type proxyKind struct {
	name string // "strata" or "haproxy"
	// unavailable says why this proxy cannot run at all ("" when it can).
	unavailable string
	bin         string
	// config renders the scenario's configuration for this proxy.
	config func(sc *scenario, p configParams) string
	// check validates a configuration file without serving.
	check func(ctx context.Context, bin, cfg string) error
	// command starts the proxy on cfg, pinned to cpu.
	command func(ctx context.Context, bin, cfg, cpu string) *exec.Cmd
}

var strataProxy = proxyKind{
	name:   "strata",
	config: func(sc *scenario, p configParams) string { return sc.strataConfig(p) },
	check: func(ctx context.Context, bin, cfg string) error {
		return runQuiet(ctx, bin, "check", "-c", cfg)
	},
	command: func(ctx context.Context, bin, cfg, cpu string) *exec.Cmd {
		cmd := pinned(ctx, cpu, bin, "run", "-c", cfg)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		return cmd
	},
}

var haproxyProxy = proxyKind{
	name:   "haproxy",
	config: func(sc *scenario, p configParams) string { return sc.haproxyConfig(p) },
	check: func(ctx context.Context, bin, cfg string) error {
		return runQuiet(ctx, bin, "-c", "-q", "-f", cfg)
	},
	command: func(ctx context.Context, bin, cfg, cpu string) *exec.Cmd {
		// -db: stay in the foreground, one process, so that its PID is
		// the one doing the work.
		return pinned(ctx, cpu, bin, "-db", "-f", cfg)
	},
}

// runQuiet runs a command and turns a failure into an error carrying the
// end of its output.
func runQuiet(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(oneLine(msg, 300))
	}
	return nil
}

// oneLine folds s onto one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}
