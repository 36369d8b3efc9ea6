package proxywasm

import (
	"net/netip"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/plugins"
)

// stream is a filter's state for one stream: an HTTP context on the vm it
// started on, which it keeps until Done. It implements filter.StreamFilter.
type stream struct {
	// Immutable after newStream:
	v   *vm
	id  uint32
	s   filter.Stream
	src netip.Addr

	// Guarded by v.mu:
	paused  bool // a callback returned Pause and nothing ended it yet
	replied bool // proxy_send_local_response answered the stream
	logged  bool // proxy_on_done and proxy_on_log ran
	props   map[string][]byte
}

var _ filter.StreamFilter = (*stream)(nil)

// newStream creates the stream's HTTP context on v (proxy_on_context_create
// with the root context as parent).
func (v *vm) newStream(s filter.Stream, src netip.Addr) (*stream, error) {
	v.mu.Lock()
	if v.isDead() {
		v.mu.Unlock()
		v.load.Add(-1)
		return nil, plugins.ErrTrap
	}
	sf := &stream{v: v, id: v.nextID, s: s, src: src}
	v.nextID++
	if v.nextID == 0 {
		v.nextID = rootID + 1
	}
	v.streams[sf.id] = sf
	v.cur = sf
	_, err := v.call(cbContextCreate, src, uint64(sf.id), rootID)
	v.cur = nil
	if err != nil {
		delete(v.streams, sf.id)
		v.unlock()
		v.load.Add(-1)
		return nil, err
	}
	v.unlock()
	return sf, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func fieldsLen(f filter.Fields) uint64 {
	if f == nil {
		return 0
	}
	return uint64(f.Len())
}

// RequestHeaders calls proxy_on_request_headers. The fields are not read
// or copied here: the guest reads what it asks for.
func (sf *stream) RequestHeaders(eos bool) Status {
	return sf.run(cbRequestHeaders, nil, 0, fieldsLen(sf.s.RequestHeaders()), b2u(eos))
}

func (sf *stream) RequestBody(b filter.Body, eos bool) Status {
	return sf.run(cbRequestBody, b, streamRequest, uint64(len(b.Bytes())), b2u(eos))
}

func (sf *stream) RequestTrailers() Status {
	return sf.run(cbRequestTrailers, nil, 0, fieldsLen(sf.s.RequestTrailers()), 0)
}

func (sf *stream) ResponseHeaders(eos bool) Status {
	return sf.run(cbResponseHeaders, nil, 0, fieldsLen(sf.s.ResponseHeaders()), b2u(eos))
}

func (sf *stream) ResponseBody(b filter.Body, eos bool) Status {
	return sf.run(cbResponseBody, b, streamResponse, uint64(len(b.Bytes())), b2u(eos))
}

func (sf *stream) ResponseTrailers() Status {
	return sf.run(cbResponseTrailers, nil, 0, fieldsLen(sf.s.ResponseTrailers()), 0)
}

// run calls a stream callback and maps its action to a Status. A callback
// the module does not export continues. A failed call fails the stream
// per on_error (and every other stream paused on the vm).
func (sf *stream) run(cb int, body filter.Body, side int, a, b uint64) Status {
	v := sf.v
	v.mu.Lock()
	if v.isDead() {
		v.mu.Unlock()
		return v.f.onError()
	}
	if v.fns[cb] == nil || sf.replied {
		v.mu.Unlock()
		return filter.Continue
	}
	v.cur, v.body, v.bodySide = sf, body, side
	sp := v.f.p.StartSpan(sf.s.Sample().Span, "filter", callbackNames[cb])
	action, err := v.call(cb, sf.src, uint64(sf.id), a, b)
	v.cur, v.body = nil, nil
	plugins.EndSpan(sp, err, nil)
	var st Status
	switch {
	case err != nil:
		st = v.f.onError()
	case sf.replied:
		st = filter.Pause // the engine answers with the local response
	case action == actionPause:
		sf.paused = true
		st = filter.Pause
	default:
		st = filter.Continue
	}
	if err == nil {
		v.f.p.Succeeded(sf.src)
	}
	v.unlock()
	return st
}

// Log calls proxy_on_done then proxy_on_log, once, at the end of the
// stream. A false from proxy_on_done (the guest will call proxy_done
// later) is not waited for: the stream has ended.
func (sf *stream) Log() {
	v := sf.v
	v.mu.Lock()
	sf.logLocked()
	v.unlock()
}

func (sf *stream) logLocked() {
	v := sf.v
	if sf.logged || v.isDead() {
		sf.logged = true
		return
	}
	sf.logged = true
	v.cur = sf
	v.inDone = true
	_, err := v.callIf(cbDone, sf.src, uint64(sf.id))
	v.inDone = false
	if err == nil {
		_, _ = v.callIf(cbLog, sf.src, uint64(sf.id))
	}
	v.cur = nil
}

// callIf calls cb when the module exports it.
func (v *vm) callIf(cb int, src netip.Addr, args ...uint64) (uint32, error) {
	if v.fns[cb] == nil {
		return 1, nil
	}
	return v.call(cb, src, args...)
}

// Done calls proxy_on_delete and forgets the context; HTTP calls the
// stream dispatched and that are still out are cancelled.
func (sf *stream) Done() {
	v := sf.v
	v.mu.Lock()
	sf.logLocked()
	if !v.isDead() {
		v.cur = sf
		_, _ = v.callIf(cbDelete, sf.src, uint64(sf.id))
		v.cur = nil
	}
	for t, c := range v.calls {
		if c.stream == sf {
			c.cancel()
			delete(v.calls, t)
		}
	}
	delete(v.streams, sf.id)
	v.dropIfIdle()
	v.unlock()
	v.load.Add(-1)
}
