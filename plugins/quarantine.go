package plugins

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/fetch"
)

// quarantine counts a plugin's instance-killing failures (traps, timeouts,
// memory faults), attributed to the source (client address) of the call
// that failed, so that one client cannot switch a plugin off for everyone
// (see RATIONALE.md, "Why is the quarantine per source first?").
//
// A source is quarantined alone after Failures failures within Window:
// its calls then apply on_error without calling the plugin, for a backoff
// that doubles on each relapse. The plugin as a whole is quarantined when,
// within Window, there were Failures failures and either
//
//   - they came from at least Sources distinct sources and at least Ratio
//     of the calls that ended since the first of them failed (wide), or
//   - every call that ended since the first of them failed: the plugin
//     fails for everything it is given (narrow: the culprit sources are
//     recorded, and a call from any other source is let through as a
//     probe, so one lone client at a quiet time cannot switch the plugin
//     off for clients that come later).
//
// Plugin-wide states:
//
//	healthy --failures as above--> quarantined(until)
//	quarantined --until passes--> probing (calls go through)
//	probing --a call succeeds--> healthy (backoff level reset)
//	probing --a call fails--> quarantined(until = now + doubled backoff)
//
// A source goes through the same states on its own. The fast path
// (healthy plugin, no source quarantined) is two atomic loads per call.
type quarantine struct {
	cfg   Quarantine
	until atomic.Int64 // unix ns; 0 healthy; otherwise quarantined until, then probing
	// held counts the sources with a quarantine (active or probing):
	// while 0, admit does not look at the source table.
	held atomic.Int32

	mu       sync.RWMutex
	fails    []failure                   // recent failures, oldest first; guarded by mu
	culprits []netip.Addr                // sources of a narrow quarantine; nil when wide or healthy; guarded by mu
	level    int                         // quarantines since last healthy; guarded by mu
	count    int                         // quarantines in total; guarded by mu
	sources  map[netip.Addr]*sourceState // guarded by mu
	srcCount int                         // source quarantines in total; guarded by mu
	swept    time.Time                   // last sweep of sources; guarded by mu
}

// engaged reports whether the plugin or any source is quarantined or
// probing: the two atomic loads of the fast path, after which a healthy
// plugin skips admit and success.
func (q *quarantine) engaged() bool { return q.until.Load() != 0 || q.held.Load() != 0 }

// failure is one instance-killing failure: when, from which source, and
// how many calls had ended (the failing one included) at that moment.
type failure struct {
	at    time.Time
	src   netip.Addr
	ended uint64
}

// sourceState is one source's failures and quarantine.
type sourceState struct {
	fails []time.Time
	until int64 // unix ns; 0 healthy; otherwise quarantined until, then probing
	level int
}

// maxSources bounds the source table: a flood of distinct sources cannot
// grow it further (their failures still count for the plugin).
const maxSources = 4096

