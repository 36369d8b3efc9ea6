package main

// Reloads of a running strata.
//
// Configuration: SIGHUP, POST /v1/reload, `strata ctl reload` or `strata
// reload --pidfile F` (which sends SIGHUP) read the configuration files
// again (with the environment and --set overrides strata started with),
// load the plugins they name, validate everything, then swap the new
// generation in (proxy.Proxy.Reload describes what carries over). A
// configuration with errors changes nothing; every error is reported, in
// the log and in the API's answer (HTTP 422 with the list).
//
// Plugins: POST /v1/plugins/{name}/reload or `strata ctl plugin reload
// NAME` load the plugins again from their files with the running
// configuration (not re-read), which compiles the changed module through
// the cache, instantiates it, runs its registration and checks the rules
// against it by building a whole new generation; then the generation is
// swapped in like a configuration reload. A module that does not load,
// traps in its initialisation or no longer provides what rules use leaves
// the previous generation serving; the answer says why. Streams that
// started on the old plugin finish on it: its generation, and with it the
// plugin, is closed when its last stream has ended. SIGHUP reloads plugins
// too, since it rebuilds everything.
//
// `strata reload --pidfile F` waits for the outcome: a strata run with
// --pidfile F keeps the outcome of its last SIGHUP reload in F.status
// (hupStatus), which strata reload reads before and after its signal; it
// prints the generation, or every error, and exits 0 or 1.
//
// Settings read once at start are not changed by a reload:
// global.admin.*, global.access_log and the process's flags; a reload that
// changes them says so in the log.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/cmd/strata/internal/assemble"
	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/proxy"
	"github.com/strata-proxy/strata/core/stick"
)

// runOptions are the flags of strata run that outlive start-up.
type runOptions struct {
	src         config.Sources
	pidfile     string // written at start, removed at exit
	upgradeFrom string // the pid file of the strata this one replaces
}

// servedGen is a generation serving in this process, with its plugins.
type servedGen struct {
	*assemble.Bundle
	close func() // closes the plugins, once
}

// reloader swaps generations in a running proxy. Its methods may be called
// from any goroutine; reloads are serialised by the proxy.
type reloader struct {
	p   *proxy.Proxy
	log *slog.Logger
	ro  runOptions
	cfg atomic.Pointer[config.Config] // the running configuration
	cur atomic.Pointer[servedGen]     // the generation serving new connections
	// versions follows each plugin across generations (GET /v1/plugins).
	versions *assemble.Versions
	// hups counts the SIGHUP reloads done; owned by wait.
	hups uint64
	// notify tells systemd (Type=notify) of readiness, reloads and the
	// stop (notify.go); used by the goroutine of serve and wait.
	notify *notifier
}

func newReloader(p *proxy.Proxy, cfg *config.Config, gen *assemble.Bundle, ro runOptions, log *slog.Logger) *reloader {
	r := &reloader{p: p, log: log, ro: ro, versions: assemble.NewVersions(), notify: newNotifier()}
	r.cfg.Store(cfg)
	r.versions.Serving(gen)
	r.cur.Store(r.serve(gen))
	return r
}

// serve arranges for gen's plugins to close with its core generation: once
// it has been replaced and its last stream has ended, or at stop.
func (r *reloader) serve(gen *assemble.Bundle) *servedGen {
	sg := &servedGen{Bundle: gen}
	sg.close = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gen.Close(ctx)
	})
	gen.Generation.OnClose(sg.close)
	return sg
}

