package proxy

import (
	"errors"
	"net/http"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/stats"
)

// FrontendStats is the runtime API's view of a frontend.
type FrontendStats struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	State string `json:"state"`
	stats.Snapshot
}

// ServerStats is the runtime API's view of a server. Summary sums up state
// and health the way HAProxy's stats page does (UP, "UP 1/3" while checks
// fail, DOWN, "DOWN 1/2" while they recover, DRAIN, MAINT); State is the
// operator's choice and Health what checks say, each kept apart.
type ServerStats struct {
	Name          string            `json:"name"`
	Backend       string            `json:"backend"`
	Address       string            `json:"address"`
	Summary       string            `json:"status"`
	State         string            `json:"state"`
	Health        string            `json:"health"`
	Weight        int               `json:"weight"`
	InitialWeight int               `json:"initial_weight"`
	Backup        bool              `json:"backup,omitempty"`
	MaxConn       int               `json:"maxconn,omitempty"`
	Current       int64             `json:"cur_streams_on_server"`
	MaxCurrent    int64             `json:"max_streams_on_server"`
	Queue         int64             `json:"queue"`
	QueueMax      int64             `json:"queue_max"`
	IdleConns     int               `json:"idle_connections"`
	IdleReaped    int64             `json:"idle_reaped"` // pooled connections the sweep closed
	Retries       int64             `json:"retries"`
	Redispatches  int64             `json:"redispatches"`
	Check         backend.CheckInfo `json:"check"`
	stats.Snapshot
}

// BackendStats is the runtime API's view of a backend.
type BackendStats struct {
	Name         string        `json:"name"`
	Mode         string        `json:"mode"`
	Balance      string        `json:"balance"`
	HashType     string        `json:"hash_type,omitempty"`
	MaxConn      int           `json:"maxconn,omitempty"`
	Queue        int64         `json:"queue"`
	QueueMax     int64         `json:"queue_max"`
	Redispatches int64         `json:"redispatches"`
	ServersUp    int           `json:"servers_up"`
	Servers      []ServerStats `json:"servers"`
	stats.Snapshot
}

// Stats is the body of GET /v1/stats.
type Stats struct {
	Frontends []FrontendStats `json:"frontends"`
	Backends  []BackendStats  `json:"backends"`
}

// Stats reads the counters of every frontend, backend and server.
func (p *Proxy) Stats() Stats {
	g := p.Gen.Load()
	var out Stats
	state := "open"
	if p.Draining.Load() {
		state = "draining"
	}
	for _, fe := range g.Frontends {
		out.Frontends = append(out.Frontends, FrontendStats{Name: fe.Name, Mode: generation.ModeName(fe.HTTP), State: state, Snapshot: fe.Stats.Snapshot()})
	}
	for _, be := range g.Backends {
		out.Backends = append(out.Backends, backendStats(be))
	}
	return out
}

func backendStats(be *generation.Backend) BackendStats {
	bs := BackendStats{
		Name: be.Name, Mode: generation.ModeName(be.HTTP), Balance: be.Balance, MaxConn: be.MaxConn,
		Queue: be.QueueLen(), QueueMax: be.QueueMax.Load(), Redispatches: be.Redispatches.Load(),
		Snapshot: be.Stats.Snapshot(),
	}
	if be.Deterministic() {
		bs.HashType = be.HashType
	}
	bs.CurStreams = be.Cur() - be.Queued()
	for _, s := range be.Servers {
		ss := serverStats(be, s)
		if s.Running() {
			bs.ServersUp++
		}
		bs.Servers = append(bs.Servers, ss)
	}
	return bs
}

func serverStats(be *generation.Backend, s *backend.Server) ServerStats {
	ss := ServerStats{
		Name: s.Name, Backend: be.Name, Address: s.Addr, Summary: s.Status(),
		State: s.State().String(), Health: s.Health().String(),
		Weight: s.Weight(), InitialWeight: s.InitialWeight, Backup: s.Backup, MaxConn: s.MaxConn,
		Current: s.Cur.Load(), MaxCurrent: s.MaxCur.Load(), Queue: s.QueueLen(), QueueMax: s.QueueMax.Load(),
		IdleConns: s.IdleCount(), IdleReaped: s.Reaped.Load(), Retries: s.Retries.Load(), Redispatches: s.Redispatches.Load(),
		Check: s.CheckInfo(), Snapshot: s.Stats.Snapshot(),
	}
	ss.CurStreams = ss.Current
	return ss
}

