package backend

import "errors"

// Errors of server selection. Each ends one stream, never a connection
// beyond it.
var (
	// ErrNoServer: no server of the backend may take a stream (all down,
	// in maint, in drain or with weight 0). HAProxy answers 503 "SC".
	ErrNoServer = errors.New("no server available")
	// ErrBackendFull: the backend holds maxconn streams already. 503 "SQ".
	ErrBackendFull = errors.New("backend at maxconn")
	// ErrQueueTimeout: no slot freed up within timeouts.queue. 503 "sQ".
	ErrQueueTimeout = errors.New("queue timeout")
	// ErrCanceled: the stream gave up waiting (the proxy is stopping).
	ErrCanceled = errors.New("canceled while queued")
)

// Errors of the runtime API.
var (
	// ErrStaticWeight: static-rr and map-based hashing take only 0 and the
	// configured weight at run time (HAProxy: "Backend is using a static LB
	// algorithm and only accepts weights '0%' and '100%'").
	ErrStaticWeight = errors.New("the backend's algorithm has static weights: only 0 and the configured weight are accepted (use roundrobin, or hash_type: consistent)")
	// ErrBadWeight: a weight outside 0…256.
	ErrBadWeight = errors.New("weight must be between 0 and 256")
)