// wait serves SIGHUP (a configuration reload), SIGUSR1 (reopen the
// access-log file, for logrotate) and SIGUSR2 (a binary upgrade) until
// stop delivers a signal, which it returns.
// When up is not nil, a successor taking over also ends the wait: the
// admin API stops at once, so that the successor answers it.
func (r *reloader) wait(stop <-chan os.Signal, up *upgradeServer) os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	r.writeHupStatus(nil, nil) // SIGHUP is served from now on: strata reload may signal
	// Ready only now, for the same reason: systemd sends ExecReload's
	// SIGHUP as soon as the service is ready.
	r.sdNotify(r.notify.ready())
	var upgraded chan struct{}
	if up != nil {
		upgraded = up.done
	}
	for {
		select {
		case s := <-stop:
			return s
		case <-upgraded:
			// Busy keep-alive clients get one more answer, with
			// "Connection: close", rather than a close under their feet.
			r.p.SetIdleLinger(r.cfg.Load().Global.Grace / 2)
			if up.api != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				up.api.Shutdown(ctx)
				cancel()
			}
			return upgradeSignal{}
		case <-usr2:
			r.startSuccessor()
		case <-usr1:
			if err := r.p.ReopenLogs(); err != nil {
				r.log.Error("SIGUSR1: reopening the access log failed; still writing to the old file", "error", err)
			} else {
				r.log.Info("SIGUSR1: access log reopened")
			}
		case <-hup:
			r.log.Info("SIGHUP: reloading the configuration")
			r.sdNotify(r.notify.reloading())
			g, err := r.reloadConfig()
			r.hups++
			r.writeHupStatus(g, err)
			r.sdNotify(r.notify.reloaded(err))
		}
	}
}

// sdNotify logs a failure to reach systemd's notify socket: the service
// manager then waits for a readiness that will not come, which the log
// must explain.
func (r *reloader) sdNotify(err error) {
	if err != nil {
		r.log.Warn("sd_notify", "socket", os.Getenv("NOTIFY_SOCKET"), "error", err)
	}
}

// current returns the generation serving new connections.
func (r *reloader) current() *assemble.Bundle { return r.cur.Load().Bundle }

// closeCurrent closes the current generation's plugins (at exit).
func (r *reloader) closeCurrent() { r.cur.Load().close() }

// reloadConfig reads the configuration files again and swaps in what they
// say.
func (r *reloader) reloadConfig() (*generation.Generation, error) {
	cfg, err := config.Load(r.ro.src)
	if err != nil {
		r.p.ReloadWith(func(*stick.Store) (*generation.Generation, error) { return nil, err }) // counted and logged
		return nil, err
	}
	return r.swap(cfg, "configuration")
}

// reloadPlugin loads the plugin called name (and the others, unchanged
// ones through the compilation cache) again with the running
// configuration.
func (r *reloader) reloadPlugin(name string) (*generation.Generation, error) {
	cfg := r.cfg.Load()
	found := false
	for _, pc := range cfg.Plugins {
		found = found || pc.Name == name
	}
	if !found {
		return nil, fmt.Errorf("%w %q", errNoPlugin, name)
	}
	g, err := r.swap(cfg, "plugin "+name)
	if err != nil {
		r.versions.Failed(name, err)
	}
	return g, err
}

var errNoPlugin = errors.New("no plugin named")

func (r *reloader) swap(cfg *config.Config, what string) (*generation.Generation, error) {
	var next *servedGen
	g, err := r.p.ReloadWith(func(store *stick.Store) (*generation.Generation, error) {
		ag, err := assemble.Build(context.Background(), cfg, assemble.Options{Logger: r.log, Stick: store})
		if err != nil {
			return nil, err
		}
		next = r.serve(ag)
		return ag.Generation, nil
	})
	if err != nil {
		if next != nil {
			next.close() // built, then refused (a bind failed, say)
		}
		r.log.Error("reload failed", "what", what, "error", err)
		return nil, err
	}
	old := r.cfg.Swap(cfg)
	r.versions.Serving(next.Bundle)
	r.cur.Store(next)
	if old.Global.Admin != cfg.Global.Admin || old.Global.AccessLog != cfg.Global.AccessLog {
		r.log.Warn("global.admin and global.access_log take effect at the next start, not at a reload")
	}
	r.log.Info("reload done", "what", what, "generation", g.Number())
	return g, nil
}

// reloadResult is the body of a successful reload.
type reloadResult struct {
	Generation uint64    `json:"generation"`
	LoadedAt   time.Time `json:"loaded_at"`
}

