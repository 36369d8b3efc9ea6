package handover

import (
	"net"
	"sync"
)

// Sockets holds the listening sockets handed over by the process this one
// replaces, by configured address, until the proxy binds its addresses:
// Listen gives an inherited socket when there is one and binds a new one
// otherwise; CloseUnused closes those the configuration no longer binds.
// Safe for concurrent use; the zero Sockets holds none.
type Sockets struct {
	mu sync.Mutex
	m  map[string]*net.TCPListener
}

// Add adds sockets handed over, by configured address.
func (s *Sockets) Add(lns map[string]*net.TCPListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*net.TCPListener{}
	}
	for a, l := range lns {
		s.m[a] = l
	}
}

// Listen returns the socket for a configured address: the one handed over
// for it, which it gives once, else a new one.
func (s *Sockets) Listen(addr string) (*net.TCPListener, error) {
	s.mu.Lock()
	ln := s.m[addr]
	delete(s.m, addr)
	s.mu.Unlock()
	if ln != nil {
		return ln, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

// CloseUnused closes the sockets handed over that Listen has not given.
func (s *Sockets) CloseUnused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, l := range s.m {
		l.Close()
		delete(s.m, a)
	}
}
