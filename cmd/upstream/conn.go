package main

import (
	"bytes"
	"errors"
	"hash"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

const textPlain = "text/plain"

// Buffer sizes of a connection.
const (
	initialBuf = 4 << 10
	maxBuf     = 2*maxHead + 16<<10 // a pinned head, plus room to read a body
	minRead    = 1 << 10
	flushAt    = 64 << 10
)

// conn is one client connection. It is owned by the goroutine that serves
// it; nothing else touches it but server.shutdown, which only closes nc.
type conn struct {
	srv  *server
	nc   *net.TCPConn
	id   uint64
	nreq uint64 // request heads received

	// buf[r:w] is read and not yet consumed. fill moves unconsumed bytes
	// down to floor, never below: while a request is being answered, floor
	// is the end of its head so that the head's slices stay valid.
	buf      []byte
	r, w     int
	floor    int
	out      []byte    // answer bytes not yet written
	deadline time.Time // the read/write deadline currently set on nc
	// keepAliveWait: the next read waits for a request after an answer,
	// under -keep-alive-timeout rather than the idle deadline.
	keepAliveWait bool

	req      request
	trailers [][2]string // trailer fields of the last chunked body
}

var connPool = sync.Pool{New: func() any {
	return &conn{buf: make([]byte, initialBuf), out: make([]byte, 0, initialBuf)}
}}

func newConn(s *server, nc *net.TCPConn, id uint64) *conn {
	c := connPool.Get().(*conn)
	c.srv, c.nc, c.id = s, nc, id
	return c
}

// release returns c to the pool; c must not be used afterwards.
func (c *conn) release() {
	if cap(c.buf) > initialBuf {
		c.buf = make([]byte, initialBuf)
	}
	if cap(c.out) > flushAt {
		c.out = make([]byte, 0, initialBuf)
	}
	*c = conn{buf: c.buf, out: c.out[:0], req: request{headers: c.req.headers[:0]}}
	connPool.Put(c)
}

// touchDeadline pushes the connection's deadline to now + idle timeout,
// resetting the timer only when half of it has passed.
func (c *conn) touchDeadline() {
	now := time.Now()
	t := c.srv.cfg.idleTimeout
	if c.deadline.Sub(now) < t/2 {
		c.deadline = now.Add(t)
		c.nc.SetDeadline(c.deadline)
	}
}

// flush writes the pending answer bytes.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	c.touchDeadline()
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// fill flushes pending output, then reads at least one byte more into
// buf[w:], first moving buf[r:w] down to floor and growing buf if little
// room is left.
func (c *conn) fill() error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.r == c.w {
		c.r, c.w = c.floor, c.floor
	} else if c.r > c.floor {
		n := copy(c.buf[c.floor:], c.buf[c.r:c.w])
		c.r, c.w = c.floor, c.floor+n
	}
	if len(c.buf)-c.w < minRead {
		size := 2 * len(c.buf)
		if size > maxBuf {
			size = maxBuf
		}
		if size-c.w < minRead {
			return errHeadTooLarge
		}
		// The old array stays reachable through the head's slices.
		nb := make([]byte, size)
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	c.touchDeadline()
	ka := c.srv.cfg.keepAlive
	if c.keepAliveWait && ka > 0 {
		c.nc.SetReadDeadline(time.Now().Add(ka))
	}
	n, err := c.nc.Read(c.buf[c.w:])
	if c.keepAliveWait && ka > 0 {
		c.nc.SetReadDeadline(c.deadline) // the idle deadline again
	}
	c.keepAliveWait = false
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need reads until at least n bytes are buffered.
func (c *conn) need(n int) error {
	for c.w-c.r < n {
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}

var crlfcrlf = []byte("\r\n\r\n")

// readHead reads a whole request head and returns its length from buf[r].
// io.EOF means the client closed cleanly between requests.
func (c *conn) readHead() (int, error) {
	for {
		// RFC 9112 2.2: ignore empty lines before a request line.
		for c.w-c.r >= 2 && c.buf[c.r] == '\r' && c.buf[c.r+1] == '\n' {
			c.r += 2
		}
		if c.w-c.r >= 4 {
			if i := bytes.Index(c.buf[c.r:c.w], crlfcrlf); i >= 0 {
				return i + 4, nil
			}
		}
		if c.w-c.r >= maxHead {
			return 0, errHeadTooLarge
		}
		empty := c.w == c.r
		if empty && c.nreq > 0 {
			c.keepAliveWait = true // the first read of the next request
		}
		if err := c.fill(); err != nil {
			if err == io.EOF && empty {
				return 0, io.EOF
			}
			return 0, err
		}
	}
}

// serveHTTP answers requests until the connection must close. It reports
// whether the server chose to close while the client may still be sending,
// in which case the caller should close gracefully (see lingerClose).
func (c *conn) serveHTTP() (linger bool) {
	for {
		n, err := c.readHead()
		if err != nil {
			var se *statusError
			if errors.As(err, &se) {
				c.refuse(se, c.buf[c.r:c.w])
				return c.flush() == nil
			}
			return false
		}
		head := c.buf[c.r : c.r+n]
		c.r += n
		c.floor = c.r
		c.nreq++
		c.srv.requests.Add(1)
		if err := parseHead(head, &c.req); err != nil {
			c.refuse(err.(*statusError), head)
			return c.flush() == nil
		}
		if c.srv.log != nil {
			c.srv.log.write(logLine{Event: "request", Conn: c.id, Seq: c.nreq,
				Method: string(c.req.method), URI: string(c.req.uri), Head: b64(head)})
		}
		keep := c.answer(&c.req)
		c.floor = 0
		if err := c.flushIfIdle(); err != nil {
			return false
		}
		if !keep || c.req.close {
			return c.flush() == nil
		}
	}
}

// flushIfIdle writes pending output unless another request is already
// buffered, so that answers to pipelined requests go out in one write.
func (c *conn) flushIfIdle() error {
	if c.r < c.w {
		return nil
	}
	return c.flush()
}

// lingerClose shuts the write side, then reads and discards what the client
// still sends for a short while before the caller closes: closing a socket
// with unread input sends a reset, which may destroy the answer in flight.
func lingerClose(nc *net.TCPConn) {
	if nc.CloseWrite() != nil {
		return
	}
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16<<10)
	for n := 0; n < 4<<20; {
		k, err := nc.Read(buf)
		n += k
		if err != nil {
			return
		}
	}
}

// refuse answers a request that cannot be served, then the connection
// closes.
func (c *conn) refuse(se *statusError, raw []byte) {
	if c.srv.log != nil {
		c.srv.log.write(logLine{Event: "bad_request", Conn: c.id, Seq: c.nreq, Error: se.msg, Head: b64(raw)})
	}
	body := c.srv.cfg.name + " " + strconv.Itoa(se.status) + " " + se.msg + "\n"
	c.appendHead(se.status, textPlain, int64(len(body)), true, 1)
	c.out = append(c.out, body...)
}

// answer serves one parsed request and reports whether the connection may
// carry another one.
func (c *conn) answer(req *request) bool {
	if req.websocket && string(req.method) == "GET" && len(req.wsKey) > 0 {
		if !c.readBody(req, nil) {
			return false
		}
		return c.serveWebSocket(req)
	}
	path := req.path()
	if len(path) > 2 && path[0] == '/' {
		if handled, keep := c.special(req, path); handled {
			return keep
		}
	}
	return c.answerDefault(req)
}

// answerDefault reads the body and gives the mode's answer.
func (c *conn) answerDefault(req *request) bool {
	if c.srv.cfg.mode == modeEcho {
		return c.echo(req)
	}
	if !c.readBody(req, nil) {
		return false
	}
	switch {
	case req.close || req.minor == 0:
		body := c.srv.cfg.body
		c.appendHead(200, textPlain, int64(len(body)), req.close, req.minor)
		if !req.isHead {
			c.out = append(c.out, body...)
		}
	case req.isHead:
		c.out = append(c.out, c.srv.fixedHead...)
	default:
		c.out = append(c.out, c.srv.fixed...)
	}
	return true
}

// readBody consumes the request body, writing it to sink when not nil; it
// sends 100 Continue first if the client expects it. On a malformed body it
// queues a 400 and returns false.
func (c *conn) readBody(req *request, sink hash.Hash) bool {
	if !req.hasBody() || req.bodyRead {
		return true
	}
	req.bodyRead = true
	if req.expect100 && req.minor == 1 {
		c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	c.trailers = c.trailers[:0]
	var err error
	if req.chunked {
		_, err = c.readChunked(sink)
	} else {
		err = c.readN(req.contentLength, sink)
	}
	if err != nil {
		if errors.Is(err, errChunkSyntax) || errors.Is(err, errChunkLine) {
			c.refuse(badRequest(err.Error()), nil)
		}
		return false
	}
	return true
}

// readN consumes n body bytes.
func (c *conn) readN(n int64, sink hash.Hash) error {
	for n > 0 {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := c.w - c.r
		if int64(k) > n {
			k = int(n)
		}
		if sink != nil {
			sink.Write(c.buf[c.r : c.r+k])
		}
		c.r += k
		n -= int64(k)
	}
	return nil
}

// readLine consumes a CRLF-terminated line of at most maxChunkLine bytes;
// the result is valid until the next fill.
func (c *conn) readLine() ([]byte, error) {
	scan := 0
	for {
		if i := bytes.Index(c.buf[c.r+scan:c.w], crlf); i >= 0 {
			line := c.buf[c.r : c.r+scan+i]
			c.r += scan + i + 2
			return line, nil
		}
		if c.w-c.r > maxChunkLine {
			return nil, errChunkLine
		}
		scan = max(0, c.w-c.r-1)
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readChunked consumes a chunked body and its trailer section, and returns
// the decoded length.
func (c *conn) readChunked(sink hash.Hash) (int64, error) {
	var total int64
	for {
		line, err := c.readLine()
		if err != nil {
			return total, err
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return total, err
		}
		if size == 0 {
			break
		}
		if err := c.readN(size, sink); err != nil {
			return total, err
		}
		total += size
		if line, err = c.readLine(); err != nil {
			return total, err
		} else if len(line) != 0 {
			return total, errChunkSyntax
		}
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return total, err
		}
		if len(line) == 0 {
			return total, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || len(c.trailers) == maxTrailers {
			return total, errChunkSyntax
		}
		c.trailers = append(c.trailers, [2]string{string(line[:colon]), string(trimOWS(line[colon+1:]))})
	}
}

// Framing of appendHead, besides a Content-Length.
const (
	// lengthChunked is a chunked body for HTTP/1.1 clients and a
	// close-delimited one for HTTP/1.0 clients.
	lengthChunked = -1
	// lengthNone is no body and no framing field (1xx, 204, 304).
	lengthNone = -2
)

// appendHead queues a response head. ctype may be empty; length is the
// Content-Length, lengthChunked or lengthNone.
func (c *conn) appendHead(status int, ctype string, length int64, close bool, minor int) {
	c.out = append(c.out, "HTTP/1.1 "...)
	c.out = strconv.AppendInt(c.out, int64(status), 10)
	c.out = append(c.out, ' ')
	c.out = append(c.out, reason(status)...)
	c.out = append(c.out, "\r\nx-server: "...)
	c.out = append(c.out, c.srv.cfg.name...)
	if ctype != "" {
		c.out = append(c.out, "\r\nContent-Type: "...)
		c.out = append(c.out, ctype...)
	}
	switch {
	case length >= 0:
		c.out = append(c.out, "\r\nContent-Length: "...)
		c.out = strconv.AppendInt(c.out, length, 10)
	case length == lengthChunked && minor == 1:
		c.out = append(c.out, "\r\nTransfer-Encoding: chunked"...)
	}
	if status >= 200 {
		switch {
		case close:
			c.out = append(c.out, "\r\nConnection: close"...)
		case minor == 0:
			c.out = append(c.out, "\r\nConnection: keep-alive"...)
		}
	}
	c.out = append(c.out, "\r\n\r\n"...)
}

func reason(status int) string {
	switch status {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 103:
		return "Early Hints"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status"
}
