package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// server owns the listener and the set of live connections. serve runs the
// accept loop; each connection is served by its own goroutine, which is the
// only one to touch its conn.
type server struct {
	// Immutable after newServer:
	cfg       config
	ln        *net.TCPListener
	log       *eventLog // nil without -log
	fixed     []byte    // the whole keep-alive HTTP/1.1 answer of the fixed mode
	fixedHead []byte    // the same without its body, for HEAD
	done      chan struct{}

	conns    atomic.Uint64 // connections accepted
	requests atomic.Uint64 // request heads received

	mu     sync.Mutex
	active map[*net.TCPConn]struct{} // guarded by mu
	closed bool                      // guarded by mu
	wg     sync.WaitGroup            // one per connection goroutine
}

func newServer(cfg config) (*server, error) {
	addr, err := net.ResolveTCPAddr("tcp", cfg.listen)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &server{
		cfg:    cfg,
		ln:     ln,
		done:   make(chan struct{}),
		active: make(map[*net.TCPConn]struct{}),
	}
	if cfg.logPath != "" {
		f, err := os.OpenFile(cfg.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.log = &eventLog{f: f}
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(cfg.body)) + "\r\nx-server: " + cfg.name + "\r\n\r\n"
	s.fixedHead = []byte(head)
	s.fixed = []byte(head + cfg.body)
	return s, nil
}

// serve accepts connections until ctx is done, then closes every connection
// and waits for their goroutines.
func (s *server) serve(ctx context.Context) error {
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		s.shutdown()
	}()
	var err error
	for {
		nc, aerr := s.ln.AcceptTCP()
		if aerr != nil {
			if ctx.Err() != nil || s.isClosed() {
				break
			}
			if isTemporary(aerr) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			err = aerr
			break
		}
		if !s.track(nc) {
			nc.Close()
			break
		}
		id := s.conns.Add(1)
		if s.log != nil {
			s.log.write(logLine{Event: "accept", Conn: id, Remote: nc.RemoteAddr().String()})
		}
		s.wg.Add(1)
		go s.handle(nc, id)
	}
	s.shutdown()
	s.wg.Wait()
	s.log.close()
	return err
}

// isTemporary reports accept errors worth retrying (out of descriptors,
// aborted handshakes).
func isTemporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ECONNRESET)
}

func (s *server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *server) track(nc *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.active[nc] = struct{}{}
	return true
}

func (s *server) untrack(nc *net.TCPConn) {
	s.mu.Lock()
	delete(s.active, nc)
	s.mu.Unlock()
}

// shutdown closes the listener and every live connection, once.
func (s *server) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	s.ln.Close()
	for nc := range s.active {
		nc.Close()
	}
}

func (s *server) handle(nc *net.TCPConn, id uint64) {
	defer s.wg.Done()
	c := newConn(s, nc, id)
	if s.cfg.mode == modeTCP {
		c.serveTCP()
	} else if c.serveHTTP() {
		lingerClose(nc)
	}
	nc.Close()
	s.untrack(nc)
	if s.log != nil {
		s.log.write(logLine{Event: "close", Conn: id, Requests: c.nreq})
	}
	c.release()
}

// logLine is one line of the -log file.
type logLine struct {
	Time     string `json:"time"`
	Event    string `json:"event"` // accept, request, bad_request, close
	Conn     uint64 `json:"conn"`
	Seq      uint64 `json:"seq,omitempty"` // request number on the connection, from 1
	Remote   string `json:"remote,omitempty"`
	Method   string `json:"method,omitempty"`
	URI      string `json:"uri,omitempty"`
	Head     string `json:"head,omitempty"` // the raw head, base64
	Error    string `json:"error,omitempty"`
	Requests uint64 `json:"requests,omitempty"` // on close: requests received on the connection
}

// eventLog appends JSON lines to a file, one write per line.
type eventLog struct {
	mu sync.Mutex
	f  *os.File // guarded by mu
}

func (l *eventLog) write(line logLine) {
	line.Time = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	if l.f != nil {
		l.f.Write(b)
	}
	l.mu.Unlock()
}

func (l *eventLog) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.mu.Unlock()
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }
