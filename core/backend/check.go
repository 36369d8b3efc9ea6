package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Observe is the passive-check mode of a backend.
type Observe uint8

const (
	ObserveNone   Observe = iota
	ObserveLayer4         // consecutive connection failures
	ObserveLayer7         // also 5xx (but 501 and 505), invalid responses and response timeouts
)

// ParseObserve parses "", "layer4" or "layer7".
func ParseObserve(s string) (Observe, bool) {
	switch s {
	case "":
		return ObserveNone, true
	case "layer4":
		return ObserveLayer4, true
	case "layer7":
		return ObserveLayer7, true
	}
	return 0, false
}

func (o Observe) String() string {
	switch o {
	case ObserveLayer4:
		return "layer4"
	case ObserveLayer7:
		return "layer7"
	}
	return ""
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// CheckSpec configures active health checks.
type CheckSpec struct {
	Type     string // "tcp": a connection; "http": a request and its status
	Method   string // http; default GET
	Path     string // http; default /
	Host     string // http; default the server address
	Expect   []StatusRange
	Interval time.Duration // between the end of a check and the next
	Timeout  time.Duration // of one check
	Rise     int           // consecutive successes to go up
	Fall     int           // consecutive failures to go down
}

// CheckL4 is how active checks reach a server beyond the TCP connection,
// the way traffic does: the engine, which knows the server's PROXY protocol
// and TLS settings, fills it (Server.CheckL4); this package writes what it
// is given and knows neither protocol. HAProxy's checks likewise use the
// server's send-proxy and ssl settings unless told otherwise.
//
// Immutable once set; shared by every check of the server.
type CheckL4 struct {
	// ProxyHeader, when not empty, is written first on every check
	// connection: a PROXY protocol header of a connection the proxy opens
	// for itself (v2 LOCAL, v1 "PROXY UNKNOWN"). A failed write is a
	// failed connection, L4CON.
	ProxyHeader []byte
	// Handshake, when set, runs after the header: the TLS handshake with
	// the server's settings. ctx ends with the check's timeout (and c's
	// deadline is set to the same instant). It returns the connection
	// the check speaks over; on error the check fails at layer 6 (L6TOUT
	// on a timeout, else L6RSP, with the error as the reason). A TCP check
	// that completes it reports L6OK. The caller closes c in every case.
	Handshake func(ctx context.Context, c net.Conn) (net.Conn, error)
}

// defaultCheck probes a server that passive checks marked down when the
// backend has no active checks: HAProxy needs `check` for `observe`; strata
// brings such a server back with TCP checks at HAProxy's default timing.
var defaultCheck = CheckSpec{Type: "tcp", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}

func (c *CheckSpec) expect(status int) bool {
	if len(c.Expect) == 0 {
		return status >= 200 && status <= 399
	}
	for _, r := range c.Expect {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

// CheckResult is the outcome of one check, with HAProxy's status names:
// L4OK, L4CON (refused or unreachable), L4TOUT, L6OK (TLS handshake
// completed: a TCP check of a TLS server), L6RSP (TLS handshake failed),
// L6TOUT (TLS handshake timed out), L7OK, L7STS (unexpected status), L7RSP
// (invalid response), L7TOUT.
type CheckResult struct {
	OK       bool          `json:"ok"`
	Status   string        `json:"status"`
	Code     int           `json:"code,omitempty"`
	Duration time.Duration `json:"-"`
	At       time.Time     `json:"at"`
	Desc     string        `json:"desc,omitempty"`
}

// checkState is a server's check bookkeeping. Guarded by the backend's
// lock.
type checkState struct {
	ok, fail int // consecutive results
	last     CheckResult
	observed string // why passive checks marked the server down, until it is up again
	downs    int    // times the server went down
	failed   int    // failed checks in all (HAProxy's chkfail)
	since    time.Time
}

// CheckInfo is what the runtime API shows of a server's checks.
type CheckInfo struct {
	Enabled    bool        `json:"enabled"`
	Type       string      `json:"type,omitempty"`
	Rise       int         `json:"rise,omitempty"`
	Fall       int         `json:"fall,omitempty"`
	Successes  int         `json:"consecutive_successes"`
	Failures   int         `json:"consecutive_failures"`
	Last       CheckResult `json:"last"`
	DurationMS float64     `json:"last_duration_ms"`
	Observed   string      `json:"observed_down,omitempty"`
	Downs      int         `json:"downs"`
	FailedAll  int         `json:"failed_checks"` // every failed check since start, as HAProxy's chkfail
	Since      time.Time   `json:"health_since"`
}

// CheckInfo returns the server's check state.
func (s *Server) CheckInfo() CheckInfo {
	b := s.be
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &s.check
	info := CheckInfo{
		Successes: c.ok, Failures: c.fail, Last: c.last, Observed: c.observed,
		Downs: c.downs, FailedAll: c.failed, Since: c.since, DurationMS: float64(c.last.Duration.Microseconds()) / 1000,
	}
	if spec := b.check; spec != nil {
		info.Enabled, info.Type, info.Rise, info.Fall = true, spec.Type, spec.Rise, spec.Fall
	}
	return info
}

// Status is the server's state in one word, as HAProxy's stats show it:
// MAINT, DRAIN, DOWN or UP, with "k/n" while a transition is under way
// ("UP 1/3": one failed check of the three that take it down).
func (s *Server) Status() string {
	b := s.be
	b.mu.Lock()
	ok, fail := s.check.ok, s.check.fail
	b.mu.Unlock()
	rise, fall := 0, 0
	if b.check != nil {
		rise, fall = b.check.Rise, b.check.Fall
	}
	switch {
	case s.State() == StateMaint:
		return "MAINT"
	case s.Health() == HealthDown:
		if ok > 0 && rise > 0 {
			return "DOWN " + strconv.Itoa(ok) + "/" + strconv.Itoa(rise)
		}
		return "DOWN"
	case s.State() == StateDrain:
		return "DRAIN"
	}
	if fail > 0 && fall > 0 {
		return "UP " + strconv.Itoa(fail) + "/" + strconv.Itoa(fall)
	}
	return "UP"
}

// checkRunner owns the check goroutines of a backend: one per server.
type checkRunner struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (r *checkRunner) start(b *Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	spec, passiveOnly := b.check, false
	if spec == nil {
		if b.Observe == ObserveNone {
			return
		}
		spec, passiveOnly = &defaultCheck, true
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	n := time.Duration(len(b.Servers))
	for i, s := range b.Servers {
		// Spread the first checks over the interval, by position.
		first := spec.Interval * time.Duration(i) / n
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			b.runChecks(ctx, s, spec, passiveOnly, first)
		}()
	}
}

func (r *checkRunner) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// runChecks checks s every interval until ctx ends. With passiveOnly it
// checks only while s is down (to bring back a server passive checks took
// down).
func (b *Backend) runChecks(ctx context.Context, s *Server, spec *CheckSpec, passiveOnly bool, first time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !passiveOnly || s.Health() == HealthDown {
			r := runCheck(ctx, s.Addr, spec, s.CheckL4)
			if ctx.Err() != nil {
				return
			}
			b.applyCheck(s, spec, r)
		}
		t.Reset(spec.Interval)
	}
}

// applyCheck counts a check result and moves the server up after rise
// consecutive successes, down after fall consecutive failures.
func (b *Backend) applyCheck(s *Server, spec *CheckSpec, r CheckResult) {
	b.mu.Lock()
	c := &s.check
	c.last = r
	changed := false
	if r.OK {
		c.ok++
		c.fail = 0
		if s.Health() == HealthDown && c.ok >= spec.Rise {
			changed = b.setHealthLocked(s, HealthUp)
			c.observed = ""
			c.since = r.At
		}
	} else {
		c.fail++
		c.failed++
		c.ok = 0
		if s.Health() == HealthUp && c.fail >= spec.Fall {
			changed = b.setHealthLocked(s, HealthDown)
			c.downs++
			c.since = r.At
		}
	}
	b.mu.Unlock()
	if !changed {
		return
	}
	check := r.Status
	if r.Code != 0 {
		check += "/" + strconv.Itoa(r.Code)
	}
	if r.OK {
		b.log.Info("server up", "backend", b.Name, "server", s.Name, "check", check, "rise", spec.Rise)
		return
	}
	b.log.Warn("server down", "backend", b.Name, "server", s.Name, "check", check, "reason", r.Desc, "fall", spec.Fall)
	s.CloseIdle()
}

// runCheck runs one check of addr, through l4 when not nil.
func runCheck(ctx context.Context, addr string, spec *CheckSpec, l4 *CheckL4) CheckResult {
	start := time.Now()
	res := func(ok bool, status string, code int, desc string) CheckResult {
		return CheckResult{OK: ok, Status: status, Code: code, Desc: desc, At: start, Duration: time.Since(start)}
	}
	d := net.Dialer{Timeout: spec.Timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if isTimeout(err) {
			return res(false, "L4TOUT", 0, "connection timeout")
		}
		return res(false, "L4CON", 0, err.Error())
	}
	defer nc.Close()
	// Stopping the checks interrupts one waiting for its response.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	deadline := start.Add(spec.Timeout)
	nc.SetDeadline(deadline)
	var c net.Conn = nc
	passed := "L4OK"
	if l4 != nil {
		if len(l4.ProxyHeader) > 0 {
			if _, err := nc.Write(l4.ProxyHeader); err != nil {
				if isTimeout(err) {
					return res(false, "L4TOUT", 0, "timeout sending the PROXY header")
				}
				return res(false, "L4CON", 0, "sending the PROXY header: "+err.Error())
			}
		}
		if l4.Handshake != nil {
			hctx, cancel := context.WithDeadline(ctx, deadline)
			c, err = l4.Handshake(hctx, nc)
			cancel()
			if err != nil {
				if isTimeout(err) {
					return res(false, "L6TOUT", 0, err.Error())
				}
				return res(false, "L6RSP", 0, err.Error())
			}
			defer c.Close() // a TLS connection says goodbye (close_notify)
			passed = "L6OK"
		}
	}
	if spec.Type != "http" {
		return res(true, passed, 0, "")
	}
	method, path, host := spec.Method, spec.Path, spec.Host
	if method == "" {
		method = "GET"
	}
	if path == "" {
		path = "/"
	}
	if host == "" {
		host = addr
	}
	req := method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: strata-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		if isTimeout(err) {
			return res(false, "L7TOUT", 0, "timeout sending the check request")
		}
		return res(false, "L7RSP", 0, err.Error())
	}
	line, err := bufio.NewReaderSize(c, 512).ReadSlice('\n')
	if err != nil {
		if isTimeout(err) {
			return res(false, "L7TOUT", 0, "no response within the check timeout")
		}
		return res(false, "L7RSP", 0, "no valid status line: "+err.Error())
	}
	code, ok := parseStatusLine(line)
	if !ok {
		return res(false, "L7RSP", 0, "invalid status line")
	}
	if !spec.expect(code) {
		return res(false, "L7STS", code, fmt.Sprintf("unexpected status %d", code))
	}
	return res(true, "L7OK", code, "")
}

// parseStatusLine reads the status code of "HTTP/1.x NNN reason".
func parseStatusLine(l []byte) (int, bool) {
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[8] != ' ' {
		return 0, false
	}
	code := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if len(l) > 12 && l[12] != ' ' && l[12] != '\r' && l[12] != '\n' {
		return 0, false
	}
	return code, code >= 100
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// Passive checks. The engine reports what it saw of a server; after
// ErrorLimit consecutive errors the server is marked down (HAProxy's
// `on-error mark-down`), and active checks (or, without them, TCP probes
// at HAProxy's default timing) bring it back.

// ObserveConnect reports a connection attempt to s. A failure counts in
// both modes; a success resets the count in layer4 mode (layer7 waits for
// a good response), as in HAProxy.
func (b *Backend) ObserveConnect(s *Server, ok bool) {
	if b.Observe == ObserveNone {
		return
	}
	if !ok {
		b.observeFail(s, "connection errors")
		return
	}
	if b.Observe == ObserveLayer4 && s.obsFails.Load() != 0 {
		s.obsFails.Store(0)
	}
}

// ObserveResponse reports the status of a response from s (layer7). Like
// HAProxy, 5xx other than 501 and 505 are errors.
func (b *Backend) ObserveResponse(s *Server, status int) {
	if b.Observe != ObserveLayer7 {
		return
	}
	if status >= 500 && status != 501 && status != 505 {
		b.observeFail(s, "5xx responses")
		return
	}
	if s.obsFails.Load() != 0 {
		s.obsFails.Store(0)
	}
}

// ObserveResponseError reports a response that failed: invalid, cut
// short or timed out (layer7).
func (b *Backend) ObserveResponseError(s *Server) {
	if b.Observe == ObserveLayer7 {
		b.observeFail(s, "invalid or missing responses")
	}
}

func (b *Backend) observeFail(s *Server, what string) {
	if n := s.obsFails.Add(1); n < int32(b.ErrorLimit) {
		return
	}
	b.mu.Lock()
	s.obsFails.Store(0)
	changed := false
	reason := fmt.Sprintf("%d consecutive %s", b.ErrorLimit, what)
	if s.Health() == HealthUp {
		c := &s.check
		c.ok, c.fail = 0, 0
		c.observed = reason
		c.downs++
		c.since = time.Now()
		changed = b.setHealthLocked(s, HealthDown)
	}
	b.mu.Unlock()
	if changed {
		b.log.Warn("server down", "backend", b.Name, "server", s.Name, "reason", reason, "observe", b.Observe.String())
		s.CloseIdle()
	}
}
