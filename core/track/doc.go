// Package track connects stick tables (core/stick) to sessions, streams and
// rules: the track-sc actions and the counter and tag actions, the sc_*,
// scN_*, src_* and table_* fetches, the events the engine reports (a
// session accepted, a request, a response, the end of a stream), server
// persistence (`stick: { on: EXPR, table: T }`) and the runtime API's
// /v1/tables routes.
//
// # Lifecycle and ownership
//
// An Engine belongs to one configuration generation: its set of tables
// comes from a stick.Store shared by generations (a table whose definition
// is unchanged keeps its entries across a reload), its number of tracker
// slots from global.tune.stick_counters. It is immutable and used by every
// connection goroutine.
//
// A session's tracker slots are attached by StartSession before the
// tcp-request connection rules run and released by EndSession once its
// last stream has ended: the session owns them, and the pointer to them
// never changes in between, so any number of streams — one after another
// over keep-alive, or at once under HTTP/2 — read them, and the session
// may track into them at any time. A stream's slots are attached when one
// of its rules first tracks (tcp-request content, http-request) and
// released by EndStream. Only the owner releases a tracker: a stream reads
// its session's slot N through a stick.View when it does not track N
// itself, and never copies or releases it, so conn_cur cannot go negative.
//
//	session:  StartSession ─ track-sc (connection/session) ─ CountSession ─ streams… ─ EndSession
//	stream:   CountRequest ─ track-sc (http-request) ─ CountDenied / CountResponse ─ EndStream
//	          (tcp-request content track-sc runs before CountRequest)
//
// # The counters, exactly
//
// Trackers (track-sc<N>, where N < stick_counters; `table NAME` may be left
// out only when the configuration has exactly one table):
//
//   - conn_cnt, conn_rate +1 and conn_cur +1 when a rule tracks the entry:
//     in tcp-request connection or session once per connection, in
//     tcp-request content or http-request once per stream (each HTTP
//     request). conn_cur -1 when the owner releases the tracker: at the
//     end of the connection, or of the stream. conn_cur and use= (the
//     reference count) therefore count trackers; an entry tracked in two
//     slots counts two. A track-sc of a slot already in use does nothing.
//
// Events are counted once on every distinct entry tracked by the stream
// or its session:
//
//   - sess_cnt, sess_rate: once the tcp-request connection and session
//     rules have accepted the connection, on the session's entries.
//   - http_req_cnt, http_req_rate: when a request's head has been parsed
//     and the tcp-request content rules have accepted it, before the
//     http-request rules — so a request that those rules deny counts; an
//     http-request track-sc counts the request in progress on its new
//     entry. On the session's entries also: a request head that is invalid,
//     truncated or not complete within timeouts.http_request, and a
//     connection closed, or timed out, before its first request (as
//     HAProxy 2.6 does, though strata closes such a connection without
//     answering).
//   - http_err_cnt, http_err_rate: a 4xx from the server (401 and 407
//     included), a request denied by `http-request deny` (not by reject,
//     return or redirect), an invalid or truncated request head, a
//     connection closed before its first request.
//   - http_fail_cnt, http_fail_rate: a 5xx from the server other than 501
//     and 505; the 502 or 504 strata answers when the server closes,
//     times out or sends an invalid head before answering. A server that
//     cannot be connected to (503) is not a failure.
//   - bytes_in_cnt, bytes_in_rate, bytes_out_cnt, bytes_out_rate: the
//     bytes received from and sent to the client, heads included, added
//     when the stream ends (an HTTP exchange, or a TCP or WebSocket tunnel
//     when it closes).
//   - gpc, gpc_rate, gpt (and the legacy gpc0, gpc1, gpt0): changed by the
//     actions sc-inc-gpc(idx,slot), sc-inc-gpc0(slot), sc-inc-gpc1(slot),
//     sc-add-gpc(idx,slot) VALUE, sc-clear-gpc(idx,slot),
//     sc-set-gpt(idx,slot) VALUE and sc-set-gpt0(slot) VALUE (VALUE an
//     integer or a sample expression), at every rule point that has the
//     slots (tcp-request connection, session and content, http-request,
//     http-response, http-after-response), on the entry of the slot; and
//     by the fetches sc*_inc_gpc*, sc*_clr_gpc*, src_inc_gpc*,
//     src_clr_gpc*. An untracked slot or an unstored type changes nothing.
//   - server_id: stored by `stick on` (StickOn): the server's position in
//     its backend, from 1. A table a backend sticks on stores it whether
//     or not its store list says so.
//
// Rates are HAProxy's sliding estimate over two periods (core/stick).
//
// # Fetches
//
// sc_<what>([idx,]slot[,table]) and sc<N>_<what>([idx][,table]) read the
// entry of the slot, the stream's own or else its session's; with a table
// argument, the tracked key is looked up in that table instead. They need
// the SESS layer, so tcp-request connection rules read the session's
// slots. src_<what>([idx][,table]) looks the client address up without
// creating an entry (updates create it) and needs CONN. table_cnt([t])
// and table_avl([t]) need nothing. <what> is any stored data type that is
// not an array (conn_cur, http_req_rate, bytes_out_cnt, gpc0, gpt0,
// server_id, ...), kbytes_in, kbytes_out, get_gpc0, get_gpc1, get_gpt0,
// get_gpc(idx), get_gpt(idx), gpc_rate(idx), inc_gpc(idx), inc_gpc0,
// inc_gpc1, clr_gpc(idx), clr_gpc0, clr_gpc1, and, for sc only, trackers
// (the reference count) and tracked (a boolean). An untracked slot gives
// no sample (tracked gives false); a data type the entry does not store
// gives no sample, and is refused at load when the table is named.
//
// # Where strata differs from HAProxy
//
//   - An event is counted once per distinct entry; HAProxy counts it once
//     per slot, so an entry tracked in two slots (or by the session and a
//     stream) counts each request twice there. conn_cur, conn_cnt and
//     conn_rate count trackers in both.
//   - `table NAME` is required unless exactly one table exists: strata's
//     tables are global, HAProxy defaults to the current proxy's table.
//     The same holds for src_* and table_* fetches.
//   - bytes_* count the bytes on the wire, once per stream when it ends.
//     HAProxy counts its internal HTTP representation, and updates the
//     counters while a stream runs, so its byte figures differ.
//   - stick on stores the server once the connection to it is established;
//     HAProxy stores it when the response starts. They differ only when a
//     server accepts and then fails before answering. server_key is not
//     stored.
//   - sc-clear-gpc is strata's (HAProxy clears through the sc_clr_gpc
//     fetches); sc<N>_<type> reads every stored type, which HAProxy's
//     catalogue does not all offer (sc0_bytes_in_cnt, sc0_gpt0,
//     sc0_server_id).
//   - Not supported: track-sc in http-response and tcp-response rules,
//     src_updt_conn_cnt, the table_* converters (src,table_gpt0(t)),
//     `stick match`, `stick store-request` and `stick store-response` on
//     their own, and more than 16 tracker slots.
//   - An empty connection or a late request head counts like HAProxy's
//     but strata closes it silently, without a 400 or 408 page.
//
// # Runtime API
//
// RegisterAPI serves GET /v1/tables, GET /v1/tables/{t}?filter=…&key=…,
// DELETE /v1/tables/{t}/entries[/{key}] and POST
// /v1/tables/{t}/entries/{key}; `strata ctl table show|clear|set` is
// built on them. Entries carry every stored value by the name HAProxy's
// "show table" gives it, the reference count, and the "show table" line
// itself, so the two can be compared word for word.
package track
