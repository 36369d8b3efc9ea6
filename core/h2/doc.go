// Package h2 is HTTP/2 (RFC 9113) for the proxy: the server side (Conn,
// Stream) for its client connections, and the client side (ClientConn,
// ClientStream, see client.go for its states and goroutines) for its
// connections to servers. It frames, validates and flow-controls; the proxy
// engine drives each stream itself through a Handler, so there is no
// http.Handler, no ResponseWriter and no request object beyond Request.
//
// Both sides are built on one core: link (link.go: the frame dispatch,
// the stream table, flow control both ways, closing streams) with its
// frame writer (writer.go), and streamFlow (flow.go) in each stream. Conn
// and ClientConn embed a link and keep only what differs: which streams
// the peer may open, limits and rate counters, the end of a stalled
// connection. What follows describes the server side.
//
// # Connection states
//
// preface → serving → closing → dead.
//   - preface: Serve sends SETTINGS (and the connection WINDOW_UPDATE), then
//     reads the client preface; the first frame must be SETTINGS.
//   - serving: frames are read and acted on; each valid request starts a
//     handler goroutine. With a Parker, a connection with no stream that
//     receives nothing for a while parks (Serve or Resume returns
//     ErrParked, no goroutine reads it) and serves again from Resume.
//   - closing: a GOAWAY was sent (connection error, graceful end once
//     Shutdown or the client's GOAWAY left no live stream, idle timeout,
//     zero window) or Close was called. New streams are refused; after the
//     last GOAWAY the transport is half-closed and input drained until the
//     client closes or a linger timeout.
//   - dead: Serve's loop ended; every stream's Done is closed, t is closed,
//     and Serve returns once every handler has.
//
// Stream states are described on Stream. A stream is "live" while it is
// open or its handler runs; the live count bounds handler goroutines.
//
// # Goroutines and ownership
//
//   - The serve loop (the goroutine in Serve) reads every frame, owns the
//     HPACK decoder, the header block being received and the rate counters.
//     It never holds a lock while it blocks in Read. With a Parker, an idle
//     connection's serve loop returns ErrParked and holds no goroutine
//     until the caller runs it again in another one (Resume, park.go).
//   - One goroutine at a time runs a stream's Handler; it reads the body and
//     writes the response through the Stream. When the handler returns, the
//     goroutine runs the next stream waiting for a handler, or waits as a
//     spare (at most maxSpares) for the next new stream; spares end once no
//     stream was live for spareLinger (100 ms) or the connection closes.
//   - Conn.mu guards the stream table, windows and stream state; Conn.wmu
//     serialises the buffering of frames in the connection's write buffer
//     and the HPACK encoder. wmu is taken before mu; neither is held while
//     writing to t.
//   - The goroutine that ends a logical write (a handler, or the serve loop
//     for control frames) writes the buffer to t, with the frames other
//     goroutines buffered meanwhile, unless another writer is about to
//     (writer.go): a response is written by its handler's goroutine or
//     another stream's, never by a goroutine of its own.
//
// # Limits
//
// Every Config field bounds one attack; see Config for each default:
// concurrent streams as the protocol counts them, handler goroutines (plus
// a small constant slack for streams whose handler has not returned yet;
// a new stream waits for a handler beyond that: rapid reset; and as many
// spares at most, waiting for a stream), resets per
// window (CVE-2023-44487), control frames per window (PING, SETTINGS,
// PRIORITY, empty DATA floods), header block size compressed and decoded
// (HPACK bomb, CONTINUATION flood), receive windows (memory), zero send
// window time (a client that never reads).
//
// What is not here: server push, h2c upgrade from HTTP/1.1 (only prior
// knowledge and ALPN), extended CONNECT (RFC 8441), priorities (accepted
// and ignored, as RFC 9113 allows).
package h2
