package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// bench runs scenarios. It is used by one goroutine.
type bench struct {
	o           *options
	upstreamBin string
	dir         string // scratch directory: configurations, logs
	logf        func(format string, a ...any)
	// missing maps a scenario tool that is not installed to what to say.
	missing map[string]string
}

// Status of a proxy's row.
const (
	statusOK      = "ok"
	statusFailed  = "failed"
	statusSkipped = "skipped"
)

// scenarioResult is one scenario's rows.
type scenarioResult struct {
	Name  string `json:"name"`
	About string `json:"about"`
	// Load says how the load generator was run.
	Load    string         `json:"load"`
	Proxies []*proxyResult `json:"proxies"`
	// Ratio is strata's median figures over HAProxy's, when both ran.
	Ratio *figures `json:"ratio_strata_over_haproxy,omitempty"`
}

// proxyResult is one proxy's row in a scenario.
type proxyResult struct {
	Proxy  string      `json:"proxy"`
	Status string      `json:"status"` // ok, failed or skipped
	Reason string      `json:"reason,omitempty"`
	Runs   []runResult `json:"runs,omitempty"`
	Median *figures    `json:"median,omitempty"`
	// Errors lists what went wrong in runs that completed anyway
	// (non-2xx answers, socket errors).
	Errors    []string    `json:"errors,omitempty"`
	Idle      *idleResult `json:"idle,omitempty"`
	IdleError string      `json:"idle_error,omitempty"`
}

// figures are the numbers a row reports.
type figures struct {
	RPS       float64 `json:"requests_per_s"`
	CPUPerReq float64 `json:"cpu_us_per_request"`
	P50       float64 `json:"p50_us"`
	P99       float64 `json:"p99_us"`
	// ProxyCPU is the proxy's CPU time over wall time (1 = one whole CPU).
	ProxyCPU float64 `json:"proxy_cpu_share"`
	// LoadCPU is the same for the upstreams and the load generator
	// together: near 1 on a single load CPU, they are what limits req/s.
	LoadCPU float64 `json:"load_cpu_share"`
	// OtherCPU is the CPU time used by processes other than the proxy, the
	// upstreams and wrk, over wall time: noise in the figures.
	OtherCPU float64 `json:"other_cpu_share"`
}

// runResult is one measured run.
type runResult struct {
	Run int `json:"run"` // from 1
	figures
	Load loadResult `json:"load"`
	// ProxyCPUTime and UpstreamCPUTime are user+system times over the
	// measured run.
	ProxyCPUTime    time.Duration `json:"proxy_cpu_ns"`
	UpstreamCPUTime time.Duration `json:"upstream_cpu_ns"`
	Wall            time.Duration `json:"wall_ns"`
}

// idleResult is the memory cost of idle keep-alive client connections.
type idleResult struct {
	Conns      int     `json:"conns"`
	RSSBefore  int64   `json:"rss_before_kib"`
	RSSAfter   int64   `json:"rss_after_kib"`
	KiBPerConn float64 `json:"kib_per_conn"`
	FDsBefore  int     `json:"fds_before"`
	FDsAfter   int     `json:"fds_after"`
	FDsPerConn float64 `json:"fds_per_conn"`
}

func (b *bench) gen(sc *scenario) loadGen {
	if sc.load != nil {
		return sc.load(b.o)
	}
	return wrkGen{threads: b.o.threads, conns: b.o.conns, cpu: b.o.loadCPU}
}

