// Command strata is the strata reverse proxy: `strata run` serves a
// configuration, `strata check` validates one, `strata ctl` talks to a
// running proxy through its runtime API, `strata version` prints the build.
//
// Stopping: SIGTERM or SIGINT stops accepting, closes idle keep-alive
// connections and lets streams in flight finish for up to global.grace
// (default 10s); then the rest are closed, the last spans and metrics are
// exported (within what is left of the grace period, at least 1s), and
// strata exits 0. A second signal exits at once, with status 1.
//
// Under systemd (Type=notify, dist/systemd/strata.service), strata reports
// READY=1 once it serves, RELOADING=1 … READY=1 around each SIGHUP reload
// and STOPPING=1 at the stop, over $NOTIFY_SOCKET (notify.go).
//
// Binary upgrade: SIGUSR2 to a strata run with --pidfile P starts the
// binary now at its path, with its arguments and --upgrade-from P, as a
// child (so under systemd it is in the service's cgroup); that process
// takes the sockets and stick tables over (upgrade.go), sends MAINPID=
// before the old one lets go, then READY=1, and the old one drains and
// exits. `strata run --upgrade-from P` started by hand does the same
// outside systemd.
//
// Reload path, who does what (one generation type: generation.Generation):
//
//  1. reload.go (this package) takes the request (SIGHUP, POST /v1/reload,
//     POST /v1/plugins/{name}/reload), reads the configuration again and
//     asks the proxy to swap (proxy.Proxy.ReloadWith).
//  2. internal/assemble builds what is swapped in: a generation.Generation
//     compiled with the configuration's plugins (assemble.Build returns a
//     Bundle: the generation plus its plugins); versions.go follows each
//     plugin's module across generations.
//  3. core/proxy reload.go does the swap (listeners kept, server state
//     carried over, the old generation closed after its last stream, which
//     runs the OnClose reload.go registered: its plugins close); generation.go
//     compiles a configuration into a generation.Generation.
//  4. upgrade.go (this package) and core/proxy upgrade.go hand the
//     listening sockets and stick tables to a new binary: a binary upgrade
//     is a reload across processes.
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/strata-proxy/strata/cmd/strata/internal/assemble"
	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/handover"
	"github.com/strata-proxy/strata/core/proxy"
	"github.com/strata-proxy/strata/core/telemetry"
)

