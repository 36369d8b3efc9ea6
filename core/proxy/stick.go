package proxy

import (
	"context"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/track"
)

// Stick tables, tracking and server persistence, as the engine drives them.
//
// The tables live in a stick.Store that outlives generations
// (BuildOptions.Stick): Build takes the store's tables whose definition is
// unchanged and creates the others; the new set becomes the store's
// current one when the generation starts serving. Each generation has its
// own track.Engine (tracker slots, fetches, actions) and sweeps expired
// entries with one goroutine from start to Close.
//
// The hooks below are called by the connection goroutine at fixed points of
// a session's and a stream's life; each does nothing when the generation
// has no table:
//
//	session start     the session gets its tracker slots (before tcp-request connection)
//	session accepted  sess_cnt, sess_rate (after tcp-request session)
//	no first request  http_req_cnt (+ http_err_* unless it timed out), as HAProxy
//	request start     http_req_cnt, http_req_rate (after tcp-request content, before http-request)
//	http-request deny http_err_*
//	response head     4xx: http_err_*; 5xx but 501, 505: http_fail_*
//	stream end        early failures, bytes, the stream's trackers released
//	session end       the session's trackers released
//	server choice     stick match before, stick store once connected

// registerStickAPI adds the stick-table routes of the runtime API.
func (p *Proxy) registerStickAPI(a *admin.Server) {
	track.RegisterAPI(a, func() *track.Engine { return p.Gen.Load().StickEngine() })
}

// closeStickStore stops the syncers of shared tables when the proxy stops:
// each pushes its last events and takes this instance out of the fleet.
func (p *Proxy) closeStickStore() {
	p.rl.mu.Lock()
	store := p.rl.store
	p.rl.mu.Unlock()
	if store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	store.Close(ctx)
}
