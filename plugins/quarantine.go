package plugins

import (
	"sync"
	"sync/atomic"
	"time"
)

// quarantine counts a plugin's instance-killing failures (traps, timeouts,
// memory faults). States:
//
//	healthy --Failures within Window--> quarantined(until)
//	quarantined --until passes--> probing (calls go through)
//	probing --a call succeeds--> healthy (backoff level reset)
//	probing --a call fails--> quarantined(until = now + doubled backoff)
//
// While quarantined, rules apply on_error without calling the plugin. The
// fast path (healthy) is one atomic load per call.
type quarantine struct {
	cfg   Quarantine
	until atomic.Int64 // unix ns; 0 healthy; otherwise quarantined until, then probing

	mu    sync.Mutex
	fails []time.Time // recent failures, oldest first; guarded by mu
	level int         // quarantines since last healthy; guarded by mu
	count int         // quarantines in total; guarded by mu
}

// admit reports whether a call may go to the plugin now.
func (q *quarantine) admit(now time.Time) bool {
	u := q.until.Load()
	return u == 0 || now.UnixNano() >= u
}

// success records a call that worked; it ends a probation.
func (q *quarantine) success() (recovered bool) {
	if q.until.Load() == 0 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.until.Load() == 0 || time.Now().UnixNano() < q.until.Load() {
		return false
	}
	q.until.Store(0)
	q.level = 0
	q.fails = q.fails[:0]
	return true
}

// failure records an instance-killing failure and returns the end of the
// quarantine it started, or the zero time.
func (q *quarantine) failure(now time.Time) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	probing := q.until.Load() != 0 && now.UnixNano() >= q.until.Load()
	if !probing {
		cut := 0
		for cut < len(q.fails) && now.Sub(q.fails[cut]) > q.cfg.Window {
			cut++
		}
		q.fails = append(q.fails[:0], q.fails[cut:]...)
		q.fails = append(q.fails, now)
		if len(q.fails) < q.cfg.Failures || q.until.Load() != 0 {
			return time.Time{}
		}
	}
	d := q.cfg.Backoff << min(q.level, 20)
	if d > q.cfg.MaxBackoff || d <= 0 {
		d = q.cfg.MaxBackoff
	}
	q.level++
	q.count++
	q.fails = q.fails[:0]
	until := now.Add(d)
	q.until.Store(until.UnixNano())
	return until
}

// QuarantineState is the quarantine part of Stats.
type QuarantineState struct {
	Active  bool      `json:"active"`  // calls are not made now
	Probing bool      `json:"probing"` // the backoff expired: the next calls decide
	Until   time.Time `json:"until"`   // end of the current or last backoff
	Level   int       `json:"level"`   // consecutive quarantines (backoff = Backoff << (Level-1))
	Total   int       `json:"total"`   // quarantines since load
}

func (q *quarantine) state(now time.Time) QuarantineState {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.until.Load()
	s := QuarantineState{Level: q.level, Total: q.count}
	if u != 0 {
		s.Until = time.Unix(0, u)
		s.Active = now.UnixNano() < u
		s.Probing = !s.Active
	}
	return s
}
