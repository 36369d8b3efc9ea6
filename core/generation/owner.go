package generation

import (
	"bytes"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/statspage"
	"github.com/strata-proxy/strata/core/telemetry"
)

// Owner is what the built-in services that show the proxy's state read of
// the proxy serving their generation.
type Owner interface {
	// PrometheusText is a reading of every metric, as the Prometheus
	// endpoint renders it.
	PrometheusText() []byte
	// StatsJSON is the stats page's data.
	StatsJSON() []byte
}

// SetOwner tells the generation's services which proxy serves it.
func (g *Generation) SetOwner(p Owner) { g.owner.Store(&p) }

// addProxyServices adds the built-in services that show the proxy's own
// state; they read it through g.owner, set when a proxy adopts g (until
// then they answer 503).
func (g *Generation) addProxyServices() {
	g.Services["prometheus-exporter"] = ServiceFunc(func(ctx *fetch.Ctx, r *Reply) {
		p := g.owner.Load()
		if p == nil {
			r.Status = 503
			return
		}
		r.Status, r.ContentType, r.Body = 200, []byte(telemetry.ContentType), (*p).PrometheusText()
	})
	g.Services["stats"] = ServiceFunc(func(ctx *fetch.Ctx, r *Reply) {
		p := g.owner.Load()
		if p == nil {
			r.Status = 503
			return
		}
		serveStatsService(*p, ctx, r)
	})
}

// serveStatsService answers the stats service of a frontend: the stats
// page, read-only (no server buttons: those need the admin token), and
// its data at the same path with the query "json".
func serveStatsService(p Owner, ctx *fetch.Ctx, r *Reply) {
	uri := ctx.Txn.Req.URI
	if q := bytes.IndexByte(uri, '?'); q >= 0 && bytes.Equal(uri[q+1:], []byte("json")) {
		r.Status, r.ContentType, r.Body = 200, []byte("application/json"), p.StatsJSON()
		return
	}
	r.Status, r.ContentType, r.Body = 200, []byte("text/html; charset=utf-8"), statspage.HTML(statspage.ReadOnly)
}
