package stream

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/transport"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Server is the server side of an attempt on a stream of a pooled
// HTTP/2 connection (connector; the pool is h2up.go's). The request —
// from an HTTP/1.1 or an HTTP/2 client — becomes an HTTP/2 request (RFC
// 9113 §8.3.1), its body sent as content; the response head's fields are
// copied into the transaction (h2Response), so the response rules and
// filters see it as any other, and the client's front sends it in the
// client's protocol. The server timeout bounds each wait for the server —
// the response head, then every read of the body — by resetting the
// stream when it fires; a client that resets its own stream resets this
// one (cancel).
type h2Server struct {
	h2Attempt
	// live is the stream while it is open, shared with the client's frame
	// loop: a client resetting its stream resets this one (cancel).
	// Atomic for that reason.
	live atomic.Pointer[h2.ClientStream]
	// Scratch kept across streams: the request's fields, the slab the
	// response head's fields are copied into.
	fields []hpack.HeaderField
	buf    []byte
}

// h2Attempt is an h2Server's state for one attempt.
type h2Attempt struct {
	up *h2.ClientConn // the connection connect chose, until the stream opens
	cs *h2.ClientStream
	// The server timeout: its timer, its length, and whether it fired
	// (one flag per stream: a late timer must not mark the next one).
	timer    *time.Timer
	timeout  time.Duration
	timedOut *atomic.Bool
	// endStream: the final head ended the stream (no body).
	endStream bool
	// The response body: the buffer it is read into, and the error that
	// ended the reads (io.EOF at its end), once met.
	bp   *[]byte
	rerr error
}

func (h *h2Server) passesFraming() bool { return false }

func (h *h2Server) waitsContinue(*exchange) bool { return false }

func (h *h2Server) sendHead(cc *Conn, x *exchange, atHand []byte) error {
	req := &x.txn.Req
	r := h2.ClientRequest{Method: string(req.Method), Scheme: "http", Path: string(req.URI), EndStream: req.Body == h1.BodyNone}
	if ls := cc.l4.Servers[x.srv]; ls.TLS != nil {
		r.Scheme = "https"
	}
	if len(req.URI) == 0 || req.URI[0] != '/' && string(req.URI) != "*" {
		// Absolute form from an HTTP/1.1 client: the path goes on, the
		// authority travels as :authority.
		r.Path = string(req.Path)
		if req.Query != nil {
			r.Path += "?" + string(req.Query)
		}
	}
	if host, ok := h1.Lookup(req.Fields, "host", 1); ok {
		r.Authority = string(host)
	}
	// The proxy reads the body from the client itself: no Expect.
	fs := h2Fields(h.fields[:0], &x.name, req.Fields, "expect")
	h.fields = fs[:0]
	r.Fields = fs
	cs, err := h.up.OpenStream(&r)
	h.up = nil
	clear(fs)
	if err != nil {
		if errors.Is(err, h2.ErrRetryable) { // nothing was sent
			return errServerRefused
		}
		return errServerAbort
	}
	h.cs = cs
	// A client that resets its stream resets this one (cancel).
	h.live.Store(cs)
	if x.fr.clientErr(x) != nil { // reset before cancel could see it
		cs.Reset(http2.ErrCodeCancel)
	}
	timedOut := new(atomic.Bool)
	h.timedOut = timedOut
	if h.timeout > 0 {
		h.timer = time.AfterFunc(h.timeout, func() {
			timedOut.Store(true)
			cs.Reset(http2.ErrCodeCancel)
		})
	}
	if len(atHand) > 0 {
		if _, err := cs.Write(atHand); err != nil {
			return h.failure(err)
		}
	}
	return nil
}

// failure says what a failed read or write of the stream was.
func (h *h2Server) failure(err error) error {
	switch {
	case errors.Is(err, h2.ErrRetryable):
		return errServerUnprocessed
	case h.timedOut != nil && h.timedOut.Load():
		return errServerTimeout
	}
	return errServerAbort
}

func (h *h2Server) sendBody(_ *Conn, x *exchange, p []byte, end bool) error {
	if len(p) > 0 {
		if _, err := h.cs.Write(p); err != nil {
			return h.failure(err)
		}
	}
	if end {
		if err := closeRequest(h.cs, x.takeRequestTrailers()); err != nil {
			return h.failure(err)
		}
	}
	return nil
}

