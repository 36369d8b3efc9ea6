package proxywasm

import (
	"context"
	"net/netip"
	"time"

	"github.com/strata-proxy/strata/core/filter"
)

// defaultCallTimeout bounds an HTTP call dispatched with timeout 0.
const defaultCallTimeout = 5 * time.Second

// callout is an HTTP call a context dispatched (proxy_http_call) and whose
// answer has not been delivered yet.
type callout struct {
	token  uint32
	stream *stream // the dispatching stream; nil: the root context
	cancel context.CancelFunc
}

// dispatch sends req through the filter's Caller on its own goroutine and
// delivers the answer on v, to the context that dispatched it; mu is held.
func (v *vm) dispatch(req *filter.CallRequest) uint32 {
	v.nextToken++
	if v.nextToken == 0 {
		v.nextToken = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), req.Timeout)
	c := &callout{token: v.nextToken, stream: v.cur, cancel: cancel}
	v.calls[c.token] = c
	caller := v.f.cfg.Caller
	go func() {
		defer cancel()
		resp, err := caller.Call(ctx, req)
		if err != nil {
			resp = nil
		}
		v.deliver(c, resp)
	}()
	return c.token
}

// deliver calls proxy_on_http_call_response on the vm that dispatched the
// call, with the dispatching stream's context effective, and the answer's
// head, body and trailers readable during the call. A failed call (no
// answer, timeout) is delivered with no headers, as Envoy does. Nothing is
// delivered to a stream that ended or a vm that died meanwhile.
func (v *vm) deliver(c *callout, resp *filter.CallResponse) {
	v.mu.Lock()
	if v.isDead() || v.calls[c.token] != c {
		v.mu.Unlock()
		return
	}
	delete(v.calls, c.token)
	if v.fns[cbHTTPCallResponse] == nil {
		v.mu.Unlock()
		return
	}
	if resp == nil {
		resp = &filter.CallResponse{}
	}
	v.cur, v.callResp = c.stream, resp
	var src netip.Addr
	if c.stream != nil {
		src = c.stream.src
	}
	_, err := v.call(cbHTTPCallResponse, src, rootID, uint64(c.token),
		uint64(len(resp.Fields)), uint64(len(resp.Body)), uint64(len(resp.Trailers)))
	v.cur, v.callResp = nil, nil
	if err == nil {
		v.f.p.Succeeded(src)
	}
	v.unlock()
}