// reloadFailure is the body of a failed reload.
type reloadFailure struct {
	Error  string          `json:"error"`
	Errors []*config.Error `json:"errors,omitempty"`
}

// registerAPI adds the reload routes:
//
//	POST /v1/reload                  read the configuration files again and swap
//	GET  /v1/reload                  generation, reload and failure counts, last error
//	POST /v1/plugins/{name}/reload   load a plugin again and swap
func (r *reloader) registerAPI(a *admin.Server) {
	answer := func(w http.ResponseWriter, g *generation.Generation, err error) {
		if err != nil {
			body := reloadFailure{Error: err.Error()}
			var ce *config.Errors
			if errors.As(err, &ce) {
				body.Errors = ce.List
			}
			status := http.StatusUnprocessableEntity
			switch {
			case errors.Is(err, errNoPlugin):
				status = http.StatusNotFound
			case errors.Is(err, proxy.ErrStopping):
				status = http.StatusServiceUnavailable
			}
			admin.WriteJSON(w, status, body)
			return
		}
		admin.WriteJSON(w, http.StatusOK, reloadResult{Generation: g.Number(), LoadedAt: g.Loaded()})
	}
	a.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, req *http.Request) {
		g, err := r.reloadConfig()
		answer(w, g, err)
	})
	a.HandleFunc("GET /v1/reload", func(w http.ResponseWriter, req *http.Request) {
		admin.WriteJSON(w, http.StatusOK, r.p.ReloadStatus())
	})
	a.HandleFunc("POST /v1/plugins/{name}/reload", func(w http.ResponseWriter, req *http.Request) {
		g, err := r.reloadPlugin(req.PathValue("name"))
		answer(w, g, err)
	})
}

// hupStatus is the outcome of the last SIGHUP reload, kept in the pid
// file's status file for strata reload.
type hupStatus struct {
	Pid int `json:"pid"`
	// Hups counts the SIGHUP reloads done (0: none yet); strata reload
	// waits for it to pass the count it read before signalling.
	Hups       uint64          `json:"hups"`
	Generation uint64          `json:"generation"` // serving after that reload
	Error      string          `json:"error,omitempty"`
	Errors     []*config.Error `json:"errors,omitempty"`
}

// statusFile is where a strata run with --pidfile pidfile keeps its
// hupStatus.
func statusFile(pidfile string) string { return pidfile + ".status" }

// writeHupStatus records the outcome of a SIGHUP reload (g, err), or the
// start when no reload happened yet. It does nothing without --pidfile.
func (r *reloader) writeHupStatus(g *generation.Generation, err error) {
	if r.ro.pidfile == "" {
		return
	}
	st := hupStatus{Pid: os.Getpid(), Hups: r.hups, Generation: r.p.ReloadStatus().Generation}
	if err != nil {
		st.Error = err.Error()
		var ce *config.Errors
		if errors.As(err, &ce) {
			st.Errors = ce.List
		}
	} else if g != nil {
		st.Generation = g.Number()
	}
	if err := writeStatusFile(statusFile(r.ro.pidfile), st); err != nil {
		r.log.Error("reload status file: strata reload cannot report the outcome", "error", err)
	}
}