// closeRequest ends a request's body on an HTTP/2 server's stream, with the
// trailer section filters let through when there is one.
func closeRequest(cs *h2.ClientStream, trailers []h1.Field) error {
	if len(trailers) > 0 {
		return cs.WriteTrailers(hpackFields(trailers))
	}
	return cs.CloseWrite()
}

func (h *h2Server) readHead(_ *Conn, x *exchange) ([]byte, error) {
	resp, err := h.cs.ReadResponse()
	if err != nil {
		return nil, h.failure(err)
	}
	if resp.Status == 101 {
		// HTTP/2 has no upgrade (RFC 9113 §8.6).
		h.cs.Reset(http2.ErrCodeProtocol)
		return nil, errServerBadResponse
	}
	h.endStream = resp.EndStream
	h.response(x, resp, &x.txn.Req)
	return nil, nil
}

// response makes an HTTP/2 response head the transaction's HTTP/1.1
// one, in one slab of storage owned by the connector, framed for the
// client: an HTTP/1.1 client gets a body of unknown length chunked.
func (h *h2Server) response(x *exchange, r *h2.ClientResponse, req *h1.Request) {
	b := slabFor(&h.buf, 0, r.Fields)
	add := b.add
	resp := &x.txn.Resp
	resp.Reset()
	resp.Minor, resp.Status, resp.KeepAlive = 1, r.Status, true
	for _, f := range r.Fields {
		resp.Fields = append(resp.Fields, h1.Field{Name: add(f.Name), Value: add(f.Value)})
	}
	switch {
	case r.Status < 200:
		resp.Body = h1.BodyNone
	case r.EndStream || string(req.Method) == "HEAD" || r.Status == 204 || r.Status == 304:
		resp.Body = h1.BodyNone
	case r.ContentLength >= 0:
		resp.Body, resp.ContentLength = h1.BodyLength, r.ContentLength
	case x.fr.passChunks() && req.Minor == 1:
		resp.Body = h1.BodyChunked // the HTTP/1.1 front frames it (front.go)
	default:
		// An HTTP/1.0 client learns the end from the close.
		resp.Body = h1.BodyUntilClose
		resp.KeepAlive = false
	}
	h.buf = *b
}

// startBody: HTTP/2 frames carry no bytes to pass through; the body, if
// any, comes from readBody.
func (h *h2Server) startBody(*Conn, *exchange) (raw, content []byte, done bool, err error) {
	return nil, nil, h.endStream, nil
}

func (h *h2Server) readBody(_ *Conn, x *exchange) (content []byte, done bool, err error) {
	if h.bp == nil {
		h.bp = transport.GetBuf()
	}
	for h.rerr == nil {
		n, err := h.cs.Read(*h.bp)
		if h.timer != nil {
			h.timer.Reset(h.timeout)
		}
		h.rerr = err
		if n > 0 {
			return (*h.bp)[:n], false, nil
		}
	}
	if h.rerr != io.EOF {
		return nil, false, h.failure(h.rerr)
	}
	if x.flt != nil {
		x.flt.respTr.addH2(h.cs.Trailers()) // for the filters (filter_trailers.go)
	}
	return nil, true, nil
}

// upgrade: HTTP/2 has none (readHead refuses a 101).
func (h *h2Server) upgrade(*Conn, *exchange, *generation.Backend) (stepResult, bool) {
	return keepOpen, false
}

// finish ends the attempt. A stream the response head ended (END_STREAM)
// is reset as well: nothing more of it is wanted. A HEAD or 304 response
// whose head did not end the stream is read to its end like any other
// (relay), and then ends with it.
func (h *h2Server) finish(x *exchange, _ bool) {
	if h.endStream {
		h.cs.Reset(http2.ErrCodeCancel)
	}
	h.end(x)
}

func (h *h2Server) abort(x *exchange) {
	if h.cs != nil {
		h.cs.Reset(http2.ErrCodeCancel)
	}
	h.end(x)
}

// end stops the timer and forgets the stream.
func (h *h2Server) end(x *exchange) {
	if h.timer != nil {
		h.timer.Stop()
	}
	if h.bp != nil {
		transport.PutBuf(h.bp)
	}
	if h.cs != nil {
		h.live.Store(nil)
	}
	h.h2Attempt = h2Attempt{}
}

// cancel resets the stream from the client's frame loop, when the client
// reset its own stream; a no-op between attempts.
func (h *h2Server) cancel() {
	if cs := h.live.Swap(nil); cs != nil {
		// A reset is written to the server's connection and may wait for
		// it: not under the client connection's lock, which OnAbort holds.
		go cs.Reset(http2.ErrCodeCancel)
	}
}
