// Package stats holds the counters strata keeps per frontend, backend and
// server, updated with atomic operations by every connection goroutine and
// read by the runtime API. It knows nothing of the objects that own them.
package stats

import (
	"sync/atomic"

	"github.com/strata-proxy/strata/core/session"
)

// Counters are the traffic counters of one proxy object.
type Counters struct {
	Sessions    atomic.Int64                    // sessions (client connections) accepted, or server connections opened
	CurSessions atomic.Int64                    // sessions or connections open now
	Streams     atomic.Int64                    // streams (requests or tunnels) started
	CurStreams  atomic.Int64                    // streams in progress
	Status      [6]atomic.Int64                 // responses by class: [0] other, [1] 1xx … [5] 5xx
	BytesIn     atomic.Int64                    // bytes received from clients (request side)
	BytesOut    atomic.Int64                    // bytes sent to clients (response side)
	Term        [session.NumCauses]atomic.Int64 // streams ended, by termination cause
	ConnErrors  atomic.Int64                    // failed connection attempts (servers)
	// HandshakeErrors counts TLS handshakes that failed or timed out:
	// with clients (frontends) or with servers (servers; such a failure is
	// also a ConnErrors).
	HandshakeErrors atomic.Int64
	// ProxyErrors counts client connections closed because their PROXY
	// protocol header was missing, malformed or late (frontends).
	ProxyErrors atomic.Int64
	// H2Errors counts HTTP/2 stream and connection errors caused by
	// clients (frontends): malformed requests, protocol violations, and
	// the limits against floods and rapid resets.
	H2Errors atomic.Int64
	// Latency: how long streams took, for GET /metrics (not in the
	// runtime API's JSON).
	Latency Latency
}

// CountStatus counts one response with status code.
func (c *Counters) CountStatus(code int) {
	i := code / 100
	if i < 1 || i > 5 {
		i = 0
	}
	c.Status[i].Add(1)
}

// Snapshot is a JSON-friendly copy of Counters.
type Snapshot struct {
	Sessions    int64            `json:"sessions"`
	CurSessions int64            `json:"cur_sessions"`
	Streams     int64            `json:"streams"`
	CurStreams  int64            `json:"cur_streams"`
	Status      map[string]int64 `json:"responses"`
	BytesIn     int64            `json:"bytes_in"`
	BytesOut    int64            `json:"bytes_out"`
	Term        map[string]int64 `json:"terminations"`
	ConnErrors  int64            `json:"connect_errors,omitempty"`

	HandshakeErrors int64 `json:"tls_handshake_errors,omitempty"`
	ProxyErrors     int64 `json:"proxy_protocol_errors,omitempty"`
	H2Errors        int64 `json:"h2_errors,omitempty"`
}

var classNames = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Snapshot reads every counter.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{
		Sessions:    c.Sessions.Load(),
		CurSessions: c.CurSessions.Load(),
		Streams:     c.Streams.Load(),
		CurStreams:  c.CurStreams.Load(),
		Status:      make(map[string]int64, 6),
		BytesIn:     c.BytesIn.Load(),
		BytesOut:    c.BytesOut.Load(),
		Term:        make(map[string]int64),
		ConnErrors:  c.ConnErrors.Load(),

		HandshakeErrors: c.HandshakeErrors.Load(),
		ProxyErrors:     c.ProxyErrors.Load(),
		H2Errors:        c.H2Errors.Load(),
	}
	for i := range c.Status {
		s.Status[classNames[i]] = c.Status[i].Load()
	}
	for i := range c.Term {
		if v := c.Term[i].Load(); v != 0 {
			s.Term[session.Cause(i).String()] = v
		}
	}
	return s
}

// Latency holds the latency histograms of one proxy object (frontend,
// backend or server).
type Latency struct {
	Total Histogram // stream start to its end
	TTFB  Histogram // request sent to the server to the first byte of its response
}