// scenario measures every proxy on sc.
func (b *bench) scenario(ctx context.Context, sc *scenario, proxies []*proxyKind) *scenarioResult {
	res := &scenarioResult{Name: sc.name, About: sc.about, Load: b.gen(sc).describe()}
	rows := make(map[string]*proxyResult)
	for _, p := range proxies {
		pr := &proxyResult{Proxy: p.name}
		if p.unavailable != "" {
			pr.Status, pr.Reason = statusFailed, p.unavailable
			if p.name == "haproxy" {
				pr.Status = statusSkipped
			}
		}
		rows[p.name] = pr
		res.Proxies = append(res.Proxies, pr)
	}
	failAll := func(why string) *scenarioResult {
		for _, pr := range res.Proxies {
			if pr.Status == "" {
				pr.Status, pr.Reason = statusFailed, why
			}
		}
		b.logf("%s: %s", sc.name, why)
		return res
	}
	if why := b.missing[sc.tool]; sc.tool != "" && why != "" {
		for _, pr := range res.Proxies {
			if pr.Status == "" {
				pr.Status, pr.Reason = statusSkipped, why
			}
		}
		b.logf("%s: skipped: %s", sc.name, why)
		return res
	}

	dir := filepath.Join(b.dir, sc.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return failAll(err.Error())
	}
	if sc.setup != nil {
		if err := sc.setup(dir); err != nil {
			return failAll("setup: " + err.Error())
		}
	}

	// The upstreams live through the whole scenario, shared by the proxies.
	lifetime := time.Duration(b.o.runs*len(proxies))*(b.o.duration+b.o.warmup+15*time.Second) + 3*time.Minute
	var upstreams []*child
	defer func() {
		for _, u := range upstreams {
			u.stop()
		}
	}()
	params := configParams{dir: dir, maxconn: 4*b.o.idle + 1000}
	for i := 1; i <= sc.servers; i++ {
		u, addr, err := startUpstream(ctx, b.upstreamBin, b.o.loadCPU, fmt.Sprintf("s%d", i), lifetime, sc.upstreamArgs)
		if err != nil {
			return failAll("upstream: " + err.Error())
		}
		upstreams = append(upstreams, u)
		params.servers = append(params.servers, addr)
	}

	// One configuration and one listening port per proxy.
	cfgs := make(map[string]string)
	listens := make(map[string]string)
	var active []*proxyKind
	for _, p := range proxies {
		pr := rows[p.name]
		if pr.Status != "" {
			continue
		}
		listen, err := freePort()
		if err != nil {
			return failAll(err.Error())
		}
		pp := params
		pp.listen = listen
		cfg := filepath.Join(dir, p.name+".cfg")
		if err := os.WriteFile(cfg, []byte(p.config(sc, pp)), 0o644); err != nil {
			return failAll(err.Error())
		}
		if err := p.check(ctx, p.bin, cfg); err != nil {
			if sc.needs != "" && p.name == "strata" {
				pr.Status, pr.Reason = statusSkipped, "needs "+sc.needs+"; "+p.name+" check: "+err.Error()
			} else {
				pr.Status, pr.Reason = statusFailed, "configuration rejected: "+err.Error()
			}
			b.logf("%s %s: %s", sc.name, p.name, pr.Reason)
			continue
		}
		cfgs[p.name], listens[p.name] = cfg, listen
		active = append(active, p)
	}

	// Each proxy is started once, waited for and warmed up, then measured
	// in turns: proxies alternate which goes first from one run to the
	// next. A proxy not being measured is idle and costs nothing.
	running := make(map[string]*child)
	defer func() {
		for _, c := range running {
			c.stop()
		}
	}()
	for _, p := range active {
		c, err := b.startProxy(ctx, sc, p, cfgs[p.name], listens[p.name])
		if err != nil {
			b.fail(sc, p, rows[p.name], err)
			b.logf("%s %s: %s: %s", sc.name, p.name, rows[p.name].Status, rows[p.name].Reason)
			continue
		}
		running[p.name] = c
	}
	for r := 1; r <= b.o.runs && ctx.Err() == nil; r++ {
		order := slices.Clone(active)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, p := range order {
			pr := rows[p.name]
			if pr.Status != "" || ctx.Err() != nil {
				continue
			}
			rr, err := b.measure(ctx, sc, p, running[p.name], listens[p.name], upstreams)
			if err != nil {
				b.fail(sc, p, pr, err)
				b.logf("%s %s run %d/%d: %s: %s", sc.name, p.name, r, b.o.runs, pr.Status, pr.Reason)
				continue
			}
			rr.Run = r
			pr.Runs = append(pr.Runs, rr)
			note := ""
			if e := rr.Load.errorSummary(); e != "" {
				note = " [" + e + "]"
				pr.Errors = append(pr.Errors, fmt.Sprintf("run %d: %s", r, e))
			}
			b.logf("%s %s run %d/%d: %.0f req/s, %.2f µs CPU/req, p50 %s, p99 %s, proxy CPU %.0f%%, load CPU %.0f%%, other %.0f%%%s",
				sc.name, p.name, r, b.o.runs, rr.RPS, rr.CPUPerReq, fmtMicros(rr.P50), fmtMicros(rr.P99),
				100*rr.ProxyCPU, 100*rr.LoadCPU, 100*rr.OtherCPU, note)
		}
	}
	for name, c := range running {
		c.stop()
		delete(running, name)
	}
	for _, pr := range res.Proxies {
		if pr.Status == "" && len(pr.Runs) > 0 {
			pr.Status = statusOK
			pr.Median = medianOf(pr.Runs)
		} else if pr.Status == "" {
			pr.Status, pr.Reason = statusFailed, "interrupted"
		}
	}
	if s, h := rows["strata"], rows["haproxy"]; s != nil && h != nil && s.Median != nil && h.Median != nil {
		res.Ratio = ratioOf(s.Median, h.Median)
	}

	if sc.idle && b.o.idle > 0 {
		for _, p := range active {
			pr := rows[p.name]
			if pr.Status != statusOK || ctx.Err() != nil {
				continue
			}
			ir, err := b.measureIdle(ctx, sc, p, cfgs[p.name], listens[p.name])
			if err != nil {
				pr.IdleError = err.Error()
				b.logf("%s %s idle connections: %v", sc.name, p.name, err)
				continue
			}
			pr.Idle = ir
			b.logf("%s %s idle connections: %d: RSS %d → %d KiB, %.2f KiB and %.2f fds per connection",
				sc.name, p.name, ir.Conns, ir.RSSBefore, ir.RSSAfter, ir.KiBPerConn, ir.FDsPerConn)
		}
	}
	return res
}