const usage = `strata — a reverse proxy with a native core and WebAssembly plugins

Usage:
  strata run     [-c FILE]... [--set key.path=value]...   serve (no -c: the built-in welcome configuration)
  strata check    -c FILE...  [--set key.path=value]...   validate the configuration and exit
  strata ctl     COMMAND ...                              talk to a running strata (strata ctl help)
  strata reload  --pidfile FILE                           make a running strata reload its configuration (SIGHUP),
                                                         wait for the outcome; exit 1 with the errors if it failed
  strata import  [--check] [--strict] [-o FILE] haproxy.cfg   convert an HAProxy configuration (import.go)
  strata version [--json]                                 print the version, commit, Go version and plugin ABIs

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
		return runVersion(args, stdout, stderr) // version.go
	case "run", "check":
	case "ctl":
		return runCtl(args, stdout, stderr)
	case "reload":
		return runReload(args, stdout, stderr) // reload.go
	case "import":
		return runImport(args, stdout, stderr) // import.go
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
	pidfile := fs.String("pidfile", "", "run: write the pid to this file, and accept a binary upgrade on FILE.sock")
	upgradeFrom := fs.String("upgrade-from", "", "run: take the listening sockets and stick tables over from the strata of this pid file (upgrade.go)")
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
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "strata: -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, gen, err := loadAndBuild(src, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cmd == "check" {
		defer gen.Close(context.Background())
		fmt.Fprintf(stdout, "configuration is valid: %d frontend(s), %d backend(s)", len(gen.Frontends), len(gen.Backends))
		if n := len(gen.Plugins()); n > 0 {
			fmt.Fprintf(stdout, ", %d plugin(s)", n)
		}
		fmt.Fprintln(stdout)
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
	return serve(cfg, gen, log, runOptions{src: src, pidfile: *pidfile, upgradeFrom: *upgradeFrom})
}

// loadAndBuild loads the configuration and builds its generation, which
// loads the plugins (a module that is refused is a configuration error),
// compiles the rules and resolves the server addresses. Every error is
// reported in one pass: when the configuration has errors, what could be
// decoded is built too and the errors found there join the list, except
// those inside a part that has an error already (consequences). Only when
// a whole section that rules refer to (backends, stick_tables, plugins)
// is unusable, or a plugin cannot be loaded, are the rules left
// unchecked, and the list says so.
func loadAndBuild(src config.Sources, log *slog.Logger) (*config.Config, *assemble.Bundle, error) {
	cfg, err := config.LoadAll(src)
	if err == nil {
		gen, err := assemble.Build(context.Background(), cfg, assemble.Options{Logger: log})
		if err != nil && pluginsFailed(err) {
			return nil, nil, withNote(err, "rules not checked: they may use what the plugins register")
		}
		return cfg, gen, err
	}
	var ce *config.Errors
	if cfg == nil || !errors.As(err, &ce) {
		return nil, nil, err // a file that does not parse: nothing to build
	}
	for _, section := range []string{"backends", "stick_tables", "plugins"} {
		if hasErrorAt(ce, section) {
			return nil, nil, withNote(ce, "rules and server addresses not checked: fix "+section+" first")
		}
	}
	quiet := slog.New(slog.DiscardHandler) // the partial build's own log would repeat the errors
	gen, berr := buildPartial(cfg, quiet)
	if gen != nil {
		gen.Close(context.Background())
	}
	var be *config.Errors
	switch {
	case berr != nil && pluginsFailed(berr):
		return nil, nil, withNote(ce, "rules and server addresses not checked: fix the plugins first")
	case errors.As(berr, &be):
		for _, e := range be.List {
			if !ce.Covers(e.Path) {
				ce.List = append(ce.List, e)
			}
		}
	case berr != nil:
		return nil, nil, withNote(ce, "rules and server addresses not checked: "+berr.Error())
	}
	return nil, nil, ce
}

// pluginsFailed reports whether err is the plugins' loading failing, in
// which case assemble.Build compiled no rule.
func pluginsFailed(err error) bool {
	var ce *config.Errors
	if !errors.As(err, &ce) || len(ce.List) == 0 {
		return false
	}
	for _, e := range ce.List {
		if !strings.HasPrefix(e.Path, "plugins.") && e.Path != "global.plugin_cache" {
			return false
		}
	}
	return true
}

// buildPartial builds a configuration that has errors, to find the errors
// of the parts that depend on it. A value left half-decoded by an error
// must not take the command down: a panic is reported as "not checked".
func buildPartial(cfg *config.Config, log *slog.Logger) (gen *assemble.Bundle, err error) {
	defer func() {
		if r := recover(); r != nil {
			gen, err = nil, fmt.Errorf("fix the errors above first (%v)", r)
		}
	}()
	return assemble.Build(context.Background(), cfg, assemble.Options{Logger: log})
}

// hasErrorAt reports whether ce has an error on path itself.
func hasErrorAt(ce *config.Errors, path string) bool {
	for _, e := range ce.List {
		if e.Path == path {
			return true
		}
	}
	return false
}

// withNote appends a line to the error list that says what was not
// checked.
func withNote(err error, note string) error {
	return fmt.Errorf("%w\n(%s)", err, note)
}

func serve(cfg *config.Config, gen *assemble.Bundle, log *slog.Logger, ro runOptions) int {
	// Signals are caught from the start: a SIGTERM during start-up is a
	// graceful stop too.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	signal.Ignore(syscall.SIGHUP) // until reloads are served (reload.go)

	// The plugins close last, once no stream can call them.
	var rl *reloader
	defer func() {
		if rl != nil {
			rl.closeCurrent() // and those of older generations closed with them (reload.go)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gen.Close(ctx)
		cancel()
	}()
	p, err := proxy.New(gen.Generation, proxy.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	var tk *takeover // binary upgrade (upgrade.go)
	if ro.upgradeFrom != "" {
		if tk, err = takeOver(ro.upgradeFrom); err != nil {
			log.Error("cannot take over", "error", err)
			return 1
		}
		p.Inherit(tk.listeners)
		n, err := handover.Restore(gen.StickEngine(), tk.tables)
		log.Info("upgrade: sockets and stick tables taken over", "listeners", len(tk.listeners), "entries", n, "skipped", err)
	}
	if err := p.Start(); err != nil {
		log.Error("cannot start", "error", err)
		if tk != nil {
			tk.abort(err)
		}
		return 1
	}
	build := readBuildInfo() // as `strata version` says it
	telemetry.Version = build.Version
	if build.Commit != "" {
		telemetry.Revision = build.Commit
	}
	rl = newReloader(p, cfg, gen, ro, log)
	assemble.RegisterMetrics(p, rl.current) // GET /metrics and global.metrics
	stopWatch := make(chan struct{})        // plugins.*.watch (watch.go)
	defer close(stopWatch)
	go rl.watchPlugins(stopWatch, watchInterval)
	var api *admin.Server
	if a := cfg.Global.Admin; a.Listen != "" {
		api = admin.New(a.Token, log)
		p.RegisterAPI(api)
		assemble.RegisterAPI(api, rl.current)
		rl.registerAPI(api)
		if tk != nil && tk.admin != nil {
			api.UseListener(tk.admin)
		} else if err := api.Listen(a.Listen); err != nil {
			log.Error("cannot start the admin API", "error", err)
			p.Close()
			return 1
		}
		go api.Serve()
	}
	var up *upgradeServer
	if tk != nil {
		// The main process before the old one may exit: systemd reads
		// notifications before exits, so it never sees the service's
		// main process gone.
		rl.sdNotify(rl.notify.mainPID())
		if err := tk.finish(); err != nil {
			log.Warn("upgrade", "error", err)
		}
	}
	if ro.pidfile != "" {
		if err := writePidfile(ro.pidfile); err != nil {
			log.Error("pid file", "error", err)
		}
		defer removePidfile(ro.pidfile)
		if up, err = startUpgradeServer(upgradeSocket(ro.pidfile), p, api, log); err != nil {
			log.Error("binary upgrades are off", "error", err)
		}
		defer up.close()
	}
	log.Info("strata started", "version", versionString(), "pid", os.Getpid())

	sig := rl.wait(sigs, up)
	if _, upgraded := sig.(upgradeSignal); !upgraded {
		rl.sdNotify(rl.notify.stopping()) // after an upgrade the service goes on in the new process
	}
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
