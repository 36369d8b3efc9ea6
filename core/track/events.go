package track

import (
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/stick"
)

// The engine reports the life of sessions and streams here; each call
// counts an event once on every distinct entry tracked by the stream or
// its session (stick.View). The calls are cheap when nothing is tracked:
// a type assertion and a nil check.

// CountSession counts an accepted session (sess_cnt, sess_rate) on the
// session's trackers, once its tcp-request connection and session rules
// have let it through (HAProxy's session_count_new).
func (e *Engine) CountSession(s *session.Session) {
	if sl := SessionSlots(s); sl != nil {
		stick.View{Session: sl}.CountSess(e.now())
	}
}

// CountNoRequest counts an HTTP connection that ended before its first
// request arrived: HAProxy 2.6 counts a request on the session's trackers,
// and an HTTP error too when the client closed (an empty connection is an
// incomplete request), not when the http-request timeout struck. A
// keep-alive connection that ends between two requests counts nothing.
func (e *Engine) CountNoRequest(s *session.Session, timedOut bool) {
	sl := SessionSlots(s)
	if sl == nil {
		return
	}
	v, now := stick.View{Session: sl}, e.now()
	v.CountHTTPReq(now)
	if !timedOut {
		v.CountHTTPErr(now)
	}
}

// CountRequest counts an HTTP request (http_req_cnt, http_req_rate) when
// it starts: its head has been parsed and the tcp-request content rules
// have accepted it, and the http-request rules have not run yet (HAProxy's
// http_wait_for_request). A request that those rules deny is counted.
func (e *Engine) CountRequest(st *session.Stream) {
	if v := ViewOf(st.Sess, st); v.Stream != nil || v.Session != nil {
		v.CountHTTPReq(e.now())
	}
}

// CountDenied counts a request denied by an http-request deny rule as an
// HTTP error (http_err_cnt, http_err_rate), as HAProxy does. A reject,
// which closes without answering, is not an error.
func (e *Engine) CountDenied(st *session.Stream) {
	if v := ViewOf(st.Sess, st); v.Stream != nil || v.Session != nil {
		v.CountHTTPErr(e.now())
	}
}

// CountResponse counts the final status a server answered: a 4xx is an
// HTTP error (http_err_*: the client caused it, e.g. a scan), a 5xx other
// than 501 and 505 a failure (http_fail_*), as in HAProxy 2.6.
func (e *Engine) CountResponse(st *session.Stream, status int) {
	switch {
	case status >= 400 && status < 500:
		e.CountDenied(st)
	case status >= 500 && status < 600 && status != 501 && status != 505:
		if v := ViewOf(st.Sess, st); v.Stream != nil || v.Session != nil {
			v.CountHTTPFail(e.now())
		}
	}
}

// EndStream is called once when a stream ends, before it is reset. It
// counts what is known only then, and releases the stream's own trackers
// (never its session's):
//
//   - an HTTP request that ended before it was counted (requestCounted
//     false: its head never parsed): HAProxy counts it as a request on the
//     session's trackers, and as an error too when it was invalid or
//     truncated; one that timed out is a request only;
//   - a 502 or 504 that strata answered because the server failed before
//     its response head (closed, timed out, sent garbage): a failure;
//   - the bytes received from and sent to the client during the stream
//     (bytes_in_*, bytes_out_*).
func (e *Engine) EndStream(st *session.Stream, requestCounted bool) {
	v := ViewOf(st.Sess, st)
	if v.Stream == nil && v.Session == nil {
		return
	}
	now := e.now()
	t := &st.Term
	if st.Txn != nil {
		switch {
		case !requestCounted && t.Phase == session.PhaseRequest:
			switch t.Cause {
			case session.CauseBadRequest, session.CauseClientAbort:
				v.CountHTTPReq(now)
				v.CountHTTPErr(now)
			case session.CauseClientTimeout:
				v.CountHTTPReq(now)
			}
		case requestCounted && (t.Phase == session.PhaseConnect || t.Phase == session.PhaseHeaders):
			switch t.Cause {
			case session.CauseServerAbort, session.CauseServerTimeout, session.CauseBadResponse:
				v.CountHTTPFail(now)
			}
		}
	}
	v.CountBytesIn(st.BytesIn, now)
	v.CountBytesOut(st.BytesOut, now)
	e.releaseStream(st, now)
}
