package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"strconv"
	"time"
)

// Bounds of the special paths.
const (
	maxChunks   = 1_000_000
	maxBig      = 1 << 40
	maxDripSize = 1 << 20
)

// pattern is the content of /big and /drip bodies.
var pattern = func() []byte {
	const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
	return bytes.Repeat([]byte(line), (64<<10)/len(line))
}()

// special serves the paths listed in the package documentation. handled is
// false for any other path; keep says whether the connection may go on.
func (c *conn) special(req *request, path []byte) (handled, keep bool) {
	seg, rest := cutSegment(path[1:])
	if rest == nil {
		// Paths that take arguments are special only with a slash after
		// their name: /big is an ordinary path, /big/x a bad argument.
		switch string(seg) {
		case "status", "delay", "chunked", "big", "drip":
			return false, false
		}
	}
	switch string(seg) {
	case "status":
		n, ok := parseDecimal(rest)
		if !ok || n < 100 || n > 599 || n == 101 {
			return true, c.badPath(req, "want /status/N with 100 <= N <= 599, N != 101")
		}
		if n < 200 {
			if req.minor == 1 {
				c.appendHead(int(n), "", lengthNone, false, 1)
			}
			return true, c.answerDefault(req)
		}
		if !c.readBody(req, nil) {
			return true, false
		}
		if n == 204 || n == 304 {
			c.appendHead(int(n), "", lengthNone, req.close, req.minor)
			return true, true
		}
		body := c.srv.cfg.name + " " + strconv.FormatInt(n, 10) + "\n"
		c.appendHead(int(n), textPlain, int64(len(body)), req.close, req.minor)
		c.appendBody(req, body)
		return true, true

	case "delay":
		d, err := time.ParseDuration(string(rest))
		if err != nil || d < 0 || d > maxDelay {
			return true, c.badPath(req, "want /delay/D with 0 <= D <= 30s")
		}
		if !c.sleep(d) {
			return true, false
		}
		return true, c.answerDefault(req)

	case "close":
		if len(rest) != 0 {
			return false, false
		}
		// Answers to earlier pipelined requests go out; this one gets none.
		c.flush()
		return true, false

	case "chunked":
		n, ok := parseDecimal(rest)
		if !ok || n > maxChunks {
			return true, c.badPath(req, "want /chunked/N with N <= 1000000")
		}
		if !c.readBody(req, nil) {
			return true, false
		}
		closeAfter := req.close || req.minor == 0
		c.appendHead(200, textPlain, lengthChunked, closeAfter, req.minor)
		if req.isHead {
			return true, !closeAfter
		}
		for i := int64(1); i <= n; i++ {
			chunk := c.srv.cfg.name + " chunk " + strconv.FormatInt(i, 10) + "\n"
			if req.minor == 1 {
				c.out = strconv.AppendInt(c.out, int64(len(chunk)), 16)
				c.out = append(c.out, "\r\n"...)
			}
			c.out = append(c.out, chunk...)
			if req.minor == 1 {
				c.out = append(c.out, "\r\n"...)
			}
			if len(c.out) >= flushAt && c.flush() != nil {
				return true, false
			}
		}
		if req.minor == 1 {
			c.out = append(c.out, "0\r\n\r\n"...)
		}
		return true, !closeAfter

	case "big":
		n, ok := parseDecimal(rest)
		if !ok || n > maxBig {
			return true, c.badPath(req, "want /big/N with N <= 2^40")
		}
		if !c.readBody(req, nil) {
			return true, false
		}
		c.appendHead(200, "application/octet-stream", n, req.close, req.minor)
		if req.isHead {
			return true, true
		}
		for n > 0 {
			k := min(n, int64(len(pattern))-int64(len(c.out)))
			if k <= 0 {
				if c.flush() != nil {
					return true, false
				}
				continue
			}
			c.out = append(c.out, pattern[:k]...)
			n -= k
		}
		return true, true

	case "drip":
		seg, rest := cutSegment(rest)
		n, ok := parseDecimal(seg)
		d, err := time.ParseDuration(string(rest))
		if !ok || err != nil || n > maxDripSize || d < 0 || time.Duration(n)*d > maxDrip {
			return true, c.badPath(req, "want /drip/N/D with N*D <= 60s")
		}
		if !c.readBody(req, nil) {
			return true, false
		}
		c.appendHead(200, "application/octet-stream", n, req.close, req.minor)
		if req.isHead {
			return true, true
		}
		for i := int64(0); i < n; i++ {
			if c.flush() != nil || !c.sleep(d) {
				return true, false
			}
			c.out = append(c.out, pattern[i%int64(len(pattern))])
		}
		return true, true

	case "headers-only":
		d := maxHang
		if len(rest) > 0 {
			v, err := time.ParseDuration(string(rest))
			if err != nil || v < 0 || v > maxHang {
				return true, c.badPath(req, "want /headers-only/D with D <= 30s")
			}
			d = v
		}
		if !c.readBody(req, nil) {
			return true, false
		}
		c.appendHead(200, textPlain, 1000, req.close, req.minor)
		if c.flush() != nil {
			return true, false
		}
		// Wait for the client to go away, to send anything, or for d.
		c.deadline = time.Now().Add(d)
		c.nc.SetDeadline(c.deadline)
		var b [1]byte
		c.nc.Read(b[:])
		return true, false

	case "badresponse":
		if !c.readBody(req, nil) {
			return true, false
		}
		c.out = append(c.out, "HTTP/1.1 200 OK\r\nx-server: "...)
		c.out = append(c.out, c.srv.cfg.name...)
		c.out = append(c.out, "\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"...)
		return true, false
	}
	return false, false
}

