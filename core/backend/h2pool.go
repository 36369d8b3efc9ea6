package backend

import (
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/h2"
)

// H2Pool holds the HTTP/2 connections of one server spoken to in HTTP/2
// (h2: true): multiplexed, shared by the streams sent to it.
type H2Pool struct {
	mu     sync.Mutex
	conns  []*h2.ClientConn
	closed bool
	// KeepAlive is how long a connection without streams is kept
	// (the backend's http_keep_alive timeout).
	KeepAlive time.Duration
	// dialing is closed when the connection being dialed is pooled or
	// its dial failed; nil when no dial is under way. Streams arriving
	// together wait for one dial rather than each open a connection.
	dialing chan struct{}
	// reaping is true while a goroutine sweeps the pool (reap): from the
	// first pooled connection until the pool is empty or closed.
	reaping bool
}

// reap closes, every ReapInterval, the connections idle for longer
// than KeepAlive, so that a server nobody sends to any more does not keep
// them open; it drops the dead ones (the server closed them: the
// connection's reader has closed its socket already). It ends when the
// pool is empty or closed; add starts it again.
func (p *H2Pool) reap() {
	t := time.NewTicker(ReapInterval(p.KeepAlive))
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		p.usableLocked()
		if p.closed || len(p.conns) == 0 {
			p.reaping = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// Get returns a connection that can take a new stream. When there is
// none it returns nil and the caller dials, unless a dial is already under
// way: get then waits for it and looks again.
func (p *H2Pool) Get() *h2.ClientConn {
	for {
		p.mu.Lock()
		c := p.usableLocked()
		if c != nil || p.dialing == nil {
			if c == nil {
				p.dialing = make(chan struct{})
			}
			p.mu.Unlock()
			return c
		}
		wait := p.dialing
		p.mu.Unlock()
		<-wait
	}
}

// Dialed ends the dial get asked for; c is nil when it failed.
func (p *H2Pool) Dialed() {
	p.mu.Lock()
	if p.dialing != nil {
		close(p.dialing)
		p.dialing = nil
	}
	p.mu.Unlock()
}

// usableLocked returns a pooled connection that can take a stream,
// dropping dead ones and closing those idle longer than KeepAlive.
func (p *H2Pool) usableLocked() *h2.ClientConn {
	live := p.conns[:0]
	var found *h2.ClientConn
	for _, c := range p.conns {
		select {
		case <-c.Done():
			continue
		default:
		}
		if p.KeepAlive > 0 && c.Idle() > p.KeepAlive {
			c.Shutdown()
			continue
		}
		live = append(live, c)
		if found == nil && c.CanTakeNewStream() {
			found = c
		}
	}
	clear(p.conns[len(live):])
	p.conns = live
	return found
}

// Add starts HTTP/2 on a new connection and pools it.
func (p *H2Pool) Add(sc *ServerConn) *h2.ClientConn {
	// The connection's bytes are HTTP/2's from now on; its buffer, unused,
	// goes back to the pool.
	sc.Buf.Release()
	// The connection is shared: the server timeout applies to each stream
	// (exchangeH2), not to reads of the connection, which wait for frames.
	sc.Conn.ReadTimeout, sc.Conn.ReadDeadline = 0, time.Time{}
	c := h2.NewClientConn(sc.Conn, h2.ClientConfig{})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		p.Dialed()
		return c // its streams fail at once, as on any dead connection
	}
	p.conns = append(p.conns, c)
	if !p.reaping {
		p.reaping = true
		go p.reap()
	}
	p.mu.Unlock()
	p.Dialed()
	return c
}

// Close aborts every connection (the end of the grace period, or the
// generation closing after its last stream).
func (p *H2Pool) Close() {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
