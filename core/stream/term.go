package stream

import (
	"errors"

	"github.com/strata-proxy/strata/core/h2"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// clientCause is the cause of a failed read or write on the client side:
// the client timeout expired (a blocked write or read, or an HTTP/2 send
// window the client kept at zero) or the client went away.
func clientCause(err error) session.Cause {
	if transport.IsTimeout(err) || errors.Is(err, h2.ErrZeroWindow) {
		return session.CauseClientTimeout
	}
	return session.CauseClientAbort
}

// clientGone reports whether the client of an HTTP/2 stream reset it or
// lost its connection, and the cause. A server connection failure seen
// afterwards is the proxy's doing (clientAborted closed it for the
// client), so it is the client's abort: no 502, no failure for the
// server's health, no 5xx in the backend's counts.
func (x *exchange) clientGone() (session.Cause, bool) {
	err := x.fr.clientErr(x)
	if err == nil {
		return session.CauseNone, false
	}
	return clientCause(err), true
}

// endIfClientGone ends the stream as the client's when its HTTP/2 client
// is gone, and reports whether it did. The phase is data whatever the
// server was doing: HAProxy 2.6 logs CD for a stream the client resets,
// even while it waits for the response head (TestTerm_DifferentialHAProxy).
func (x *exchange) endIfClientGone() bool {
	c, gone := x.clientGone()
	if gone {
		x.strm.Term.Set(c, session.PhaseData)
	}
	return gone
}
