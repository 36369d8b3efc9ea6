package generation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/transport"
)

// filterCaller sends filters' HTTP calls (proxy_http_call) to the
// generation's backends, through their balancing, slots and connection
// pools, in HTTP/1.1. A filter reaches only the backends its entry lists.
type filterCaller struct {
	g       *Generation
	allowed map[string]bool
}

func (g *Generation) newCaller(backends []string) filter.Caller {
	c := &filterCaller{g: g, allowed: map[string]bool{}}
	for _, b := range backends {
		c.allowed[b] = true
	}
	return c
}

// Errors of filter calls.
var (
	errCallBackend = errors.New("backend not allowed for this filter")
	errCallHead    = errors.New("call needs a valid :method, :path and :authority")
	errCallField   = errors.New("call has a field that is not a valid HTTP field")
	errCallServer  = errors.New("the server speaks HTTP/2, TLS or the PROXY protocol, which filter calls do not")
)

// Call implements filter.Caller.
func (c *filterCaller) Call(ctx context.Context, req *filter.CallRequest) (*filter.CallResponse, error) {
	if !c.allowed[req.Backend] {
		return nil, fmt.Errorf("%w: %q", errCallBackend, req.Backend)
	}
	be := c.g.Backend(req.Backend)
	if be == nil {
		return nil, fmt.Errorf("no backend named %q", req.Backend)
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	head, err := callHead(req)
	if err != nil {
		return nil, err
	}
	var key backend.Key
	var w backend.Waiter
	w.Cancel = ctx.Done()
	srv, err := be.Acquire(&key, &w, nil)
	if err != nil {
		return nil, err
	}
	defer be.Release(srv)
	if l4 := c.g.Life.L4; l4 != nil && l4.servers[srv] != nil {
		return nil, errCallServer
	}
	sc := srv.Get(time.Now())
	if sc == nil {
		if sc, err = srv.Dial(); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	resp, keep, err := roundTrip(sc, head, req.Body)
	if ctx.Err() != nil {
		sc.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		sc.Close()
		return nil, err
	}
	if keep && stop() {
		srv.Put(sc, time.Now())
	} else {
		sc.Close()
	}
	return resp, nil
}

// callHead serialises a call's head for HTTP/1.1, with its body's length.
// Every field is checked as a client's would be: a field that could not go
// on the wire (CR or LF in a value, a bad name, a bad :authority) refuses
// the call rather than being dropped or written through to a server
// connection that goes back to the pool. Hop-by-hop and framing fields are
// the proxy's to write and are left out.
func callHead(req *filter.CallRequest) ([]byte, error) {
	var method, path, authority string
	var b strings.Builder
	for _, f := range req.Fields {
		switch f[0] {
		case ":method":
			method = f[1]
		case ":path":
			path = f[1]
		case ":authority":
			authority = f[1]
		case ":scheme":
		default:
			if strings.HasPrefix(f[0], ":") || !h1.ValidFieldName([]byte(f[0])) || !h1.ValidFieldValue([]byte(f[1])) {
				return nil, errCallField
			}
			if h1.HopByHop(f[0]) || strings.EqualFold(f[0], "content-length") || strings.EqualFold(f[0], "host") {
				continue
			}
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
	}
	if method == "" || path == "" || authority == "" || !h1.ValidTarget(path) || !h1.ValidFieldName([]byte(method)) ||
		!h1.ValidFieldValue([]byte(authority)) {
		return nil, errCallHead
	}
	head := method + " " + path + " HTTP/1.1\r\nhost: " + authority + "\r\n" + b.String()
	if len(req.Body) > 0 || method == "POST" || method == "PUT" {
		head += "content-length: " + strconv.Itoa(len(req.Body)) + "\r\n"
	}
	return []byte(head + "\r\n"), nil
}

// roundTrip writes a request on sc and reads the whole response; keep
// reports whether sc can serve another request.
func roundTrip(sc *backend.ServerConn, head, body []byte) (*filter.CallResponse, bool, error) {
	if _, err := sc.Write(append(head, body...)); err != nil {
		return nil, false, err
	}
	var resp h1.Response
	limits := h1.Limits{MaxRequestLine: 8192, MaxHeadBytes: transport.DefaultBufSize, MaxHeaders: 200}
	for {
		err := h1.ParseResponse(&resp, sc.Buf.Data(), &limits, head[:strings.IndexByte(string(head), ' ')])
		if err == nil && resp.Status >= 200 {
			break
		}
		if err == nil { // an interim response: skip it
			sc.Buf.Consume(resp.HeadLen)
			continue
		}
		if _, ok := err.(*h1.Error); ok || sc.Buf.Full() {
			return nil, false, errors.New("invalid response from the server")
		}
		if _, err := sc.Fill(&sc.Buf); err != nil {
			return nil, false, err
		}
	}
	out := &filter.CallResponse{Fields: [][2]string{{":status", strconv.Itoa(resp.Status)}}}
	for _, f := range resp.Fields {
		out.Fields = append(out.Fields, [2]string{strings.ToLower(string(f.Name)), string(f.Value)})
	}
	sc.Buf.Consume(resp.HeadLen)
	var chunk h1.ChunkedScanner
	left := resp.ContentLength
	for done := resp.Body == h1.BodyNone || resp.Body == h1.BodyLength && left == 0; !done; {
		if sc.Buf.Len() == 0 {
			if _, err := sc.Fill(&sc.Buf); err != nil {
				if err == io.EOF && resp.Body == h1.BodyUntilClose {
					return out, false, nil
				}
				return nil, false, err
			}
		}
		data := sc.Buf.Data()
		n := len(data)
		switch resp.Body {
		case h1.BodyLength:
			n = int(min(int64(n), left))
			left -= int64(n)
			out.Body = append(out.Body, data[:n]...)
			done = left == 0
		case h1.BodyChunked:
			var err error
			if n, done, out.Body, err = chunk.ScanData(data, out.Body); err != nil {
				return nil, false, err
			}
		default:
			out.Body = append(out.Body, data...)
		}
		sc.Buf.Consume(n)
	}
	return out, resp.KeepAlive && resp.Body != h1.BodyUntilClose && sc.Buf.Len() == 0, nil
}
