package h2

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ClientRequest is a request header section to send.
type ClientRequest struct {
	// Method, Scheme, Authority and Path become the pseudo-header fields.
	// Method is required; Scheme and Path too unless Method is CONNECT
	// (then Authority is required and Scheme and Path are not sent). An
	// empty Authority is taken from a host field in Fields, if any.
	Method, Scheme, Authority, Path string
	// Fields are the regular fields. Names are lowercased; pseudo-header
	// and connection-specific fields (connection, keep-alive,
	// proxy-connection, transfer-encoding, upgrade, and host, which is
	// carried as :authority) are dropped, te is kept only when "trailers",
	// and fields whose value holds NUL, CR or LF are dropped.
	Fields []hpack.HeaderField
	// EndStream: the request has no body (HEADERS carry END_STREAM).
	EndStream bool
}

// ClientResponse is a response header section, validated per RFC 9113 §8.
type ClientResponse struct {
	Status int
	// Fields are the regular fields in order; names are lowercase.
	Fields        []hpack.HeaderField
	ContentLength int64 // from content-length, -1 when absent
	EndStream     bool  // the HEADERS carried END_STREAM: no body, no trailers
}

// ClientStream is one request/response exchange on a ClientConn. Its
// methods are safe for concurrent use: the request body may be written in
// one goroutine while the response is read in another.
//
// States (RFC 9113 §5.1, client side): open → half-closed (local) once
// END_STREAM is sent (EndStream, CloseWrite, WriteTrailers), →
// half-closed (remote) once the response's END_STREAM arrives; closed when
// both are done (Done closes, Err nil), on RST_STREAM either way, on a
// GOAWAY that leaves it out, or when the connection ends (Done closes, Err
// says why). The unread response body stays readable after a normal close;
// every stream must be read to io.EOF or Reset, or its buffer is kept.
type ClientStream struct {
	// Its state, windows and body (flow.go); guarded by c.mu but for the
	// immutable id, done and cond.
	streamFlow

	// Immutable after OpenStream:
	c    *ClientConn
	head bool // a HEAD request: the response has no content

	// Guarded by c.mu:
	resps         []ClientResponse
	finalRecv     bool // the final response HEADERS arrived
	finalRead     bool // ReadResponse returned it
	noBody        bool // HEAD, 204 or 304: content-length says nothing of DATA
	contentLength int64
}

// OpenStream sends a request's HEADERS (and CONTINUATION frames, split by
// the server's SETTINGS_MAX_FRAME_SIZE). When the connection cannot take
// the stream (closing, draining, at the server's stream limit, ids
// exhausted) it sends nothing and returns an error wrapping ErrRetryable:
// the caller may use another connection. A request HTTP/2 cannot carry
// returns ErrBadRequest. A write error fails the connection and is
// returned wrapping ErrConnClosed.
func (c *ClientConn) OpenStream(r *ClientRequest) (*ClientStream, error) {
	connect := r.Method == "CONNECT"
	authority := r.authority()
	switch {
	case !isToken(r.Method):
		return nil, fmt.Errorf("%w: invalid :method %q", ErrBadRequest, r.Method)
	case connect && authority == "":
		return nil, fmt.Errorf("%w: CONNECT without :authority", ErrBadRequest)
	case !connect && (r.Scheme == "" || r.Path == ""):
		return nil, fmt.Errorf("%w: missing :scheme or :path", ErrBadRequest)
	}
	c.lockW()
	c.mu.Lock()
	if err := c.canTakeLocked(); err != nil {
		c.mu.Unlock()
		c.unlockW()
		return nil, err
	}
	if lim := c.peerMaxHeaderList; lim > 0 {
		if size := headerListSize(r); size > lim {
			c.mu.Unlock()
			c.unlockW()
			return nil, fmt.Errorf("%w: header list of %d bytes, the server accepts %d: %w", ErrBadRequest, size, lim, ErrHeaderListTooLarge)
		}
	}
	id := c.nextID
	c.nextID += 2
	s := &ClientStream{c: c, head: r.Method == "HEAD", contentLength: -1}
	c.initFlowLocked(&s.streamFlow, id)
	s.endSent = r.EndStream
	c.streams[id] = s
	maxFrame := c.peerMaxFrame
	c.mu.Unlock()

	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":method", Value: r.Method})
	if !connect {
		c.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: r.Scheme})
	}
	if authority != "" {
		c.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: authority})
	}
	if !connect {
		c.enc.WriteField(hpack.HeaderField{Name: ":path", Value: r.Path})
	}
	for _, f := range r.Fields {
		if g, ok := requestField(f, false); ok {
			c.enc.WriteField(g)
		}
	}
	c.writeBlockLocked(id, r.EndStream, maxFrame)
	if err := c.unlockW(); err != nil {
		return nil, err // the connection is aborted, s with it
	}
	return s, nil
}

