// Command stratabench measures what strata costs per request, side by side
// with HAProxy, on the same machine in the same run (`make bench`).
//
// For each scenario (see scenarios) it starts the upstream servers
// (bin/upstream, fixed 12-byte answers) pinned to the load CPU, then for
// each run and each proxy, alternating which goes first, it starts the
// proxy pinned to the proxy CPU (strata with GOMAXPROCS=1, HAProxy with
// nbthread 1), warms it up with wrk, and measures a wrk run:
//
//	CPU µs/request = proxy utime+stime over the measured run / requests
//
// taken from /proc/PID/stat. The TLS rows serve one self-signed
// certificate from both proxies; tls-h2 drives HTTP/2 with h2load instead
// of wrk, and its rows are skipped when h2load is not installed. It also reports wrk's requests/s and p50/p99
// latency, the share of a CPU the proxy used, and how busy the machine was
// with anything else (other processes make the figures noisy). Each figure
// is the median of the runs.
//
// For rows marked idle it then opens -idle keep-alive client connections
// that each make one request and stay idle, in the row's protocol (the TLS
// rows over TLS, tls-h2 with HTTP/2), and reports the growth of the
// proxy's resident memory (VmRSS) and descriptors per connection.
//
// The table goes to stdout, progress to stderr, and with -json the whole
// result, runs included, to a file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options is what the flags say.
type options struct {
	duration  time.Duration
	warmup    time.Duration
	runs      int
	conns     int
	threads   int
	idle      int
	jsonPath  string
	only      []string // scenario names; empty for all
	proxies   []string // proxy names, in the order of the first run
	proxyCPU  string
	loadCPU   string
	strataBin string // a prebuilt strata to use instead of building one
	keep      bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("stratabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of each measured run (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measured run (whole seconds, 0 for none)")
	fs.IntVar(&o.runs, "runs", 3, "runs per scenario and proxy; figures are medians")
	fs.IntVar(&o.conns, "c", 50, "wrk connections")
	fs.IntVar(&o.threads, "t", 1, "wrk threads")
	fs.IntVar(&o.idle, "idle", 2000, "idle keep-alive connections for the memory figure (0 to skip)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to `file`")
	only := fs.String("scenarios", "", "comma-separated scenarios to run (default all: "+scenarioNames()+")")
	proxies := fs.String("proxies", "strata,haproxy", "comma-separated proxies to measure")
	fs.StringVar(&o.proxyCPU, "proxy-cpu", "0", "CPU list the proxy is pinned to (taskset -c)")
	fs.StringVar(&o.loadCPU, "load-cpu", "1", "CPU list the upstreams and wrk are pinned to")
	fs.StringVar(&o.strataBin, "strata", "", "use this strata binary instead of building bin/strata")
	fs.BoolVar(&o.keep, "keep", false, "keep the directory of configurations and logs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.duration < time.Second || o.warmup < 0 || o.runs < 1 || o.conns < 1 || o.threads < 1 || o.idle < 0 {
		return nil, errors.New("want -d >= 1s, -warmup >= 0, -runs >= 1, -c >= 1, -t >= 1, -idle >= 0")
	}
	if o.threads > o.conns {
		return nil, errors.New("-t must not exceed -c")
	}
	o.only = splitList(*only)
	for _, name := range o.only {
		if findScenario(name) == nil {
			return nil, fmt.Errorf("unknown scenario %q; have %s", name, scenarioNames())
		}
	}
	o.proxies = splitList(*proxies)
	for _, p := range o.proxies {
		if p != "strata" && p != "haproxy" {
			return nil, fmt.Errorf("unknown proxy %q; have strata, haproxy", p)
		}
	}
	if len(o.proxies) == 0 {
		return nil, errors.New("-proxies is empty")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func scenarioNames() string {
	var names []string
	for _, sc := range scenarios {
		names = append(names, sc.name)
	}
	return strings.Join(names, ", ")
}

func findScenario(name string) *scenario {
	for i := range scenarios {
		if scenarios[i].name == name {
			return &scenarios[i]
		}
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stratabench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	if !ensureTool(ctx, "wrk", "wrk", logf) {
		fmt.Fprintln(stdout, "stratabench: wrk is not installed; install it with `apt-get install -y wrk` (as root) and run again. Skipped.")
		return nil
	}
	var todo []*scenario
	for i := range scenarios {
		if len(o.only) == 0 || slices.Contains(o.only, scenarios[i].name) {
			todo = append(todo, &scenarios[i])
		}
	}
	missing := make(map[string]string)
	for _, sc := range todo {
		if _, seen := missing[sc.tool]; sc.tool == "" || seen {
			continue
		}
		missing[sc.tool] = ""
		if !ensureTool(ctx, sc.tool, sc.toolPkg, logf) {
			missing[sc.tool] = fmt.Sprintf("%s is not installed (apt-get install -y %s)", sc.tool, sc.toolPkg)
		}
	}
	env := describeEnv(ctx)
	if o.proxyCPU != "" && o.loadCPU != "" {
		if _, err := lookPath("taskset"); err != nil {
			logf("taskset not found (util-linux): processes run unpinned")
			o.proxyCPU, o.loadCPU = "", ""
		} else if env.CPUs < 2 {
			logf("%d CPU: processes run unpinned", env.CPUs)
			o.proxyCPU, o.loadCPU = "", ""
		}
	}
	if err := raiseNoFile(4*o.idle + 1024); err != nil {
		logf("raising the open-files limit: %v", err)
	}

	// What to measure.
	var proxies []*proxyKind
	for _, name := range o.proxies {
		switch name {
		case "strata":
			p := strataProxy
			proxies = append(proxies, &p)
		case "haproxy":
			p := haproxyProxy
			proxies = append(proxies, &p)
		}
	}
	for _, p := range proxies {
		switch p.name {
		case "haproxy":
			if ensureTool(ctx, "haproxy", "haproxy", logf) {
				p.bin, _ = lookPath("haproxy")
			} else {
				p.unavailable = "haproxy is not installed (apt-get install -y haproxy)"
			}
		case "strata":
			if o.strataBin != "" {
				p.bin = o.strataBin
			} else {
				logf("building bin/strata")
				p.bin = filepath.Join(root, "bin", "strata")
				if err := goBuild(ctx, p.bin, "./cmd/strata"); err != nil {
					p.unavailable = "build: " + err.Error()
				}
			}
		}
	}
	logf("building bin/upstream")
	upstreamBin := filepath.Join(root, "bin", "upstream")
	if err := goBuild(ctx, upstreamBin, "./cmd/upstream"); err != nil {
		return fmt.Errorf("building the upstream: %v", err)
	}

	dir, err := os.MkdirTemp("", "stratabench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("configurations and logs kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	rep := &report{
		Env:      env,
		Settings: settingsOf(o),
		Started:  time.Now().UTC(),
	}
	fmt.Fprint(stdout, rep.header())
	logf("about %s", estimate(o, todo, proxies).Round(time.Second))
	b := &bench{o: o, upstreamBin: upstreamBin, dir: dir, logf: logf, missing: missing}
	for _, sc := range todo {
		res := b.scenario(ctx, sc, proxies)
		rep.Scenarios = append(rep.Scenarios, res)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Finished = time.Now().UTC()
	fmt.Fprint(stdout, rep.table())
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			return err
		}
		logf("results written to %s", o.jsonPath)
	}
	return ctx.Err()
}

// estimate says how long the run will take, roughly.
func estimate(o *options, todo []*scenario, proxies []*proxyKind) time.Duration {
	var n int
	for _, p := range proxies {
		if p.unavailable == "" {
			n++
		}
	}
	total := time.Duration(len(todo)*n) * (o.warmup + time.Duration(o.runs)*(o.duration+time.Second))
	for _, sc := range todo {
		if sc.idle && o.idle > 0 {
			total += time.Duration(n) * 4 * time.Second
		}
	}
	return total
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod here or above: run from the strata tree")
		}
		dir = parent
	}
}

// raiseNoFile raises the soft limit on open files to at least n, and the
// hard limit too when allowed. Children inherit it.
func raiseNoFile(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	want := uint64(n)
	if lim.Cur >= want {
		return nil
	}
	if lim.Max < want {
		lim.Max = want
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		lim.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err2 != nil {
			return err
		}
		return fmt.Errorf("limited to %d: %w", lim.Max, err)
	}
	return nil
}
