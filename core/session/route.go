package session

// Route is a routing decision made for a stream by something outside the
// rules' own lists: a plugin action or routing target (route_set). The
// engine reads it where it chooses, in this order:
//
//	Service  at each use-service point (frontend, then backend): the
//	         stream goes to that internal service;
//	Backend  at the backend choice, before use_backend;
//	Server   at the server choice, as a persistent server (the balancer
//	         uses it when it can, as with stick tables).
//
// An empty field was not chosen. A decision that comes too late for its
// point (a backend chosen from a backend's rules) is ignored. The route
// lives in the stream and is cleared with it.
type Route struct {
	Backend, Server, Service string
}

// Empty reports whether nothing was chosen.
func (r *Route) Empty() bool { return r.Backend == "" && r.Server == "" && r.Service == "" }

// RouteNames says whether the names of a routing decision exist, so that
// whoever sets a Route (a plugin's route_set) can refuse a name at once
// rather than see it ignored at the selection point. The configuration
// generation implements it; http is the mode of the stream's frontend.
type RouteNames interface {
	HasBackend(name string, http bool) bool
	// HasServer: backend "" means the default backend of frontend.
	HasServer(frontend, backend, server string) bool
	HasService(name string, http bool) bool
}
