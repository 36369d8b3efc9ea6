package admin

import (
	"net"
	"os"
)

// UseListener makes the server serve on ln, a listener opened elsewhere (a
// socket handed over by the process strata replaces), instead of calling
// Listen.
func (s *Server) UseListener(ln net.Listener) { s.ln = ln }

// ListenerFile returns a duplicate of the listener's descriptor, to hand
// over to the process that replaces this one. A Unix socket's path is then
// left in place when this server closes.
func (s *Server) ListenerFile() (*os.File, error) {
	switch l := s.ln.(type) {
	case *net.TCPListener:
		return l.File()
	case *net.UnixListener:
		l.SetUnlinkOnClose(false)
		return l.File()
	}
	return nil, net.UnknownNetworkError(s.ln.Addr().Network())
}
