// Command strata is the strata reverse proxy: `strata run` serves a
// configuration, `strata check` validates one, `strata ctl` talks to a
// running proxy through its runtime API, `strata version` prints the build.
//
// Stopping: SIGTERM or SIGINT stops accepting, closes idle keep-alive
// connections and lets streams in flight finish for up to global.grace
// (default 10s); then the rest are closed and strata exits 0. A second
// signal exits at once, with status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/proxy"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usage = `strata — a reverse proxy with a native core and WebAssembly plugins

Usage:
  strata run     [-c FILE]... [--set key.path=value]...   serve (no -c: the built-in welcome configuration)
  strata check    -c FILE...  [--set key.path=value]...   validate the configuration and exit
  strata ctl     COMMAND ...                              talk to a running strata (strata ctl help)
  strata version                                          print the version

Environment: STRATA_<PATH> overrides a key, with "__" between path elements
(STRATA_GLOBAL__ADMIN__TOKEN=secret sets global.admin.token).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "strata", versionString())
		return 0
	case "run", "check":
	case "ctl":
		return runCtl(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("strata "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, sets multiFlag
	fs.Var(&files, "c", "configuration file (repeatable; later files override earlier ones)")
	fs.Var(&sets, "set", "override a key: key.path=value (repeatable)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until strata stops")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	src := config.Sources{Files: files, Env: os.Environ(), Sets: sets}
	if len(files) == 0 {
		if cmd == "check" {
			fmt.Fprintln(stderr, "strata check: -c FILE is required")
			return 2
		}
		src.YAML = config.Default()
	}
	cfg, err := config.Load(src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "strata: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	gen, err := proxy.Build(cfg, proxy.BuildOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cmd == "check" {
		fmt.Fprintf(stdout, "configuration is valid: %d frontend(s), %d backend(s)\n", len(gen.Frontends), len(gen.Backends))
		return 0
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "strata: -cpuprofile:", err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	return serve(cfg, gen, log)
}

func serve(cfg *config.Config, gen *proxy.Generation, log *slog.Logger) int {
	// Signals are caught from the start: a SIGTERM during start-up is a
	// graceful stop too.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	p, err := proxy.New(gen, proxy.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	if err := p.Start(); err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	var api *admin.Server
	if a := cfg.Global.Admin; a.Listen != "" {
		api = admin.New(a.Token, log)
		p.RegisterAPI(api)
		if err := api.Listen(a.Listen); err != nil {
			log.Error("cannot start the admin API", "error", err)
			p.Close()
			return 1
		}
		go api.Serve()
	}
	log.Info("strata started", "version", versionString(), "pid", os.Getpid())

	sig := <-sigs
	grace := cfg.Global.Grace
	log.Info("stopping: draining in-flight streams", "signal", sig.String(), "grace", grace)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		// A second signal stops at once.
		select {
		case s := <-sigs:
			log.Warn("second signal: exiting now", "signal", s.String())
			os.Exit(1)
		case <-stopped:
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	// The admin API stays up while streams drain, so that operators can
	// watch them; it stops last.
	if err := p.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		log.Warn("grace period over: remaining streams closed", "grace", grace)
	} else if err != nil {
		log.Error("shutdown", "error", err)
	}
	if api != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		api.Shutdown(actx)
		acancel()
	}
	log.Info("stopped")
	return 0
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}
