package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// report is everything a bench run found; it is also the JSON document.
type report struct {
	Env       env               `json:"env"`
	Settings  settings          `json:"settings"`
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Scenarios []*scenarioResult `json:"scenarios"`
}

// settings records how the figures were taken.
type settings struct {
	Duration string `json:"duration"`
	Warmup   string `json:"warmup"`
	Runs     int    `json:"runs"`
	Conns    int    `json:"wrk_connections"`
	Threads  int    `json:"wrk_threads"`
	Idle     int    `json:"idle_connections"`
	ProxyCPU string `json:"proxy_cpu,omitempty"`
	LoadCPU  string `json:"load_cpu,omitempty"`
	UserHZ   int    `json:"user_hz"`
}

func settingsOf(o *options) settings {
	return settings{
		Duration: o.duration.String(), Warmup: o.warmup.String(), Runs: o.runs,
		Conns: o.conns, Threads: o.threads, Idle: o.idle,
		ProxyCPU: o.proxyCPU, LoadCPU: o.loadCPU, UserHZ: userHZ,
	}
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// header describes the machine and the method, printed before the runs.
func (r *report) header() string {
	var b strings.Builder
	e, s := r.Env, r.Settings
	fmt.Fprintf(&b, "strata bench: %d CPUs (%s), Linux %s, %s\n", e.CPUs, e.CPU, e.Kernel, e.Go)
	if e.HAProxy != "" {
		fmt.Fprintf(&b, "  %s\n", e.HAProxy)
	}
	fmt.Fprintf(&b, "  %s\n", e.WRK)
	if e.H2Load != "" {
		fmt.Fprintf(&b, "  %s\n", e.H2Load)
	}
	if s.ProxyCPU != "" {
		fmt.Fprintf(&b, "  proxy on CPU %s (strata GOMAXPROCS=1, HAProxy nbthread 1); upstreams and wrk on CPU %s\n", s.ProxyCPU, s.LoadCPU)
	} else {
		b.WriteString("  processes not pinned to CPUs\n")
	}
	warm := "no warm-up"
	if s.Warmup != "0s" {
		warm = "after a " + s.Warmup + " warm-up"
	}
	fmt.Fprintf(&b, "  wrk -t%d -c%d -d%s --latency, HTTP/1.1 keep-alive on both sides, %s; median of %d runs\n",
		s.Threads, s.Conns, s.Duration, warm, s.Runs)
	b.WriteString("  tls-*: TLS on the client side only (one self-signed ECDSA P-256 certificate for both), HTTP/1.1 to the upstream\n")
	b.WriteString("  CPU µs/req = proxy utime+stime (/proc/PID/stat) over the measured run / requests completed\n\n")
	return b.String()
}

// table renders the results.
func (r *report) table() string {
	var b strings.Builder
	const rowFmt = "%-12s %-15s %10s %11s %9s %9s %9s %8s %6s  %s\n"
	fmt.Fprintf(&b, rowFmt, "scenario", "proxy", "req/s", "CPU µs/req", "p50", "p99", "proxy CPU", "load CPU", "other", "notes")
	for _, sc := range r.Scenarios {
		for _, pr := range sc.Proxies {
			if pr.Median == nil {
				fmt.Fprintf(&b, "%-12s %-15s %s: %s\n", sc.Name, pr.Proxy, pr.Status, pr.Reason)
				continue
			}
			m := pr.Median
			notes := ""
			if len(pr.Errors) > 0 {
				notes = "! " + strings.Join(pr.Errors, "; ")
			}
			if m.OtherCPU > 0.15 {
				notes = strings.TrimSpace(notes + " (busy machine: noisy)")
			}
			if len(pr.Runs) > 0 && pr.Runs[0].Load.TLS != "" {
				notes = strings.TrimSpace(notes + " " + pr.Runs[0].Load.Protocol + " " + pr.Runs[0].Load.TLS)
			}
			fmt.Fprintf(&b, rowFmt, sc.Name, pr.Proxy, thousands(m.RPS), fmt.Sprintf("%.2f", m.CPUPerReq),
				fmtMicros(m.P50), fmtMicros(m.P99), percent(m.ProxyCPU), percent(m.LoadCPU), percent(m.OtherCPU), notes)
		}
		if q := sc.Ratio; q != nil {
			fmt.Fprintf(&b, rowFmt, sc.Name, "strata/haproxy", fmt.Sprintf("%.2f", q.RPS), fmt.Sprintf("%.2f", q.CPUPerReq),
				fmt.Sprintf("%.2f", q.P50), fmt.Sprintf("%.2f", q.P99), fmt.Sprintf("%.2f", q.ProxyCPU), "", "", "")
		}
	}
	b.WriteString("  proxy CPU: the proxy's CPU time over the run; load CPU: the upstreams' and the load generator's (near 100%: they\n" +
		"  limit req/s); other: CPU used by unrelated processes (noise). All in % of one CPU.\n")
	for _, sc := range r.Scenarios {
		// Rows driven by another generator than wrk say how.
		if sc.Load != "" && !strings.HasPrefix(sc.Load, "wrk ") {
			fmt.Fprintf(&b, "  %s: %s\n", sc.Name, sc.Load)
		}
	}

	var idle []string
	for _, sc := range r.Scenarios {
		for _, pr := range sc.Proxies {
			switch {
			case pr.Idle != nil:
				ir := pr.Idle
				idle = append(idle, fmt.Sprintf("%-12s %-15s %9.2f %9.2f  %s → %s KiB", sc.Name, pr.Proxy,
					ir.KiBPerConn, ir.FDsPerConn, thousands(float64(ir.RSSBefore)), thousands(float64(ir.RSSAfter))))
			case pr.IdleError != "":
				idle = append(idle, fmt.Sprintf("%-12s %-15s failed: %s", sc.Name, pr.Proxy, pr.IdleError))
			}
		}
	}
	if len(idle) > 0 {
		fmt.Fprintf(&b, "\nidle keep-alive client connections (%d, one request each):\n", r.Settings.Idle)
		fmt.Fprintf(&b, "%-12s %-15s %9s %9s  %s\n", "scenario", "proxy", "KiB/conn", "fds/conn", "VmRSS before → after")
		for _, l := range idle {
			b.WriteString(l + "\n")
		}
		b.WriteString("  reference: HAProxy ~1.1 KiB, a net/http server ~21 KiB; strata aims at 4 KiB or less\n")
	}
	return b.String()
}

// fmtMicros renders a latency given in microseconds.
func fmtMicros(us float64) string {
	switch {
	case us <= 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.2fs", us/1e6)
}

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// thousands renders a number rounded to an integer with thousands
// separators.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
