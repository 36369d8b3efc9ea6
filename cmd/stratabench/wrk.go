package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// loadResult is what a load generator reports for one run.
type loadResult struct {
	Requests     int64         `json:"requests"`   // completed
	Elapsed      time.Duration `json:"elapsed_ns"` // as the generator measured it
	RPS          float64       `json:"requests_per_s"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	Non2xx       int64         `json:"non_2xx_3xx"`   // answers that are not 2xx or 3xx
	SocketErrors int64         `json:"socket_errors"` // connect + read + write + timeout
	// CPU is the generator's own CPU time (user + system).
	CPU time.Duration `json:"cpu_ns"`
	// Protocol is the ALPN protocol negotiated and TLS the TLS version
	// and cipher, when the generator says (h2load does, wrk does not).
	Protocol string `json:"alpn,omitempty"`
	TLS      string `json:"tls,omitempty"`
}

// errorSummary says what went wrong in a run, or "" when nothing did.
func (r loadResult) errorSummary() string {
	var s []string
	if r.Non2xx > 0 {
		s = append(s, fmt.Sprintf("%d non-2xx", r.Non2xx))
	}
	if r.SocketErrors > 0 {
		s = append(s, fmt.Sprintf("%d socket errors", r.SocketErrors))
	}
	if r.Requests == 0 {
		s = append(s, "no request completed")
	}
	return strings.Join(s, ", ")
}

// loadGen drives traffic at a URL for a duration: wrk (HTTP/1.1 keep-alive,
// cleartext or TLS) or h2load (HTTP/2 over TLS, see h2loadGen). run returns
// an error wrapping errProtocol when the proxy did not negotiate the
// protocol the generator measures.
type loadGen interface {
	name() string
	// describe says how the generator is run, for the report.
	describe() string
	run(ctx context.Context, url string, d time.Duration) (loadResult, error)
}

// wrkGen runs wrk, pinned with taskset when cpu is set.
type wrkGen struct {
	threads, conns int
	cpu            string // taskset CPU list, "" for no pinning
}

func (w wrkGen) name() string { return "wrk" }

func (w wrkGen) describe() string {
	return fmt.Sprintf("wrk -t%d -c%d --latency", w.threads, w.conns)
}

func (w wrkGen) run(ctx context.Context, url string, d time.Duration) (loadResult, error) {
	secs := int((d + time.Second - 1) / time.Second)
	args := []string{"wrk", "-t" + strconv.Itoa(w.threads), "-c" + strconv.Itoa(w.conns),
		"-d" + strconv.Itoa(secs) + "s", "--latency", url}
	cmd := pinned(ctx, w.cpu, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v: %s", err, lastLine(errb.String()+out.String()))
	}
	r, err := parseWRK(out.String())
	if err != nil {
		return r, err
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// pinned returns a command running args on the given CPUs with taskset, or
// unpinned when cpu is empty.
func pinned(ctx context.Context, cpu string, args ...string) *exec.Cmd {
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	return exec.CommandContext(ctx, args[0], args[1:]...)
}

// parseWRK reads the output of `wrk --latency`.
func parseWRK(out string) (loadResult, error) {
	var r loadResult
	var haveReq, haveRPS bool
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "Latency Distribution":
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWRKDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk latency %q: %w", line, err)
			}
			switch f[0] {
			case "50%":
				r.P50 = d
			case "99%":
				r.P99 = d
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "839756 requests in 10.00s, 71.28MB read"
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk requests %q: %w", line, err)
			}
			d, err := parseWRKDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk requests %q: %w", line, err)
			}
			r.Requests, r.Elapsed, haveReq = n, d, true
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 3, write 0, timeout 1"
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return r, fmt.Errorf("wrk socket errors %q", line)
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk socket errors %q: %w", line, err)
				}
				r.SocketErrors += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx %q: %w", line, err)
			}
			r.Non2xx = n
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return r, fmt.Errorf("wrk requests/sec %q: %w", line, err)
			}
			r.RPS, haveRPS = v, true
		}
	}
	if !haveReq || !haveRPS {
		return r, errors.New("wrk: no request count in its output: " + lastLine(out))
	}
	return r, nil
}

// parseWRKDuration parses wrk's durations: a number and a unit among us,
// ms, s, m and h.
func parseWRKDuration(s string) (time.Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("duration %q: no number or no unit", s)
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	var unit time.Duration
	switch s[i:] {
	case "us":
		unit = time.Microsecond
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	default:
		return 0, fmt.Errorf("duration %q: unknown unit", s)
	}
	return time.Duration(math.Round(v * float64(unit))), nil
}

// lastLine returns the last non-empty line of s, for error messages.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
