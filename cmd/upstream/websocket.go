package main

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"strconv"
)

// WebSocket opcodes and close codes (RFC 6455 5.2, 7.4.1).
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xa

	wsCloseProtocolError = 1002
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsAccept computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func wsAccept(key []byte) string {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// serveWebSocket completes the handshake of req, then echoes frames until
// the client closes. It reports whether the connection may carry another
// HTTP request, which is only the case when the handshake is refused.
func (c *conn) serveWebSocket(req *request) bool {
	if string(req.wsVersion) != "13" {
		body := c.srv.cfg.name + " 426 want Sec-WebSocket-Version: 13\n"
		c.out = append(c.out, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13"...)
		c.out = append(c.out, "\r\nx-server: "...)
		c.out = append(c.out, c.srv.cfg.name...)
		c.out = append(c.out, "\r\nContent-Type: text/plain\r\nContent-Length: "...)
		c.out = strconv.AppendInt(c.out, int64(len(body)), 10)
		c.out = append(c.out, "\r\n\r\n"...)
		c.out = append(c.out, body...)
		return true
	}
	c.out = append(c.out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	c.out = append(c.out, wsAccept(req.wsKey)...)
	if len(req.wsProtocol) > 0 {
		proto, _ := cutComma(req.wsProtocol)
		c.out = append(c.out, "\r\nSec-WebSocket-Protocol: "...)
		c.out = append(c.out, proto...)
	}
	c.out = append(c.out, "\r\nx-server: "...)
	c.out = append(c.out, c.srv.cfg.name...)
	c.out = append(c.out, "\r\n\r\n"...)
	if c.flush() != nil {
		return false
	}
	c.floor = 0
	c.echoFrames()
	return false
}

// echoFrames echoes client frames until a close, an error or a protocol
// violation (answered with close 1002).
func (c *conn) echoFrames() {
	for {
		if c.need(2) != nil {
			return
		}
		b0, b1 := c.buf[c.r], c.buf[c.r+1]
		fin, rsv, op := b0&0x80 != 0, b0&0x70, b0&0x0f
		masked, plen := b1&0x80 != 0, int64(b1&0x7f)
		hlen := 2
		switch plen {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		if masked {
			hlen += 4
		}
		if c.need(hlen) != nil {
			return
		}
		h := c.buf[c.r : c.r+hlen]
		switch plen {
		case 126:
			plen = int64(binary.BigEndian.Uint16(h[2:]))
		case 127:
			v := binary.BigEndian.Uint64(h[2:])
			if v>>63 != 0 {
				c.wsFail()
				return
			}
			plen = int64(v)
		}
		var key [4]byte
		if masked {
			copy(key[:], h[hlen-4:])
		}
		c.r += hlen
		control := op >= 0x8
		switch {
		case rsv != 0, !masked,
			op != wsContinuation && op != wsText && op != wsBinary && op != wsClose && op != wsPing && op != wsPong,
			control && (!fin || plen > 125):
			c.wsFail()
			return
		}
		if control {
			if c.need(int(plen)) != nil {
				return
			}
			payload := c.buf[c.r : c.r+int(plen)]
			c.r += int(plen)
			unmask(payload, key, 0)
			switch op {
			case wsPing:
				c.appendFrame(wsPong, true, payload)
			case wsClose:
				if len(payload) == 1 {
					c.wsFail()
					return
				}
				// Answer with the same status code, then close.
				if len(payload) > 2 {
					payload = payload[:2]
				}
				c.appendFrame(wsClose, true, payload)
				c.flush()
				return
			}
			continue
		}
		// A data frame: echo it as it arrives, same opcode and FIN bit.
		c.appendFrameHeader(op, fin, plen)
		var off int64
		for off < plen {
			if c.r == c.w && c.fill() != nil {
				return
			}
			k := min(int64(c.w-c.r), plen-off)
			p := c.buf[c.r : c.r+int(k)]
			unmask(p, key, int(off&3))
			c.out = append(c.out, p...)
			c.r += int(k)
			off += k
			if len(c.out) >= flushAt && c.flush() != nil {
				return
			}
		}
		if c.r == c.w && c.flush() != nil {
			return
		}
	}
}

// wsFail sends close 1002 (protocol error).
func (c *conn) wsFail() {
	var code [2]byte
	binary.BigEndian.PutUint16(code[:], wsCloseProtocolError)
	c.appendFrame(wsClose, true, code[:])
	c.flush()
}

func (c *conn) appendFrame(op byte, fin bool, payload []byte) {
	c.appendFrameHeader(op, fin, int64(len(payload)))
	c.out = append(c.out, payload...)
}

// appendFrameHeader queues an unmasked frame header.
func (c *conn) appendFrameHeader(op byte, fin bool, n int64) {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	switch {
	case n <= 125:
		c.out = append(c.out, b0, byte(n))
	case n <= 0xffff:
		c.out = append(c.out, b0, 126)
		c.out = binary.BigEndian.AppendUint16(c.out, uint16(n))
	default:
		c.out = append(c.out, b0, 127)
		c.out = binary.BigEndian.AppendUint64(c.out, uint64(n))
	}
}

// unmask XORs p with key, starting at key index pos.
func unmask(p []byte, key [4]byte, pos int) {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
}

func cutComma(p []byte) ([]byte, []byte) {
	for i, b := range p {
		if b == ',' {
			return trimOWS(p[:i]), p[i+1:]
		}
	}
	return trimOWS(p), nil
}