// writeStatusFile replaces path with st, atomically so that a reader never
// sees half a file.
func writeStatusFile(path string, st hupStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readStatusFile(path string) (hupStatus, error) {
	var st hupStatus
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// writePidfile writes this process's pid to path.
func writePidfile(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removePidfile removes path if it still names this process (a strata
// that took over has written its own).
func removePidfile(path string) {
	if pid, err := readPidfile(path); err == nil && pid == os.Getpid() {
		os.Remove(path)
	}
	if st, err := readStatusFile(statusFile(path)); err == nil && st.Pid == os.Getpid() {
		os.Remove(statusFile(path))
	}
}

func readPidfile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: not a pid file", path)
	}
	return pid, nil
}

const reloadUsage = `Usage: strata reload --pidfile FILE [--timeout DURATION]

Sends SIGHUP to the strata whose pid FILE holds (strata run --pidfile
FILE): it reads its configuration files again and swaps the new
configuration in without refusing a connection. strata reload waits for
the outcome (at most --timeout, default 60s), prints the new generation
or every error, and exits 0 when the reload took effect, 1 when it did
not (the previous configuration serves on).
`

// defaultReloadTimeout bounds how long strata reload waits for the
// outcome: a reload compiles changed plugins, which takes seconds.
const defaultReloadTimeout = 60 * time.Second

// runReload is `strata reload`.
func runReload(args []string, stdout, stderr io.Writer) int {
	pidfile, timeout := "", defaultReloadTimeout
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "--pidfile" || a == "-pidfile") && i+1 < len(args):
			i++
			pidfile = args[i]
		case strings.HasPrefix(a, "--pidfile="):
			pidfile = strings.TrimPrefix(a, "--pidfile=")
		case (a == "--timeout" || a == "-timeout") && i+1 < len(args):
			i++
			d, err := time.ParseDuration(args[i])
			if err != nil || d <= 0 {
				fmt.Fprintf(stderr, "strata reload: --timeout %q: write a duration, e.g. 30s\n", args[i])
				return 2
			}
			timeout = d
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, reloadUsage)
			return 0
		default:
			fmt.Fprintf(stderr, "strata reload: unexpected %q\n\n%s", a, reloadUsage)
			return 2
		}
	}
	if pidfile == "" {
		fmt.Fprint(stderr, "strata reload: --pidfile is required\n\n"+reloadUsage)
		return 2
	}
	pid, err := readPidfile(pidfile)
	if err != nil {
		fmt.Fprintln(stderr, "strata reload:", err)
		return 1
	}
	// A strata that is starting writes its status once it serves SIGHUP.
	before, err := waitHupStatus(pidfile, pid, -1, timeout)
	if err != nil {
		// Without the status file the outcome cannot be known: failing
		// is better than a success that may be false.
		fmt.Fprintf(stderr, "strata reload: pid %d keeps no reload status in %s (%v); it was not signalled\n", pid, statusFile(pidfile), err)
		return 1
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		fmt.Fprintf(stderr, "strata reload: pid %d: %v\n", pid, err)
		return 1
	}
	after, err := waitHupStatus(pidfile, pid, int64(before.Hups), timeout)
	if err != nil {
		fmt.Fprintf(stderr, "strata reload: pid %d: %v\n", pid, err)
		return 1
	}
	if after.Error != "" {
		fmt.Fprintf(stderr, "strata reload: pid %d: the reload failed; generation %d serves on\n", pid, after.Generation)
		if len(after.Errors) == 0 {
			fmt.Fprintln(stderr, after.Error)
		}
		for _, e := range after.Errors {
			fmt.Fprintln(stderr, e.Error())
		}
		return 1
	}
	fmt.Fprintf(stdout, "reloaded: pid %d, generation %d\n", pid, after.Generation)
	return 0
}

// waitHupStatus polls the status file of pidfile until process pid has
// done more SIGHUP reloads than hups (-1: any status of pid will do). A
// signal that arrives while a reload is running is served after it, so a
// higher count is always this signal's reload or a later one.
func waitHupStatus(pidfile string, pid int, hups int64, timeout time.Duration) (hupStatus, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := readStatusFile(statusFile(pidfile))
		if err == nil && st.Pid == pid && int64(st.Hups) > hups {
			return st, nil
		}
		if syscall.Kill(pid, 0) != nil {
			return st, errors.New("the process exited before reporting the outcome")
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("no outcome after %v; see its log", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctlReload is `strata ctl reload` and `strata ctl plugin reload NAME`.
func (c *ctlClient) reload(o *ctlOutput, plugin string) error {
	path := "/v1/reload"
	if plugin != "" {
		path = "/v1/plugins/" + plugin + "/reload"
	}
	b, err := c.call("POST", path, nil)
	if err != nil {
		return err
	}
	if o.json {
		return o.raw(b)
	}
	var res reloadResult
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	fmt.Fprintf(o.w, "reloaded: generation %d\n", res.Generation)
	return nil
}
