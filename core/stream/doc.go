// Package stream serves client connections: a connection's session (L5),
// its streams (L6) and their HTTP transactions (L7), from the first byte a
// client sends to the access-log line of its last stream. The process
// (core/proxy) accepts a connection, takes its maxconn slots and hands it
// over (NewConn, Serve); the configuration it runs on is a compiled
// core/generation.Generation, which the connection keeps a reference on.
//
// Three parts meet at the exchange, one stream and its transaction
// (http.go):
//
//   - the engine: rules at every evaluation point (http.go: route,
//     applyRequestRules, acceptResponse), tracking (stick.go), routing to a
//     service, backend and server (plugin_route.go, plugin_service.go),
//     connection, retries and redispatch (connect.go), the filter chain's
//     hook points (filter.go), one failure record (fail.go), termination
//     cause and phase (term.go), spans (telemetry.go) and the log record
//     (accesslog.go). It deals in the transaction (core/session) and in
//     values: response heads, body chunks, trailer sections, replies. It
//     reaches the wire only through the exchange's front and connector
//     (interface values pointing at structs inside the pooled exchange,
//     which hold each protocol's state of the stream), never testing
//     which protocol it serves;
//   - client fronts (front.go: clientFront), one per protocol, which
//     write what the engine hands them in their own protocol — HTTP/1.1
//     (http.go: serveHTTP; h1Front: body framing in and out) and HTTP/2
//     (h2.go: serveH2; h2Front: the client's stream, its request's
//     fields, its end), never bytes of one protocol parsed again for
//     another; TCP mode (tcp.go) relays bytes through the same session,
//     stream, rules and log;
//   - connectors (server.go), one per server protocol, which do the wire
//     work of one attempt: h1Server (server_h1.go) on an HTTP/1.1
//     connection, h2Server (server_h2.go) on a stream of a pooled HTTP/2
//     connection (core/backend.H2Pool), each holding its attempt's
//     state (connection, stream, timer). One engine loop (forward) runs
//     every attempt: replays of a request the server did not process, the
//     mapping of failures to termination cause and phase, the attempt
//     spans, the response rules and the body relay.
//
// Goroutines and ownership:
//
//   - one goroutine per client connection, which owns the Conn and the
//     Session; on HTTP/1.1 and in TCP mode it also owns every Stream and
//     Txn (HTTP/1.1 streams follow one another; TCP mode has one stream);
//     on Linux, an HTTP/1.1 connection idle for 25 ms has none: it waits
//     on the park watcher, which starts a new goroutine for it when it is
//     readable (idle.go; elsewhere idle connections keep their goroutine);
//   - on HTTP/2 that goroutine runs the connection's frame loop (core/h2),
//     which parks the same way after 25 ms with no stream (idle.go),
//     and each stream runs on a goroutine of its own, which owns the
//     stream's exchange (Stream, Txn, scratch). The streams share the
//     Session read-only, except its variables, which are locked. Two
//     fields of an exchange are touched from elsewhere, both atomic: the
//     front's h2Front.sconn and the connector's h2Server.live, taken by
//     the frame loop's OnAbort callback (clientAborted, which reaches the
//     connectors through connector.cancel) when the client resets the
//     stream;
//   - a paused filter's stream waits for Resume, Reply or Close, which a
//     filter may call from any goroutine (filter.go: guarded by a lock);
//   - a tunnel (TCP mode, WebSocket) adds one goroutine for the server to
//     client direction while it lasts;
//   - the process reads a Conn's Idle flag and calls CloseFromStop, GoAway
//     and Kill from its own goroutine (graceful stop, reload); nothing
//     else of a Conn is touched from outside its goroutines.
//
// States of a client connection: accepted → (tcp-request connection rules)
// → session → idle ⇄ busy (one stream at a time on HTTP/1.1, any number
// on HTTP/2) → closed, idle including parked. Graceful stop closes idle
// connections at once, sends GOAWAY on HTTP/2, and lets busy ones finish
// their streams. Between two HTTP/1.1 streams a connection moves to the
// newest generation (reload.go); an HTTP/2 connection stays on its own
// and is asked to go away.
//
// A stream on its way to a server: backend chosen → server chosen and a
// slot of it taken (possibly after waiting in a queue: core/backend) →
// connection (pooled or new, retried and redispatched as in HAProxy: see
// connect.go) → request → response → slot given back. The stream's
// goroutine owns the slot and the connector; the graceful stop may close
// the stream's server connection when the grace period ends, and a client
// resetting its HTTP/2 stream closes it or resets the server's stream.
package stream