// sourceOf is the address a call's failures are attributed to: the
// client's address (after the PROXY protocol), its /64 for IPv6 (a client
// controls its whole /64), or the zero address for calls without a
// connection (timers, tests).
func sourceOf(ctx *fetch.Ctx) netip.Addr {
	if ctx == nil {
		return netip.Addr{}
	}
	c := ctx.Conn
	if c == nil && ctx.Sess != nil {
		c = ctx.Sess.Conn
	}
	if c == nil {
		return netip.Addr{}
	}
	a := c.Src.Addr().Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// admit reports whether a call from src may go to the plugin now.
func (q *quarantine) admit(now time.Time, src netip.Addr) bool {
	if u := q.until.Load(); u != 0 && now.UnixNano() < u && !q.probeFrom(src) {
		return false
	}
	if q.held.Load() == 0 {
		return true
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	s := q.sources[src]
	return s == nil || s.until == 0 || now.UnixNano() >= s.until
}

// probeFrom reports whether src may call a plugin under a narrow
// quarantine: it is not one of the sources that caused it.
func (q *quarantine) probeFrom(src netip.Addr) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.culprits != nil && !contains(q.culprits, src)
}

func contains(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

// success records a call from src that worked; it ends a probation of the
// plugin (or a narrow quarantine, src not being a culprit) and of src.
func (q *quarantine) success(src netip.Addr) (recovered bool) {
	if q.until.Load() == 0 && q.held.Load() == 0 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now().UnixNano()
	if s := q.sources[src]; s != nil && s.until != 0 && now >= s.until {
		s.until, s.level, s.fails = 0, 0, s.fails[:0]
		q.held.Add(-1)
	}
	u := q.until.Load()
	if u == 0 || (now < u && (q.culprits == nil || contains(q.culprits, src))) {
		return false
	}
	q.until.Store(0)
	q.level = 0
	q.fails = q.fails[:0]
	q.culprits = nil
	return true
}

// failure records an instance-killing failure of a call from src, when
// ended calls (this one included) had ended, and returns the end of the
// plugin-wide quarantine it started and of src's own, or zero times.
func (q *quarantine) failure(now time.Time, src netip.Addr, ended uint64) (plugin, source time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	source = q.sourceFailureLocked(now, src)
	return q.pluginFailureLocked(now, src, ended), source
}

// backoff is the quarantine length at level (0 for the first).
func (q *quarantine) backoff(level int) time.Duration {
	d := q.cfg.Backoff << min(level, 20)
	if d > q.cfg.MaxBackoff || d <= 0 {
		d = q.cfg.MaxBackoff
	}
	return d
}

func (q *quarantine) pluginFailureLocked(now time.Time, src netip.Addr, ended uint64) time.Time {
	u := q.until.Load()
	probing := u != 0 && now.UnixNano() >= u
	if u != 0 && !probing {
		// A probe from another source failed too during a narrow
		// quarantine: it joins the culprits; enough of them widen it.
		if q.culprits != nil && !contains(q.culprits, src) {
			q.culprits = append(q.culprits, src)
			if len(q.culprits) >= q.cfg.Sources {
				q.culprits = nil
			}
		}
		return time.Time{}
	}
	if !probing {
		q.fails = pruneFailures(q.fails, now, q.cfg.Window)
		q.fails = append(q.fails, failure{at: now, src: src, ended: ended})
		if len(q.fails) < q.cfg.Failures {
			return time.Time{}
		}
		srcs := distinctSources(q.fails)
		since := ended - q.fails[0].ended + 1 // calls ended since the first failure
		everyCall := since <= uint64(len(q.fails))
		wide := len(srcs) >= q.cfg.Sources && float64(len(q.fails)) >= q.cfg.Ratio*float64(since)
		switch {
		case wide:
			q.culprits = nil
		case everyCall:
			q.culprits = srcs
		default:
			return time.Time{}
		}
	}
	d := q.backoff(q.level)
	q.level++
	q.count++
	q.fails = q.fails[:0]
	until := now.Add(d)
	q.until.Store(until.UnixNano())
	return until
}

func pruneFailures(fs []failure, now time.Time, window time.Duration) []failure {
	cut := 0
	for cut < len(fs) && now.Sub(fs[cut].at) > window {
		cut++
	}
	return append(fs[:0], fs[cut:]...)
}

func distinctSources(fs []failure) []netip.Addr {
	var out []netip.Addr
	for _, f := range fs {
		if !contains(out, f.src) {
			out = append(out, f.src)
		}
	}
	return out
}

func (q *quarantine) sourceFailureLocked(now time.Time, src netip.Addr) time.Time {
	if q.sources == nil {
		q.sources = map[netip.Addr]*sourceState{}
	}
	q.sweepLocked(now)
	s := q.sources[src]
	if s == nil {
		if len(q.sources) >= maxSources {
			return time.Time{}
		}
		s = &sourceState{}
		q.sources[src] = s
	}
	if s.until != 0 && now.UnixNano() < s.until {
		return time.Time{} // a call that started before the quarantine
	}
	if s.until == 0 {
		cut := 0
		for cut < len(s.fails) && now.Sub(s.fails[cut]) > q.cfg.Window {
			cut++
		}
		s.fails = append(append(s.fails[:0], s.fails[cut:]...), now)
		if len(s.fails) < q.cfg.Failures {
			return time.Time{}
		}
		q.held.Add(1)
	}
	until := now.Add(q.backoff(s.level))
	s.level++
	s.fails = s.fails[:0]
	s.until = until.UnixNano()
	q.srcCount++
	return until
}

// sweepLocked forgets, at most once per window, the sources with no
// failure within the window and no quarantine that ended less than a
// window ago.
func (q *quarantine) sweepLocked(now time.Time) {
	if now.Sub(q.swept) < q.cfg.Window {
		return
	}
	q.swept = now
	for a, s := range q.sources {
		if s.until != 0 {
			if now.UnixNano() < s.until+int64(q.cfg.Window) {
				continue
			}
			q.held.Add(-1)
		} else if n := len(s.fails); n > 0 && now.Sub(s.fails[n-1]) <= q.cfg.Window {
			continue
		}
		delete(q.sources, a)
	}
}

// QuarantineState is the quarantine part of Stats.
type QuarantineState struct {
	Active  bool      `json:"active"`  // calls are not made now (except probes from other sources when Narrow)
	Probing bool      `json:"probing"` // the backoff expired: the next calls decide
	Narrow  bool      `json:"narrow"`  // started by sources whose every call failed: others still call
	Until   time.Time `json:"until"`   // end of the current or last backoff
	Level   int       `json:"level"`   // consecutive quarantines (backoff = Backoff << (Level-1))
	Total   int       `json:"total"`   // quarantines since load
	// Sources is how many sources are quarantined alone (active or
	// probing); SourcesTotal counts source quarantines since load.
	Sources      int `json:"sources"`
	SourcesTotal int `json:"sources_total"`
}

func (q *quarantine) state(now time.Time) QuarantineState {
	q.mu.RLock()
	defer q.mu.RUnlock()
	u := q.until.Load()
	s := QuarantineState{Level: q.level, Total: q.count, Sources: int(q.held.Load()), SourcesTotal: q.srcCount}
	if u != 0 {
		s.Until = time.Unix(0, u)
		s.Active = now.UnixNano() < u
		s.Probing = !s.Active
		s.Narrow = q.culprits != nil
	}
	return s
}
