package admin

import (
	"net"
	"sync"
)

// MaxConns bounds the connections the admin API serves at once. The
// proxy keeps this many file descriptors aside when it derives its own
// maxconn (core/proxy), and does not count admin connections against it:
// an operator can still look and act while the proxy is at its limit or
// under a flood.
const MaxConns = 64

// limitListener accepts at most cap(sem) connections at a time. At the
// limit it does not call accept, so further connections wait in the
// kernel's backlog, as the proxy's listeners do at maxconn, instead of
// being accepted and closed.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close: a waiting Accept returns
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for a free slot, then accepts.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: l.release}, nil
}

func (l *limitListener) release() { <-l.sem }

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, at its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
