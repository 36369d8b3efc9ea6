package stream

import (
	"bytes"
	"strings"
	"time"

	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/session"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wantsH2 reports whether the connection speaks HTTP/2: ALPN chose h2, or
// the frontend serves h2c and the client opened with the preface. ok is
// false when the client went away before saying.
func (cc *Conn) wantsH2() (isH2, ok bool) {
	if t := cc.conn.TLS; t != nil {
		return t.ALPN == "h2", true
	}
	if !cc.fe.H2.Cleartext {
		return false, true
	}
	for {
		d := cc.buf.Data()
		n := min(len(d), len(h2.Preface))
		if string(d[:n]) != h2.Preface[:n] {
			return false, true
		}
		if n == len(h2.Preface) {
			return true, true
		}
		if _, err := cc.c.Fill(&cc.buf); err != nil {
			return false, false
		}
	}
}

// serveH2 drives an HTTP/2 client connection until it ends.
func (cc *Conn) serveH2() {
	fe := cc.fe
	// core/h2 bounds idleness and stalls itself; the socket's read waits
	// for frames with no deadline, while writes keep the client timeout.
	cc.c.ReadDeadline = time.Time{}
	cc.c.ReadTimeout = 0
	cc.c.WriteTimeout = fe.Timeouts.Client
	pre := bytes.Clone(cc.buf.Data())
	cc.buf.Consume(len(pre))
	cc.buf.Release()
	conn := h2.NewConn(cc.c, pre, fe.H2.Cfg, cc.serveH2Stream)
	if idleWatcher() != nil {
		conn.SetParker(h2Parker{cc}, ParkAfter)
	}
	cc.h2.Store(conn)
	if cc.p.Draining.Load() {
		conn.Shutdown()
	}
	cc.h2Served(conn.Serve())
}

// serveH2Stream runs one HTTP/2 stream, on its own goroutine.
func (cc *Conn) serveH2Stream(s *h2.Stream) {
	defer func() {
		if r := recover(); r != nil {
			// A bug must cost one stream, never the process (the
			// exchange is dropped rather than pooled in an unknown state).
			cc.p.Log.Error("stream handler panicked", "frontend", cc.fe.Name, "stream", s.ID(), "panic", r)
			s.Reset(http2.ErrCodeInternal)
		}
	}()
	x := exchangePool.Get().(*exchange)
	f := &x.h2f
	f.s = s
	x.fr = f
	if f.abort == nil {
		f.abort = x.clientAborted // bound once per pooled exchange
	}
	s.OnAbort(f.abort)
	cc.beginStream(x)
	cc.handleH2(x)
	s.OnAbort(nil) // x goes back to the pool: the callback must be done with it
	if !f.ended {
		// The response did not end well: the client must not take
		// what it got for a complete response.
		s.Reset(http2.ErrCodeInternal)
	}
	cc.finishStream(x)
	x.reset()
	exchangePool.Put(x)
}

// clientAborted is the client stream's OnAbort callback, run by the frame
// loop when the client resets the stream or the connection dies: it
// closes the stream's HTTP/1.1 server connection, which the front keeps
// (serverConn), and has the connector end its own attempt (cancelServer:
// an HTTP/2 server's stream is reset), so that a reset stream frees its
// server at once rather than at the server's timeout.
func (x *exchange) clientAborted() {
	if sc := x.h2f.sconn.Swap(nil); sc != nil {
		sc.Close()
	}
	x.cancelServer()
}

// handleH2 makes the stream's request an HTTP/1.1 transaction and routes
// it.
func (cc *Conn) handleH2(x *exchange) {
	strm := &x.strm
	r := x.h2f.s.Request()
	if r.Method == "CONNECT" {
		// Extended CONNECT and tunnels over HTTP/2 are not served.
		strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
		cc.replyError(x, 501)
		return
	}
	if status := x.h2f.request(x, r); status != 0 {
		strm.Term.Set(session.CauseBadRequest, session.PhaseRequest)
		cc.replyError(x, status)
		return
	}
	req := &x.txn.Req
	x.method = append(x.method[:0], req.Method...)
	x.uri = append(x.uri[:0], req.URI...)
	cc.route(x)
}

// request fills the transaction's request from an HTTP/2 request, in
// one slab of storage owned by the front. It returns the status of the
// error reply when the request cannot be carried over HTTP/1.1.
func (f *h2Front) request(x *exchange, r *h2.Request) int {
	if r.Path == "" || r.Path[0] != '/' && r.Path != "*" || !h1.ValidTarget(r.Path) {
		return 400
	}
	b := slabFor(&f.buf, len(r.Method)+len(r.Path)+len("host")+len(r.Authority), r.Fields)
	add := b.add
	req := &x.txn.Req
	req.Reset()
	req.Minor = 1
	req.KeepAlive = true
	req.Method = add(r.Method)
	req.URI = add(r.Path)
	req.Path = req.URI
	if i := bytes.IndexByte(req.URI, '?'); i >= 0 {
		req.Path, req.Query = req.URI[:i], req.URI[i+1:]
	}
	if r.Authority != "" {
		// An HTTP/1.1 server needs Host; core/h2 made sure a Host field,
		// if any, says the same.
		req.Host = add(r.Authority)
		req.Fields = append(req.Fields, h1.Field{Name: add("host"), Value: req.Host})
	}
	continued := false
	for _, f := range r.Fields {
		switch f.Name {
		case "host":
			continue // carried by :authority
		case "expect":
			// The proxy reads the body from the client itself; it says
			// 100 Continue below rather than make the client wait.
			continued = continued || f.Value == "100-continue"
			continue
		}
		if !h1.ValidFieldName([]byte(f.Name)) || !h1.ValidFieldValue([]byte(f.Value)) {
			return 400
		}
		req.Fields = append(req.Fields, h1.Field{Name: add(f.Name), Value: add(f.Value)})
	}
	switch {
	case r.EndStream:
		req.Body = h1.BodyNone
	case r.ContentLength >= 0:
		req.Body, req.ContentLength = h1.BodyLength, r.ContentLength
	default:
		// A body of unknown length: an HTTP/1.1 server gets it chunked
		// (h1Server says so in the head it writes).
		req.Body = h1.BodyChunked
	}
	f.buf = *b
	x.strm.BytesIn += int64(len(*b))
	if continued && req.Body != h1.BodyNone {
		f.s.WriteHeaders(100, nil, false)
	}
	return 0
}

// slab is storage that field copies are cut from. It is sized before the
// first copy, so the slices handed out never move.
type slab []byte

// add copies s into the slab and returns the copy.
func (b *slab) add(s string) []byte {
	i := len(*b)
	*b = append(*b, s...)
	return (*b)[i:len(*b):len(*b)]
}

// slabFor returns the scratch buf as a slab with room for extra bytes and
// every name and value of fields; the caller stores the slab back in buf
// when done.
func slabFor(buf *[]byte, extra int, fields []hpack.HeaderField) *slab {
	for _, f := range fields {
		extra += len(f.Name) + len(f.Value)
	}
	if cap(*buf) < extra {
		*buf = make([]byte, 0, extra)
	}
	b := slab((*buf)[:0])
	return &b
}

// writeHeadOnly sends a response head on the stream.
func (f *h2Front) writeHeadOnly(x *exchange, resp *h1.Response, endStream bool) error {
	fs := f.headFields(x, resp)
	err := f.s.WriteHeaders(resp.Status, fs, endStream)
	clear(fs)
	if err == nil && endStream {
		f.ended = true
	}
	return err
}

// writeResponse sends a whole response, head and body, on the stream:
// one write when the flow-control windows allow.
func (f *h2Front) writeResponse(x *exchange, resp *h1.Response, body []byte) error {
	fs := f.headFields(x, resp)
	err := f.s.WriteResponse(resp.Status, fs, body)
	clear(fs)
	if err == nil {
		f.ended = true
		x.strm.BytesOut += int64(len(body))
	}
	return err
}

// headFields returns the fields of a response head for HTTP/2, in the
// front's scratch (cleared by the caller once sent).
func (f *h2Front) headFields(x *exchange, resp *h1.Response) []hpack.HeaderField {
	fs := h2Fields(f.fields[:0], &x.name, resp.Fields, "")
	f.fields = fs[:0]
	for _, hf := range fs {
		x.strm.BytesOut += int64(len(hf.Name) + len(hf.Value) + 4)
	}
	return fs
}

// h2Fields appends HTTP/1.1 fields to dst as HTTP/2 ones (cleared by the
// caller once sent): names lowercased (in scratch when not common),
// without the fields a Connection field names (hop-by-hop; core/h2 drops
// the standard ones) and without the field called drop, if any.
func h2Fields(dst []hpack.HeaderField, scratch *[]byte, fields []h1.Field, drop string) []hpack.HeaderField {
	hopByHop := h1.Count(fields, "connection") > 0
	for _, f := range fields {
		if hopByHop && connectionNamed(fields, f.Name) || drop != "" && session.EqualFold(f.Name, []byte(drop)) {
			continue
		}
		dst = append(dst, hpack.HeaderField{Name: h2Name(scratch, f.Name), Value: string(f.Value)})
	}
	return dst
}

// commonNames are field names HTTP/2 heads carry often, lowercase: a name
// among them costs no allocation (h2Name). The strings must not alias
// reused buffers, as the HPACK encoder's table keeps them.
var commonNames = [...]string{
	"content-length", "content-type", "date", "server", "cache-control",
	"etag", "last-modified", "location", "set-cookie", "vary", "expires",
	"accept-ranges", "content-encoding", "age", "x-forwarded-for", "forwarded",
	"user-agent", "accept", "accept-encoding", "accept-language", "cookie",
	"authorization", "referer", "traceparent", "tracestate",
}

// h2Name returns an HTTP/1.1 field name lowercased, as HTTP/2 writes it,
// lowercasing in scratch.
func h2Name(scratch *[]byte, name []byte) string {
	for _, c := range commonNames {
		if len(c) == len(name) && session.EqualFold(name, []byte(c)) {
			return c
		}
	}
	b := append((*scratch)[:0], name...)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	*scratch = b
	return string(b)
}

// connectionNamed reports whether a Connection field lists name.
func connectionNamed(fields []h1.Field, name []byte) bool {
	for _, f := range fields {
		if !session.EqualFold(f.Name, []byte("connection")) {
			continue
		}
		for tok := range bytes.SplitSeq(f.Value, []byte(",")) {
			if session.EqualFold(bytes.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// writeContent sends response content on the stream, and ends the
// stream when done.
func (f *h2Front) writeContent(x *exchange, p []byte, done bool) error {
	if done {
		if err := f.s.WriteLast(p); err != nil {
			return err
		}
		x.strm.BytesOut += int64(len(p))
		f.ended = true
		return nil
	}
	if len(p) > 0 {
		if _, err := f.s.Write(p); err != nil {
			return err
		}
		x.strm.BytesOut += int64(len(p))
	}
	return nil
}

// hpackFields makes a trailer section HTTP/2's: lower-case names.
func hpackFields(fs []h1.Field) []hpack.HeaderField {
	out := make([]hpack.HeaderField, 0, len(fs))
	for _, f := range fs {
		out = append(out, hpack.HeaderField{Name: strings.ToLower(string(f.Name)), Value: string(f.Value)})
	}
	return out
}

// addH2 appends an HTTP/2 trailer section to what filters see.
func (t *trailerView) addH2(fs []hpack.HeaderField) {
	for _, f := range fs {
		t.fields = append(t.fields, h1.Field{Name: []byte(f.Name), Value: []byte(f.Value)})
	}
}
