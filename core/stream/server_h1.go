package stream

import (
	"io"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/transport"
)

// h1Server is the server side of an attempt on an HTTP/1.1 connection
// (connector). An HTTP/1.1 client's request goes out as it came — its
// head unless a rule edited it, its body framing — in the same write as
// the body bytes at hand; a body read as content is framed anew (chunked
// when its length is unknown, RFC 9112 §7.1). The response is parsed in
// place in the connection's buffer and relayed from there: head and first
// body bytes in one write, chunks as received to an HTTP/1.1 client. The
// connection goes back to the server's pool when both sides keep it.
type h1Server struct {
	sc *backend.ServerConn
	// pending is how many bytes of sc.Buf the client has been given and
	// are dropped before the next read.
	pending int
	// The final response's framing, kept once the head is forgotten, and
	// what a Content-Length body still has to bring.
	kind h1.BodyKind
	keep bool
	left int64
}

func (h *h1Server) passesFraming() bool { return true }

func (h *h1Server) waitsContinue(x *exchange) bool {
	return x.txn.Req.ExpectContinue && !x.streamed()
}

func (h *h1Server) sendHead(cc *Conn, x *exchange, atHand []byte) error {
	sc := h.sc
	var out []byte
	if x.streamed() {
		req := &x.txn.Req
		x.out = h1.AppendRequestHead(x.out[:0], req)
		if req.Body == h1.BodyChunked && h1.Count(req.Fields, "transfer-encoding") == 0 {
			x.out = appendChunkedField(x.out)
		}
		out = x.out
	} else {
		out = cc.requestBytes(x, atHand)
	}
	n, err := sc.Write(out)
	if err == nil {
		return nil
	}
	// A pooled connection the server closed while it sat idle is not
	// used (Server.Get peeks at it first); one it closes as the request
	// goes out fails it. The request did not reach the server when
	// nothing of it was written, when only a head went (a server cannot
	// act on a partial head), or when the server reset the connection
	// (its socket was closed with the request unread).
	switch {
	case !sc.Reused:
		return errServerAbort
	case n == 0 || x.streamed() || sc.ResetByPeer(err):
		return errServerUnprocessed
	}
	return errServerIdleClosed
}

// requestBytes returns the request head as it goes to a server, followed
// by body, the part of the body already read. The head goes out as
// received unless a rule edited it; then it is serialised once.
func (cc *Conn) requestBytes(x *exchange, body []byte) []byte {
	req := &x.txn.Req
	if x.txn.ReqEdited {
		x.out = h1.AppendRequestHead(x.out[:0], req)
		x.out = append(x.out, body...)
		return x.out
	}
	return cc.buf.Data()[:req.HeadLen+len(body)]
}