// Write sends request body bytes in DATA frames, split by the server's
// SETTINGS_MAX_FRAME_SIZE and limited by the stream and connection send
// windows. It blocks while a window is zero, up to ZeroWindowTimeout; then
// the stream is reset (CANCEL; the connection drains too when its window
// is the one at zero) and Write returns an error wrapping ErrZeroWindow.
// After the server ended the stream early (a complete
// response then RST_STREAM(NO_ERROR), RFC 9113 §8.1) Write returns
// ErrStreamClosed: the rest of the body is not wanted.
func (s *ClientStream) Write(p []byte) (int, error) {
	return s.c.writeBody(s, p, false)
}

// CloseWrite ends the request body: an empty DATA frame with END_STREAM.
// It returns nil when END_STREAM was already sent, or when the server has
// ended the stream normally.
func (s *ClientStream) CloseWrite() error {
	c := s.c
	c.mu.Lock()
	endSent, closed, err := s.endSent, s.closed, s.err
	c.mu.Unlock()
	switch {
	case endSent:
		return nil
	case closed:
		return err
	}
	err = c.writeData(s, nil, true)
	if errors.Is(err, ErrStreamClosed) {
		return nil // ended meanwhile
	}
	return err
}

// WriteTrailers ends the request with a trailer section (HEADERS with
// END_STREAM). Fields are filtered as ClientRequest.Fields are (te is
// dropped). With no field it is CloseWrite.
func (s *ClientStream) WriteTrailers(fields []hpack.HeaderField) error {
	if len(fields) == 0 {
		return s.CloseWrite()
	}
	c := s.c
	return c.writeTrailers(s, fields, nil, func(f hpack.HeaderField) {
		if g, ok := requestField(f, true); ok {
			c.enc.WriteField(g)
		}
	})
}

// ReadResponse waits for the next response header section: an interim
// (1xx) one or the final one, validated per RFC 9113 §8 (a malformed one
// resets the stream with PROTOCOL_ERROR, and the error wraps
// ErrMalformedResponse). After the final one it returns ErrResponseRead.
func (s *ClientStream) ReadResponse() (*ClientResponse, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case s.closed && s.err != nil:
			return nil, s.err
		case len(s.resps) > 0:
			r := s.resps[0]
			s.resps[0] = ClientResponse{}
			s.resps = s.resps[1:]
			if len(s.resps) == 0 {
				s.resps = nil
			}
			if r.Status >= 200 {
				s.finalRead = true
			}
			return &r, nil
		case s.finalRead:
			return nil, ErrResponseRead
		case s.closed:
			return nil, ErrStreamClosed
		}
		s.cond.Wait()
	}
}

// Read reads the response body. It returns io.EOF after the server's
// END_STREAM, and an error when the stream was reset or the connection
// ended (the body is then incomplete), including when the body's length
// differs from content-length. Flow-control credit goes back to the server
// as the body is read.
func (s *ClientStream) Read(p []byte) (int, error) {
	return s.c.read(&s.streamFlow, p)
}

// Reset ends the stream at once with RST_STREAM(code), unless it is already
// closed, and drops the unread body. Err is then a *ResetError (unless the
// stream had ended normally before).
func (s *ClientStream) Reset(code http2.ErrCode) {
	c := s.c
	c.resetStream(s.id, s, code, nil)
	c.mu.Lock()
	s.recv.release()
	s.resps = nil
	c.mu.Unlock()
}

// buildResponse validates a decoded response header section and returns
// the ClientResponse, or a reason when it is malformed (RFC 9113 §8.1.1,
// §8.3.2: exactly one :status and no other pseudo-header field, before the
// regular fields; regular fields as checkField says, te included; 101 is
// not allowed, §8.6; an interim response cannot end the stream).
func buildResponse(fields []hpack.HeaderField, endStream bool) (ClientResponse, string) {
	resp := ClientResponse{ContentLength: -1, EndStream: endStream}
	statusSeen, regular := false, false
	for _, f := range fields {
		if len(f.Name) == 0 {
			return resp, "empty field name"
		}
		if f.Name[0] == ':' {
			switch {
			case regular:
				return resp, "pseudo-header field after a regular field"
			case f.Name != ":status":
				return resp, "pseudo-header field " + f.Name + " in a response"
			case statusSeen:
				return resp, "duplicate :status"
			}
			statusSeen = true
			code, ok := parseStatus(f.Value)
			if !ok {
				return resp, "invalid :status"
			}
			resp.Status = code
			continue
		}
		regular = true
		skip, reason := regularField(f, &resp.ContentLength)
		switch {
		case reason != "":
			return resp, reason
		case skip:
			continue
		case f.Name == "te":
			return resp, "connection-specific field te"
		}
		resp.Fields = append(resp.Fields, hpack.HeaderField{Name: f.Name, Value: f.Value})
	}
	switch {
	case !statusSeen:
		return resp, "missing :status"
	case resp.Status == 101:
		return resp, ":status 101 in HTTP/2"
	case resp.Status < 200 && endStream:
		return resp, "interim response with END_STREAM"
	}
	if resp.Status < 200 {
		resp.ContentLength = -1 // says nothing of the final response
	}
	return resp, ""
}

// parseStatus parses a :status value: exactly three digits, 100 to 999
// (RFC 9110 §15).
func parseStatus(s string) (int, bool) {
	if len(s) != 3 || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' {
		return 0, false
	}
	return n, true
}