// fail ends a proxy's row on err: skipped when strata did not negotiate the
// protocol of a row that needs a strata feature, failed otherwise.
func (b *bench) fail(sc *scenario, p *proxyKind, pr *proxyResult, err error) {
	if errors.Is(err, errProtocol) && sc.needs != "" && p.name == "strata" {
		pr.Status, pr.Reason = statusSkipped, "needs "+sc.needs+"; "+err.Error()
		return
	}
	pr.Status, pr.Reason = statusFailed, err.Error()
}

// startProxy starts a proxy on cfg, waits until it serves through to the
// upstreams, and warms it up.
func (b *bench) startProxy(ctx context.Context, sc *scenario, p *proxyKind, cfg, listen string) (*child, error) {
	c, err := startChild(p.name, p.command(ctx, p.bin, cfg, b.o.proxyCPU), nil)
	if err != nil {
		return nil, err
	}
	url := b.url(sc, listen)
	if err := waitReady(ctx, c, url); err != nil {
		c.stop()
		return nil, err
	}
	if b.o.warmup > 0 {
		if _, err := b.gen(sc).run(ctx, url, b.o.warmup); err != nil {
			c.stop()
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if c.exited() {
			return nil, fmt.Errorf("during warm-up: %s", c.why())
		}
	}
	return c, nil
}

func (b *bench) url(sc *scenario, listen string) string {
	scheme := sc.scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + listen + sc.path
}

// measure runs the load generator once against a running proxy, between
// two readings of the CPU times.
func (b *bench) measure(ctx context.Context, sc *scenario, p *proxyKind, c *child, listen string, upstreams []*child) (runResult, error) {
	var rr runResult
	if c.exited() {
		return rr, errors.New(c.why())
	}
	gen, url := b.gen(sc), b.url(sc, listen)
	p0, err := procCPU(c.pid())
	if err != nil {
		return rr, fmt.Errorf("%s CPU time: %w", p.name, err)
	}
	u0 := cpuOf(upstreams)
	s0, _ := systemBusy()
	t0 := time.Now()

	lr, err := gen.run(ctx, url, b.o.duration)

	rr.Wall = time.Since(t0)
	p1, perr := procCPU(c.pid())
	u1 := cpuOf(upstreams)
	s1, _ := systemBusy()
	if c.exited() {
		return rr, errors.New(c.why())
	}
	if err != nil {
		return rr, err
	}
	if perr != nil {
		return rr, fmt.Errorf("%s CPU time: %w", p.name, perr)
	}
	rr.Load = lr
	rr.ProxyCPUTime = p1 - p0
	rr.UpstreamCPUTime = u1 - u0
	rr.RPS = lr.RPS
	rr.P50 = micros(lr.P50)
	rr.P99 = micros(lr.P99)
	if lr.Requests > 0 {
		rr.CPUPerReq = micros(rr.ProxyCPUTime) / float64(lr.Requests)
	}
	// The share is over the load generator's own duration: the wall time
	// also counts its start and exit, when the proxy has nothing to do.
	busy := lr.Elapsed
	if busy <= 0 || busy > rr.Wall {
		busy = rr.Wall
	}
	rr.ProxyCPU = float64(rr.ProxyCPUTime) / float64(busy)
	rr.LoadCPU = float64(rr.UpstreamCPUTime+lr.CPU) / float64(busy)
	if other := (s1 - s0) - rr.ProxyCPUTime - rr.UpstreamCPUTime - lr.CPU; other > 0 {
		rr.OtherCPU = float64(other) / float64(rr.Wall)
	}
	return rr, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cpuOf sums the CPU time of processes still running.
func cpuOf(cs []*child) time.Duration {
	var t time.Duration
	for _, c := range cs {
		if d, err := procCPU(c.pid()); err == nil {
			t += d
		}
	}
	return t
}

// measureIdle starts the proxy, warms it up, then opens b.o.idle keep-alive
// connections that each make one request and stay idle, and compares the
// proxy's VmRSS and descriptor count before and after.
func (b *bench) measureIdle(ctx context.Context, sc *scenario, p *proxyKind, cfg, listen string) (*idleResult, error) {
	c, err := startChild(p.name, p.command(ctx, p.bin, cfg, b.o.proxyCPU), nil)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := waitReady(ctx, c, b.url(sc, listen)); err != nil {
		return nil, err
	}
	// Warm up: let the proxy allocate what it keeps whatever the load.
	warm, err := openIdle(ctx, listen, sc, 50, 20)
	closeAll(warm)
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	ir := &idleResult{Conns: b.o.idle}
	if ir.RSSBefore, err = procRSS(c.pid()); err != nil {
		return nil, err
	}
	ir.FDsBefore, _ = procFDs(c.pid())

	conns, err := openIdle(ctx, listen, sc, b.o.idle, 1)
	defer closeAll(conns)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	if c.exited() {
		return nil, errors.New(c.why())
	}
	if ir.RSSAfter, err = procRSS(c.pid()); err != nil {
		return nil, err
	}
	ir.FDsAfter, _ = procFDs(c.pid())
	if open := stillOpen(conns); open < len(conns) {
		return nil, fmt.Errorf("the proxy closed %d of %d idle connections", len(conns)-open, len(conns))
	}
	ir.KiBPerConn = float64(ir.RSSAfter-ir.RSSBefore) / float64(ir.Conns)
	ir.FDsPerConn = float64(ir.FDsAfter-ir.FDsBefore) / float64(ir.Conns)
	return ir, nil
}

// openIdle opens n connections to addr, makes requests on each (expecting
// 200) in the row's protocol (see oneIdle) and returns them open.
func openIdle(ctx context.Context, addr string, sc *scenario, n, requests int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := oneIdle(ctx, addr, sc, requests)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i+1, err)
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	kept := conns[:0]
	for _, c := range conns {
		if c != nil {
			kept = append(kept, c)
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return kept, first
}

// stillOpen counts the connections the peer has not closed, without
// blocking: a read that times out at once means open, and so does one that
// returns bytes (an HTTP/2 server may send frames to an idle connection).
func stillOpen(conns []net.Conn) int {
	n := 0
	var b [512]byte
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(b[:])
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			n++
		}
		c.SetReadDeadline(time.Time{})
	}
	return n
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// medianOf returns the median of each figure over the runs.
func medianOf(runs []runResult) *figures {
	pick := func(f func(r *runResult) float64) float64 {
		v := make([]float64, len(runs))
		for i := range runs {
			v[i] = f(&runs[i])
		}
		return median(v)
	}
	return &figures{
		RPS:       pick(func(r *runResult) float64 { return r.RPS }),
		CPUPerReq: pick(func(r *runResult) float64 { return r.CPUPerReq }),
		P50:       pick(func(r *runResult) float64 { return r.P50 }),
		P99:       pick(func(r *runResult) float64 { return r.P99 }),
		ProxyCPU:  pick(func(r *runResult) float64 { return r.ProxyCPU }),
		LoadCPU:   pick(func(r *runResult) float64 { return r.LoadCPU }),
		OtherCPU:  pick(func(r *runResult) float64 { return r.OtherCPU }),
	}
}

// median returns the middle value, or the mean of the two middle ones.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// ratioOf divides a's figures by b's.
func ratioOf(a, b *figures) *figures {
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	return &figures{
		RPS:       div(a.RPS, b.RPS),
		CPUPerReq: div(a.CPUPerReq, b.CPUPerReq),
		P50:       div(a.P50, b.P50),
		P99:       div(a.P99, b.P99),
		ProxyCPU:  div(a.ProxyCPU, b.ProxyCPU),
	}
}
