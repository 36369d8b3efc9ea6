// Package logsink writes access-log lines to their destination — standard
// output or error, a file, or a syslog server (RFC 5424 or RFC 3164, over
// UDP or a unix datagram socket, as HAProxy's `log` directive) — without
// ever making the caller wait for it.
//
// Write copies a line into a bounded queue and returns; one writer
// goroutine per Sink empties the queue into the destination, every
// flush interval or as soon as a batch is large. When the queue is full
// (the destination is slow or blocked) the line is dropped and counted
// (Dropped), so request handling never blocks on logging.
//
// States: open → closed (Close). Reopen (SIGUSR1, for logrotate) swaps
// the file of a file sink for a newly opened one at the same path; lines
// are never lost across it: a batch goes whole to the old or to the new
// file.
//
// Ownership: mu guards the queue (any goroutine writes); wmu serialises
// the writes to the destination (the writer goroutine, Flush, Reopen).
package logsink

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Sink.
type Options struct {
	// Output is "stdout", "stderr", a file path, or a syslog address:
	// "udp://host:port" or "unix:///path/to/socket" (usually
	// unix:///dev/log).
	Output string
	// Syslog configures the header of syslog messages.
	Syslog Syslog
	// QueueBytes bounds the lines waiting to be written; default 1 MiB.
	QueueBytes int
	// Writer, when set, replaces Output (tests, embedding).
	Writer io.Writer
}

// Syslog is the header of syslog messages, as HAProxy writes them.
type Syslog struct {
	Format   string // "rfc5424" (default) or "rfc3164"
	Facility int    // 0…23; default 16 (local0)
	Severity int    // 0…7; default 6 (info)
	Tag      string // default "strata"
	Hostname string // RFC 5424 HOSTNAME; default os.Hostname()
}

// Facilities maps syslog facility names to their numbers (RFC 5424 6.2.1).
var Facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "auth2": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "cron2": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Severities maps syslog severity names to their numbers.
var Severities = map[string]int{
	"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7,
}

// DefaultQueueBytes is the default bound of the queue.
const DefaultQueueBytes = 1 << 20

// flushInterval bounds how long a line waits in the queue.
const flushInterval = 100 * time.Millisecond

// batchBytes wakes the writer before the interval ends.
const batchBytes = 32 << 10

// writeTimeout bounds one write to a socket: a syslog receiver that does
// not read makes the batch be dropped (and counted) instead of holding the
// writer, and Close, forever.
const writeTimeout = time.Second

// Sink is one log destination with its queue.
type Sink struct {
	datagram bool    // one message per line (syslog); else a byte stream
	syslog   *Syslog // nil: lines go as they are
	path     string  // file sinks: what Reopen opens
	pid      string  // syslog header
	max      int     // queue bound in bytes
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu  sync.Mutex
	buf []byte // queued lines; datagram sinks: each prefixed by its length (4 bytes)

	wmu   sync.Mutex
	w     io.Writer // owned under wmu
	file  *os.File  // file sinks, under wmu
	conn  net.Conn  // syslog sinks
	spare []byte    // under wmu: the batch being written

	written atomic.Uint64
	dropped atomic.Uint64
}

// New opens the destination of o and starts the writer.
func New(o Options) (*Sink, error) {
	s := &Sink{max: o.QueueBytes, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), pid: strconv.Itoa(os.Getpid())}
	if s.max <= 0 {
		s.max = DefaultQueueBytes
	}
	switch {
	case o.Writer != nil:
		s.w = o.Writer
	case o.Output == "" || o.Output == "stdout":
		s.w = os.Stdout
	case o.Output == "stderr":
		s.w = os.Stderr
	case strings.HasPrefix(o.Output, "udp://"), strings.HasPrefix(o.Output, "unix://"):
		network, addr := "udp", strings.TrimPrefix(o.Output, "udp://")
		if p, ok := strings.CutPrefix(o.Output, "unix://"); ok {
			network, addr = "unixgram", p
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		sl := o.Syslog
		if sl.Format == "" {
			sl.Format = "rfc5424"
		}
		if sl.Tag == "" {
			sl.Tag = "strata"
		}
		if sl.Hostname == "" {
			sl.Hostname, _ = os.Hostname()
		}
		if sl.Hostname == "" {
			sl.Hostname = "-"
		}
		s.conn, s.w, s.datagram, s.syslog = c, c, true, &sl
	default:
		f, err := openFile(o.Output)
		if err != nil {
			return nil, err
		}
		s.path, s.file, s.w = o.Output, f, f
	}
	go s.writer()
	return s, nil
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
}

