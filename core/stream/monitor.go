package stream

import (
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

var (
	monitorFields = []h1.Field{{Name: []byte("cache-control"), Value: []byte("no-cache")}}
	monitorType   = []byte("text/html")
	monitorUp     = []byte("<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n")
	monitorDown   = []byte("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n")
)

// monitor answers a request for the frontend's monitor_uri; done is false
// for any other request.
func (cc *Conn) monitor(x *exchange) (res stepResult, done bool) {
	uri := cc.fe.MonitorURI
	if uri == "" || string(x.txn.Req.URI) != uri {
		return keepOpen, false
	}
	r := generation.Reply{Status: 200, ContentType: monitorType, Headers: monitorFields, Body: monitorUp}
	if cc.p.Draining.Load() {
		r.Status, r.Body = 503, monitorDown
	}
	x.strm.Term.Set(session.CauseLocal, session.PhaseRequest)
	x.noLog = true
	return cc.replyHeaders(x, &r), true
}
