package proxy

import (
	"net/http"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/stats"
)

// FrontendStats is the runtime API's view of a frontend.
type FrontendStats struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	State string `json:"state"`
	stats.Snapshot
}

// ServerStats is the runtime API's view of a server.
type ServerStats struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	State     string `json:"state"`
	Weight    int    `json:"weight"`
	Backup    bool   `json:"backup,omitempty"`
	Current   int64  `json:"cur_streams_on_server"`
	IdleConns int    `json:"idle_connections"`
	stats.Snapshot
}

// BackendStats is the runtime API's view of a backend.
type BackendStats struct {
	Name    string        `json:"name"`
	Mode    string        `json:"mode"`
	Servers []ServerStats `json:"servers"`
	stats.Snapshot
}

// Stats is the body of GET /v1/stats.
type Stats struct {
	Frontends []FrontendStats `json:"frontends"`
	Backends  []BackendStats  `json:"backends"`
}

// Stats reads the counters of every frontend, backend and server.
func (p *Proxy) Stats() Stats {
	g := p.gen.Load()
	var out Stats
	state := "open"
	if p.draining.Load() {
		state = "draining"
	}
	for _, fe := range g.Frontends {
		out.Frontends = append(out.Frontends, FrontendStats{Name: fe.Name, Mode: modeName(fe.HTTP), State: state, Snapshot: fe.Stats.Snapshot()})
	}
	for _, be := range g.Backends {
		bs := BackendStats{Name: be.Name, Mode: modeName(be.HTTP), Snapshot: be.Stats.Snapshot()}
		for _, s := range be.Servers {
			bs.Servers = append(bs.Servers, ServerStats{
				Name: s.Name, Address: s.Addr, State: s.State().String(), Weight: s.Weight, Backup: s.Backup,
				Current: s.Cur.Load(), IdleConns: s.IdleCount(), Snapshot: s.Stats.Snapshot(),
			})
		}
		out.Backends = append(out.Backends, bs)
	}
	return out
}

// RegisterAPI adds the proxy's routes to the runtime API.
func (p *Proxy) RegisterAPI(a *admin.Server) {
	a.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusOK, p.Stats())
	})
}