// Write queues line (which ends with '\n') and never blocks on the
// destination. It reports false when the queue was full and the line was
// dropped.
func (s *Sink) Write(line []byte) bool {
	s.mu.Lock()
	need := len(line)
	if s.datagram {
		need += 4 + 128 // length and header
	}
	if len(s.buf)+need > s.max {
		s.mu.Unlock()
		s.dropped.Add(1)
		return false
	}
	if s.datagram {
		at := len(s.buf)
		s.buf = append(s.buf, 0, 0, 0, 0)
		s.buf = s.appendHeader(s.buf, time.Now())
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1] // a datagram is one message
		}
		s.buf = append(s.buf, line...)
		binary.BigEndian.PutUint32(s.buf[at:], uint32(len(s.buf)-at-4))
	} else {
		s.buf = append(s.buf, line...)
	}
	big := len(s.buf) >= batchBytes
	s.mu.Unlock()
	if big {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// appendHeader writes the syslog header of a message sent at t.
func (s *Sink) appendHeader(b []byte, t time.Time) []byte {
	sl := s.syslog
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(sl.Facility*8+sl.Severity), 10)
	b = append(b, '>')
	if sl.Format == "rfc3164" {
		// HAProxy's rfc3164: "<PRI>Mmm dd hh:mm:ss tag[pid]: " (no hostname).
		b = t.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
	} else {
		// RFC 5424: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG".
		b = append(b, '1', ' ')
		b = t.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, ' ')
		b = append(b, sl.Hostname...)
		b = append(b, ' ')
		b = append(b, sl.Tag...)
		b = append(b, ' ')
		b = append(b, s.pid...)
		return append(b, " - - "...)
	}
	b = append(b, sl.Tag...)
	b = append(b, '[')
	b = append(b, s.pid...)
	return append(b, "]: "...)
}

func (s *Sink) writer() {
	defer close(s.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.kick:
		case <-s.stop:
			s.Flush()
			return
		}
		s.Flush()
	}
}

// Flush writes every queued line before it returns.
func (s *Sink) Flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	batch := s.buf
	s.buf = s.spare[:0]
	s.mu.Unlock()
	s.spare = batch
	if len(batch) == 0 {
		return
	}
	if !s.datagram {
		if _, err := s.w.Write(batch); err != nil {
			s.dropped.Add(uint64(countLines(batch)))
		} else {
			s.written.Add(uint64(countLines(batch)))
		}
		return
	}
	for len(batch) >= 4 {
		n := int(binary.BigEndian.Uint32(batch))
		msg := batch[4 : 4+n]
		batch = batch[4+n:]
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := s.conn.Write(msg); err != nil {
			s.dropped.Add(1)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// The receiver does not read: drop the rest of the
				// batch rather than wait a timeout per message.
				for len(batch) >= 4 {
					n := int(binary.BigEndian.Uint32(batch))
					batch = batch[4+n:]
					s.dropped.Add(1)
				}
			}
			continue
		}
		s.written.Add(1)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// Reopen reopens the file of a file sink at its path (after logrotate
// renamed it); other sinks have nothing to reopen. On error the old file
// stays in use.
func (s *Sink) Reopen() error {
	if s.path == "" {
		return nil
	}
	s.Flush() // what was logged before the signal goes to the old file
	f, err := openFile(s.path)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	old := s.file
	s.file, s.w = f, f
	s.wmu.Unlock()
	return old.Close()
}

// closeWait bounds how long Close waits for the last writes: a pipe
// nobody reads must not keep the process from stopping.
const closeWait = 5 * time.Second

// ErrBlocked is returned by Close when the destination did not take the
// last lines in time; they are dropped.
var ErrBlocked = errors.New("logsink: the destination is blocked; the last lines are dropped")

// Close writes what is queued, stops the writer and closes a file or
// socket it opened. It waits closeWait at most.
func (s *Sink) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		return ErrBlocked
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	switch {
	case s.file != nil:
		return s.file.Close()
	case s.conn != nil:
		return s.conn.Close()
	}
	return nil
}

// Written returns the lines written so far.
func (s *Sink) Written() uint64 { return s.written.Load() }

// Dropped returns the lines dropped so far: queue full or write failed.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }
