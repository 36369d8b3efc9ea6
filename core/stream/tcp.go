package stream

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/accesslog"
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// serveTCP runs the single stream of a TCP-mode session: content rules,
// backend choice, then a tunnel to the server.
func (cc *Conn) serveTCP() {
	fe := cc.fe
	x := exchangePool.Get().(*exchange)
	x.fr = &x.tcpf
	defer func() { x.reset(); exchangePool.Put(x) }()
	start := time.Now()
	strm := &x.strm
	strm.ID = session.NextID()
	strm.Sess = &cc.sess
	strm.Start = start
	cc.startLog(x)
	cc.sess.Streams.Add(1)
	fe.Stats.Streams.Add(1)
	fe.Stats.CurStreams.Add(1)
	defer cc.finishTCP(x, start)

	cc.c.ReadTimeout = fe.Timeouts.Client
	cc.c.WriteTimeout = fe.Timeouts.Client
	ctx := &x.fctx
	ctx.Reset()
	ctx.Layers = abi.LayerConn | abi.LayerSess | abi.LayerStrm
	ctx.Conn, ctx.Sess, ctx.Strm, ctx.Proc = &cc.conn, &cc.sess, strm, cc.gen.Proc
	cc.traceTCP(x) // the stream's span (telemetry.go)

	if fe.TCPContent != nil {
		// Content rules look at the first data the client sends; a client
		// that sends nothing within the client timeout is judged on none.
		if _, err := cc.c.Fill(&cc.buf); err != nil && !transport.IsTimeout(err) {
			strm.Term.Set(session.CauseClientAbort, session.PhaseRequest)
			return
		}
		if !cc.tcpContentRules(x, cc.buf.Data()) {
			return
		}
	}
	// use_service before the backend choice, then after it, as in HTTP
	// mode (plugin_service.go): a TCP service answers the stream itself.
	if cc.useServiceTCP(x, fe.UseService, fe.ServiceEntries) {
		return
	}
	be, svc := cc.selectBackend(x)
	if _, done := cc.endFailed(x, session.PhaseRequest, true); done {
		return
	}
	if svc { // a routing target chose a service
		if cc.useServiceTCP(x, nil, nil) {
			return
		}
		be = fe.Default
	}
	if be == nil {
		strm.Term.Set(session.CauseNoServer, session.PhaseConnect) // HAProxy: SC, as for a backend without a server
		return
	}
	strm.Backend = be.Name
	if cc.useServiceTCP(x, be.UseService, be.ServiceEntries) {
		return
	}
	if be.Needs()&backend.NeedSrc != 0 {
		x.key.Src = cc.conn.Src.Addr()
	}
	defer cc.releaseServer(x, be)
	sc, err := cc.connect(x, be, true)
	if err != nil {
		return
	}
	sc.Srv.Stats.Streams.Add(1)
	idle := be.Timeouts.Tunnel
	if idle == 0 {
		idle = max(fe.Timeouts.Client, be.Timeouts.Server)
	}
	up, down, cause, phase := tunnel(cc.c, &cc.buf, sc, idle)
	strm.BytesIn += up
	strm.BytesOut += down
	if cause != session.CauseNone {
		strm.Term.Set(cause, phase)
	}
}

func (cc *Conn) finishTCP(x *exchange, start time.Time) {
	fe, strm := cc.fe, &x.strm
	cc.endStream(x)
	d := time.Since(start)
	cc.streamEnded(x, d) // latencies, spans (telemetry.go)
	cc.countStream(x, 0)
	if cc.p.Alog == nil {
		return
	}
	r := &x.rec
	*r = accesslog.Record{
		Time: start, Session: cc.sess.ID, Stream: strm.ID, Client: cc.clientAddr,
		Frontend: fe.Name, Backend: strm.Backend, Server: strm.Server, Service: strm.Service,
		BytesIn: strm.BytesIn, BytesOut: strm.BytesOut, Duration: d,
		TTFB: -1, Term: strm.Term, TCP: true,
		TraceID: r.TraceID, SpanID: r.SpanID, Traced: r.Traced, // set by streamEnded
		HX: r.HX, // timers set on the way (accesslog.go)
	}
	if fe.LogFormat != nil {
		cc.fillLogFormat(x, r)
	}
	cc.p.Alog.Write(r)
}

