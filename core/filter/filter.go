// Package filter is the contract between the stream engine and the HTTP
// filters of a chain — today Proxy-Wasm modules, run by the wazero host in
// plugins/proxywasm. core never imports plugins: the engine calls the
// interfaces declared here, and the composition root hands it Filters the
// host built.
//
// Where a chain runs. A frontend and a backend each have an ordered chain.
// On the request side the frontend's filters run after the frontend's
// http_request rules, and the backend's after the backend's http_request
// rules, in the order written; on the response side the backend's filters,
// then the frontend's, run (in reverse order, as Envoy's encoder filters) before
// the http_response rules of the same proxy section. So native rules (deny,
// tracking, rate limits) act first and cheaply, and a filter sees the
// request as those rules left it.
//
// Goroutines. The engine calls a StreamFilter from the goroutine that owns
// the stream, one call at a time. While a filter has paused the stream, the
// engine waits — its timeouts still run — until Resume, Reply or Close is
// called, which may happen from another goroutine (an HTTP call's answer, a
// tick, a queue event on the filter's instance).
package filter

import (
	"context"
	"time"

	"github.com/strata-proxy/strata/core/fetch"
)

// Status is a filter's answer to a callback.
type Status uint8

const (
	// Continue passes the headers or data on to the next filter, then
	// towards the server or client.
	Continue Status = iota
	// Pause stops the stream at this filter until Stream.Resume (or a reply
	// or close). For a body callback the data seen so far stays buffered and
	// the callback is called again with the buffer grown by the next chunk
	// (Proxy-Wasm's StopIterationAndBuffer), up to the filter's body limit:
	// past it the engine answers 413 (request) or 502 (response).
	Pause
	// Fail means the filter failed (trapped, timed out, bad answer) and its
	// on_error policy is fail_closed: the engine ends the stream with
	// termination cause "plugin" (500 before the response head is sent, a
	// reset after). A fail_open filter answers Continue instead.
	Fail
)

// Filter is one entry of a chain, built once per configuration generation.
type Filter interface {
	// Name is the chain entry's name, for logs, metrics and spans.
	Name() string
	// NewStream is called when a stream reaches the filter's first point;
	// the StreamFilter lives until its Done. An error ends the stream as
	// Fail does.
	NewStream(s Stream) (StreamFilter, error)
	// MaxBody is the most body bytes the engine buffers for this filter
	// while it pauses a body callback.
	MaxBody() int
}

// StreamFilter is a filter's state for one stream.
type StreamFilter interface {
	RequestHeaders(endOfStream bool) Status
	// RequestBody is called for each chunk as it arrives (b holds the
	// chunk, or everything buffered since the filter paused), and once
	// with endOfStream set (possibly with an empty b).
	RequestBody(b Body, endOfStream bool) Status
	RequestTrailers() Status
	ResponseHeaders(endOfStream bool) Status
	ResponseBody(b Body, endOfStream bool) Status
	ResponseTrailers() Status
	// Log is called once when the stream ends, before the access-log line
	// is written, whatever became of the stream.
	Log()
	// Done releases the filter's state; it is the last call.
	Done()
}

// Stream is the engine's side of a stream, as a filter sees it. Its methods
// are valid until the StreamFilter's Done; the Fields and Body values they
// return only during the callback that got them.
type Stream interface {
	// Request and response heads, with the pseudo-header fields first
	// (":method", ":scheme", ":authority", ":path"; ":status"). Response
	// returns nil before the response head exists.
	RequestHeaders() Fields
	ResponseHeaders() Fields
	// Trailer sections: empty until the body ends with one, then readable
	// and writable until forwarded (during the trailer callbacks).
	RequestTrailers() Fields
	ResponseTrailers() Fields

	// Protocol is the protocol the client speaks: "HTTP/1.0", "HTTP/1.1"
	// or "HTTP/2" (cleartext or not).
	Protocol() string

	// Reply asks the engine to answer the client itself (Proxy-Wasm's
	// send_local_response): the stream stops at this filter. It fails once
	// the response head has gone to the client.
	Reply(r Reply) error
	// Resume ends a Pause. Safe from any goroutine; a Resume when the
	// stream is not paused is remembered until the next Pause.
	Resume()
	// Close resets the stream (both sides), as proxy_close_stream.
	Close()

	// Sample is the stream's sample-fetch context, for properties and
	// strata's own fetches; only during a callback.
	Sample() *fetch.Ctx
}

// Fields is a head or trailer block. Names are lower-case for HTTP/2 and
// as received for HTTP/1.1; lookups ignore case. Writes to pseudo-headers
// rewrite the request line (":method", ":path"), the Host (":authority")
// or the status (":status"). A write the engine cannot make (a head already
// sent, an invalid field) returns an error and changes nothing.
type Fields interface {
	Len() int
	// At returns the i'th field; the bytes are the engine's, read-only,
	// valid during the callback.
	At(i int) (name, value []byte)
	Get(name []byte) (value []byte, ok bool)
	Set(name, value []byte) error
	Add(name, value []byte) error
	Del(name []byte) error
}

// Body is the body data a body callback sees.
type Body interface {
	Bytes() []byte
	// Replace replaces n bytes at off with data (proxy_set_buffer_bytes);
	// off+n beyond the end is clamped. The engine fixes Content-Length (or
	// sends the body chunked) when the size changes.
	Replace(off, n int, data []byte) error
}

// Reply is a local answer.
type Reply struct {
	Status int
	Fields [][2]string
	Body   []byte
	// Details says why, for the log (Proxy-Wasm's details argument).
	Details string
}

// Caller sends HTTP requests to the configuration generation's backends on
// behalf of filters (Proxy-Wasm's proxy_http_call), from a stream or from a
// root context (a tick). The engine implements it: the backend's balancing,
// health and connection pools apply as for a client's request.
type Caller interface {
	// Call sends req to a server of backend req.Backend and returns its
	// answer, or an error when the backend is unknown, no server could be
	// reached, or req.Timeout (or ctx) ended first.
	Call(ctx context.Context, req *CallRequest) (*CallResponse, error)
}

// CallRequest is a request of a filter to a backend.
type CallRequest struct {
	Backend string
	// Fields are the head, with ":method", ":path" and ":authority"
	// pseudo-header fields (":scheme" optional).
	Fields   [][2]string
	Body     []byte
	Trailers [][2]string
	Timeout  time.Duration
}

// CallResponse is a backend's answer to a CallRequest; Fields start with
// ":status".
type CallResponse struct {
	Fields   [][2]string
	Body     []byte
	Trailers [][2]string
}