// cutSegment splits p at its first slash; rest is nil when there is none.
func cutSegment(p []byte) (seg, rest []byte) {
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, nil
}

// badPath answers 400 to a special path with bad arguments.
func (c *conn) badPath(req *request, msg string) bool {
	if !c.readBody(req, nil) {
		return false
	}
	body := c.srv.cfg.name + " 400 " + msg + "\n"
	c.appendHead(400, textPlain, int64(len(body)), req.close, req.minor)
	c.appendBody(req, body)
	return true
}

func (c *conn) appendBody(req *request, body string) {
	if !req.isHead {
		c.out = append(c.out, body...)
	}
}

// sleep flushes pending output and waits d; it returns false if the server
// stops meanwhile.
func (c *conn) sleep(d time.Duration) bool {
	if c.flush() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.srv.done:
		return false
	}
}

// echoReply is the body of the echo mode.
type echoReply struct {
	Server      string      `json:"server"`
	Conn        uint64      `json:"conn"`         // connection number on the server, from 1
	ConnRequest uint64      `json:"conn_request"` // request number on that connection, from 1
	Remote      string      `json:"remote"`
	Method      string      `json:"method"`
	URI         string      `json:"uri"`
	Proto       string      `json:"proto"`
	Headers     [][2]string `json:"headers"` // as received, in order
	Chunked     bool        `json:"chunked"`
	BodyLength  int64       `json:"body_length"`
	BodySHA256  string      `json:"body_sha256"`
	Trailers    [][2]string `json:"trailers"`
	RawHead     string      `json:"raw_head"` // base64
}

// echo reads the body and answers with a JSON description of the request.
func (c *conn) echo(req *request) bool {
	h := sha256.New()
	cw := &countingHash{Hash: h}
	if !c.readBody(req, cw) {
		return false
	}
	rep := echoReply{
		Server:      c.srv.cfg.name,
		Conn:        c.id,
		ConnRequest: c.nreq,
		Remote:      c.nc.RemoteAddr().String(),
		Method:      string(req.method),
		URI:         string(req.uri),
		Proto:       string(req.proto),
		Headers:     make([][2]string, len(req.headers)),
		Chunked:     req.chunked,
		BodyLength:  cw.n,
		BodySHA256:  hex.EncodeToString(h.Sum(nil)),
		Trailers:    append([][2]string{}, c.trailers...),
		RawHead:     b64(req.head),
	}
	for i, f := range req.headers {
		rep.Headers[i] = [2]string{string(f.name), string(f.value)}
	}
	body, _ := json.Marshal(rep)
	body = append(body, '\n')
	c.appendHead(200, "application/json", int64(len(body)), req.close, req.minor)
	if !req.isHead {
		c.out = append(c.out, body...)
	}
	return true
}

// countingHash counts the bytes written to a hash.
type countingHash struct {
	hash.Hash
	n int64
}

func (h *countingHash) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.Hash.Write(p)
}