// tunnelUpgrade relays a 101 Switching Protocols response and turns the
// stream into a tunnel (WebSocket and other upgrades).
func (cc *Conn) tunnelUpgrade(x *exchange, be *generation.Backend, sc *backend.ServerConn) stepResult {
	strm, txn := &x.strm, &x.txn
	txn.Status = 101
	srv := sc.Srv
	srv.Stats.CountStatus(101)
	// Whatever followed the request head in the client buffer belongs to
	// the new protocol; so does whatever followed the 101 head.
	if !x.consumed {
		cc.buf.Consume(txn.Req.HeadLen)
		x.consumed = true
	}
	txn.ForgetRequest()
	n := len(sc.Buf.Data())
	if _, err := cc.c.Write(sc.Buf.Data()); err != nil {
		sc.Close()
		strm.Term.Set(clientCause(err), session.PhaseData)
		return closeConn
	}
	strm.BytesOut += int64(n)
	sc.Buf.Consume(n)
	txn.ForgetResponse()
	idle := be.Timeouts.Tunnel
	if idle == 0 {
		idle = max(cc.fe.Timeouts.Client, be.Timeouts.Server)
	}
	up, down, cause, phase := tunnel(cc.c, &cc.buf, sc, idle)
	strm.BytesIn += up
	strm.BytesOut += down
	if cause != session.CauseNone {
		strm.Term.Set(cause, phase)
	}
	return closeConn
}

// spliceAfter is how many bytes one buffered read must bring before a
// direction of a tunnel switches to splice for a burst: small exchanges
// (WebSocket messages, interactive protocols) stay on the pooled buffer.
const spliceAfter = transport.DefaultBufSize

// spliceBurst bounds one splice call.
const spliceBurst = 1 << 20

// tunnel relays bytes both ways between the client and the server until
// both sides have closed, with half-close: when one side stops sending, the
// other is told (shutdown of the write side) and may keep sending. idle is
// HAProxy's timeout tunnel: the tunnel ends after idle without traffic in
// either direction. It closes the server connection.
func tunnel(client *transport.Conn, cbuf *transport.Buffer, sc *backend.ServerConn, idle time.Duration) (up, down int64, cause session.Cause, phase session.Phase) {
	server := sc.Conn
	client.ReadDeadline, server.ReadDeadline = time.Time{}, time.Time{}
	client.ReadTimeout, server.ReadTimeout = idle, idle
	client.WriteTimeout, server.WriteTimeout = idle, idle
	var last atomic.Int64
	last.Store(time.Now().UnixNano())

	var wg sync.WaitGroup
	var downErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		down, downErr = pipe(server, &sc.Buf, client, idle, &last)
		if downErr == nil {
			client.CloseWrite()
		} else {
			client.Close()
			server.Close()
		}
	}()
	var upErr error
	up, upErr = pipe(client, cbuf, server, idle, &last)
	if upErr == nil {
		server.CloseWrite()
	} else {
		server.Close()
		client.Close()
	}
	wg.Wait()
	sc.Buf.Release()
	server.Close()

	switch {
	case upErr == nil && downErr == nil:
		return up, down, session.CauseNone, session.PhaseDone
	case errors.Is(upErr, errIdle) || errors.Is(downErr, errIdle):
		return up, down, session.CauseClientTimeout, session.PhaseData
	case upErr != nil && !isWriteErr(upErr):
		return up, down, session.CauseClientAbort, session.PhaseData
	default:
		return up, down, session.CauseServerAbort, session.PhaseData
	}
}

var errIdle = errors.New("tunnel idle timeout")

type writeErr struct{ error }

func (e writeErr) Unwrap() error { return e.error }

func isWriteErr(err error) bool {
	var w writeErr
	return errors.As(err, &w)
}

// pipe copies src to dst until src ends (nil), the tunnel stays idle for
// idle (errIdle), or an error. Buffered bytes in buf go first.
func pipe(src *transport.Conn, buf *transport.Buffer, dst *transport.Conn, idle time.Duration, last *atomic.Int64) (int64, error) {
	var total int64
	for {
		if buf.Len() == 0 {
			_, err := src.Fill(buf)
			if err != nil {
				if err == io.EOF {
					return total, nil
				}
				if transport.IsTimeout(err) {
					// Traffic the other way keeps the tunnel alive.
					if time.Since(time.Unix(0, last.Load())) < idle {
						continue
					}
					return total, errIdle
				}
				return total, err
			}
		}
		data := buf.Data()
		n := len(data)
		if _, err := dst.Write(data); err != nil {
			buf.Consume(n)
			buf.Release()
			return total, writeErr{err}
		}
		total += int64(n)
		buf.Consume(n)
		last.Store(time.Now().UnixNano())
		if n >= spliceAfter {
			// A bulk transfer: let the kernel move the next burst.
			buf.Release()
			m, err := src.SpliceTo(dst, spliceBurst)
			total += m
			if m > 0 {
				last.Store(time.Now().UnixNano())
			}
			if err != nil && !(transport.IsTimeout(err) && m > 0) {
				if transport.IsTimeout(err) {
					continue
				}
				return total, err
			}
			if m == 0 && err == nil {
				return total, nil // EOF
			}
		}
	}
}