// ServerUpdate is the body of PUT /v1/backends/{b}/servers/{s}: either
// field may be left out.
type ServerUpdate struct {
	State  *string `json:"state,omitempty"`  // ready, drain or maint
	Weight *int    `json:"weight,omitempty"` // 0 to 256
}

// RegisterAPI adds the proxy's routes to the runtime API:
//
//	GET /v1/stats                          every frontend, backend and server
//	GET /v1/backends                       every backend with its servers
//	GET /v1/backends/{b}                   one backend
//	GET /v1/backends/{b}/servers/{s}       one server
//	PUT /v1/backends/{b}/servers/{s}       {"state": "ready|drain|maint", "weight": N}
//	… /v1/tables…                          stick tables and their entries (track.RegisterAPI)
//	GET /metrics                           every metric, Prometheus text format (metrics.go, exporter.go)
//	GET /stats                             the stats page, HTML; public, its script uses the token (exporter.go)
//
// A PUT takes effect on the next stream and stays until changed again;
// health checks keep running whatever the state, and their result shows.
// Each route reads the configuration generation serving new connections.
func (p *Proxy) RegisterAPI(a *admin.Server) {
	p.registerStickAPI(a) // GET /v1/tables and friends (stick.go)
	p.registerMetricsAPI(a)
	a.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusOK, p.Stats())
	})
	a.HandleFunc("GET /v1/backends", func(w http.ResponseWriter, r *http.Request) {
		out := []BackendStats{}
		for _, be := range p.Gen.Load().Backends {
			out = append(out, backendStats(be))
		}
		admin.WriteJSON(w, http.StatusOK, out)
	})
	a.HandleFunc("GET /v1/backends/{b}", func(w http.ResponseWriter, r *http.Request) {
		be := p.Gen.Load().Backend(r.PathValue("b"))
		if be == nil {
			admin.WriteError(w, http.StatusNotFound, "no backend named "+r.PathValue("b"))
			return
		}
		admin.WriteJSON(w, http.StatusOK, backendStats(be))
	})
	a.HandleFunc("GET /v1/backends/{b}/servers/{s}", func(w http.ResponseWriter, r *http.Request) {
		be, s := p.lookupServer(w, r)
		if s == nil {
			return
		}
		admin.WriteJSON(w, http.StatusOK, serverStats(be, s))
	})
	a.HandleFunc("PUT /v1/backends/{b}/servers/{s}", func(w http.ResponseWriter, r *http.Request) {
		be, s := p.lookupServer(w, r)
		if s == nil {
			return
		}
		var u ServerUpdate
		if !admin.ReadJSON(w, r, &u) {
			return
		}
		if u.State == nil && u.Weight == nil {
			admin.WriteError(w, http.StatusBadRequest, `nothing to change: give "state" (ready, drain, maint) and/or "weight" (0-256)`)
			return
		}
		var st backend.State
		if u.State != nil {
			var ok bool
			if st, ok = backend.ParseState(*u.State); !ok {
				admin.WriteError(w, http.StatusBadRequest, `invalid state "`+*u.State+`": use ready, drain or maint`)
				return
			}
		}
		if u.Weight != nil {
			if err := be.SetWeight(s, *u.Weight); err != nil {
				status := http.StatusBadRequest
				if errors.Is(err, backend.ErrStaticWeight) {
					status = http.StatusConflict
				}
				admin.WriteError(w, status, err.Error())
				return
			}
		}
		if u.State != nil {
			be.SetState(s, st)
		}
		admin.WriteJSON(w, http.StatusOK, serverStats(be, s))
	})
}

// lookupServer finds the backend and server named in the path, or answers
// 404.
func (p *Proxy) lookupServer(w http.ResponseWriter, r *http.Request) (*generation.Backend, *backend.Server) {
	be := p.Gen.Load().Backend(r.PathValue("b"))
	if be == nil {
		admin.WriteError(w, http.StatusNotFound, "no backend named "+r.PathValue("b"))
		return nil, nil
	}
	s := be.Server(r.PathValue("s"))
	if s == nil {
		admin.WriteError(w, http.StatusNotFound, "backend "+be.Name+" has no server named "+r.PathValue("s"))
		return nil, nil
	}
	return be, s
}
