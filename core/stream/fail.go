package stream

import (
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/rules"
	"github.com/strata-proxy/strata/core/session"
)

// endFailed ends the stream when its evaluation failed, in phase: it sets
// the termination cause and answers 500 (HTTP) or closes (tcp). done is
// false, and nothing happens, when nothing failed.
func (cc *Conn) endFailed(x *exchange, phase session.Phase, tcp bool) (res stepResult, done bool) {
	cause := x.fctx.Failure()
	if cause == session.CauseNone {
		return keepOpen, false
	}
	x.strm.Term.Set(cause, phase)
	if tcp {
		return closeConn, true
	}
	return cc.replyError(x, 500), true
}

// answerRules is what the engine does after an http-request or
// http-response rule set gave v, in phase: it ends the stream when the
// evaluation failed (endFailed), else answers v (answerVerdict; a request
// denied by a rule counts in the tracked tables). done is false when the
// message goes on.
func (cc *Conn) answerRules(x *exchange, v rules.Verdict, phase session.Phase, denyStatus int) (res stepResult, done bool) {
	if res, done := cc.endFailed(x, phase, false); done {
		return res, true
	}
	if v.Kind == rules.Deny && phase == session.PhaseRequest {
		cc.trackDenied(x)
	}
	return cc.answerVerdict(x, v, phase, denyStatus)
}

// tcpRulesEnd returns the cause that ends a session or stream after a
// tcp-request rule set gave v: the failure recorded on ctx, denied for a
// reject, CauseNone to go on.
func tcpRulesEnd(ctx *fetch.Ctx, v rules.Verdict) session.Cause {
	if cause := ctx.Failure(); cause != session.CauseNone {
		return cause
	}
	if v.Kind == rules.Reject {
		return session.CauseDenied
	}
	return session.CauseNone
}

// tcpContentRules runs the frontend's tcp-request content rules on a
// stream whose first bytes are content (nil for an HTTP/2 stream, whose
// content is not the connection's bytes). It reports false when the rules
// ended the stream, its termination cause set.
func (cc *Conn) tcpContentRules(x *exchange, content []byte) bool {
	strm := &x.strm
	strm.Content = content
	v := cc.fe.TCPContent.Eval(&x.fctx)
	strm.Content = nil
	if cause := tcpRulesEnd(&x.fctx, v); cause != session.CauseNone {
		strm.Term.Set(cause, session.PhaseRequest)
		return false
	}
	return true
}