func (h *h1Server) sendBody(_ *Conn, x *exchange, p []byte, end bool) error {
	out := p
	if x.streamed() && x.txn.Req.Body == h1.BodyChunked {
		// Content, framed here in the chunks the head announced.
		if !end {
			x.out = appendBody(x.out[:0], p, true, false)
			out = x.out
		} else if tr := x.takeRequestTrailers(); len(tr) > 0 {
			x.out = appendLastChunk(x.out[:0], tr)
			out = x.out
		} else {
			out = lastChunk
		}
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := h.sc.Write(out); err != nil {
		if h.sc.Reused && h.sc.ResetByPeer(err) {
			return errServerUnprocessed
		}
		return errServerAbort
	}
	return nil
}

func (h *h1Server) readHead(cc *Conn, x *exchange) ([]byte, error) {
	sc, resp := h.sc, &x.txn.Resp
	h.consume()
	for {
		err := h1.ParseResponse(resp, sc.Buf.Data(), &cc.fe.Limits, x.method)
		if err == nil {
			break
		}
		if _, ok := err.(*h1.Error); ok || sc.Buf.Full() {
			return nil, errServerBadResponse
		}
		if _, err := sc.Fill(&sc.Buf); err != nil {
			switch {
			case transport.IsTimeout(err):
				return nil, errServerTimeout
			case !sc.Reused || sc.Buf.Len() > 0:
				return nil, errServerAbort
			case x.ttfb < 0 && sc.ResetByPeer(err):
				return nil, errServerUnprocessed
			}
			return nil, errServerIdleClosed
		}
	}
	h.pending = resp.HeadLen
	return sc.Buf.Data()[:resp.HeadLen], nil
}

func (h *h1Server) startBody(_ *Conn, x *exchange) (raw, content []byte, done bool, err error) {
	resp := &x.txn.Resp
	data := h.sc.Buf.Data()
	rest := data[resp.HeadLen:]
	h.kind, h.keep = resp.Body, resp.KeepAlive
	var body []byte // the bytes of the body in the buffer
	switch resp.Body {
	case h1.BodyNone:
		done = true
	case h1.BodyLength:
		n := min(int64(len(rest)), resp.ContentLength)
		body, h.left, done = rest[:n], resp.ContentLength-n, n == resp.ContentLength
		content = body
	case h1.BodyChunked:
		x.chunk.Reset()
		n, d, c, err := x.scanChunked(rest)
		if err != nil {
			return nil, nil, false, errServerBadResponse
		}
		body, content, done = rest[:n], c, d
	case h1.BodyUntilClose:
		body, content = rest, rest
	}
	h.pending = resp.HeadLen + len(body)
	return data[:h.pending], content, done, nil
}

func (h *h1Server) readBody(_ *Conn, x *exchange) (content []byte, done bool, err error) {
	sc := h.sc
	h.consume()
	if _, err := sc.Fill(&sc.Buf); err != nil {
		switch {
		case h.kind == h1.BodyUntilClose && err == io.EOF:
			return nil, true, nil
		case transport.IsTimeout(err):
			return nil, false, errServerTimeout
		}
		return nil, false, errServerAbort
	}
	data := sc.Buf.Data()
	n := len(data)
	content = data
	switch h.kind {
	case h1.BodyLength:
		if int64(n) >= h.left {
			n, done = int(h.left), true
		}
		h.left -= int64(n)
		content = data[:n]
	case h1.BodyChunked:
		var err error
		if n, done, content, err = x.scanChunked(data); err != nil {
			return nil, false, errServerBadResponse
		}
	}
	h.pending = n
	return content, done, nil
}

// consume drops the bytes the client has been given.
func (h *h1Server) consume() {
	if h.pending > 0 {
		h.sc.Buf.Consume(h.pending)
		h.pending = 0
	}
}

// upgrade relays the 101 response, still whole in the buffer, and runs
// the tunnel (tcp.go).
func (h *h1Server) upgrade(cc *Conn, x *exchange, be *generation.Backend) (stepResult, bool) {
	h.pending = 0
	sc := h.sc
	h.sc = nil
	return cc.tunnelUpgrade(x, be, sc), true
}

// finish pools the connection when the server keeps it open, the
// response was read to its end with nothing after it, the request went
// out whole and no one closed the connection under the stream.
func (h *h1Server) finish(x *exchange, reuse bool) {
	sc := h.sc
	h.consume()
	if h.kind != h1.BodyUntilClose && h.keep && sc.Buf.Len() == 0 && reuse && x.fr.keepsServerConn() {
		sc.Srv.Put(sc, time.Now())
	} else {
		sc.Close()
	}
	*h = h1Server{}
}

// cancel: an HTTP/1.1 server connection is closed from elsewhere through
// the slot the client's front keeps (clientFront.serverConn), where
// connect puts it before the connector exists.
func (h *h1Server) cancel() {}

func (h *h1Server) abort(*exchange) {
	if h.sc != nil {
		h.sc.Close()
	}
	*h = h1Server{}
}

// scanChunked delimits a piece of a chunked response body: n bytes of p
// belong to it, and content is what the client gets — p[:n] itself for an
// HTTP/1.1 client, which gets the chunks as they are, the chunk data for
// an HTTP/2 one.
func (x *exchange) scanChunked(p []byte) (n int, done bool, content []byte, err error) {
	if x.passChunks() {
		n, done, err = x.chunk.Scan(p)
		return n, done, p[:n], err
	}
	if fr := x.flt; fr != nil && len(fr.started) > 0 {
		// Filters see the trailer section (filter_trailers.go).
		n, done, x.dechunk, err = x.chunk.ScanDataTrailers(p, x.dechunk[:0], &fr.respTr.raw)
		return n, done, x.dechunk, err
	}
	n, done, x.dechunk, err = x.chunk.ScanData(p, x.dechunk[:0])
	return n, done, x.dechunk, err
}
