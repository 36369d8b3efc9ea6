package proxy

import (
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

// monitor_uri: HAProxy's monitor-uri, for load balancers and
// orchestrators. A request for exactly that URI is answered by the
// frontend before any rule: 200 while strata serves, 503 once a graceful
// stop has begun (Shutdown: a stop or a binary upgrade), so that whatever
// balances traffic onto this instance takes it out before its listeners
// close. The bodies and fields are HAProxy's, and as HAProxy does, the
// probe writes no access-log line (it still counts in the statistics).
// The 503 while draining is strata's: HAProxy 2.6 answers 200 until a
// `monitor fail` condition matches.

var (
	monitorFields = []h1.Field{{Name: []byte("cache-control"), Value: []byte("no-cache")}}
	monitorType   = []byte("text/html")
	monitorUp     = []byte("<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n")
	monitorDown   = []byte("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
)

// monitor answers a request for the frontend's monitor_uri; done is false
// for any other request.
func (cc *clientConn) monitor(x *exchange) (res stepResult, done bool) {
	uri := cc.fe.MonitorURI
	if uri == "" || string(x.txn.Req.URI) != uri {
		return keepOpen, false
	}
	r := Reply{Status: 200, ContentType: monitorType, Headers: monitorFields, Body: monitorUp}
	if cc.p.draining.Load() {
		r.Status, r.Body = 503, monitorDown
	}
	x.strm.Term.Set(session.CauseLocal, session.PhaseRequest)
	x.noLog = true
	return cc.replyHeaders(x, &r), true
}
