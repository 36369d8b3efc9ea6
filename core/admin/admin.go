// Package admin is strata's runtime API listener: an HTTP server on the
// admin address whose every request must carry the configured bearer token.
// Subsystems register their own routes (stats, backends, tables, plugins);
// this package only authenticates, routes and writes JSON.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Server is the runtime API server.
type Server struct {
	token  string
	log    *slog.Logger
	mux    *http.ServeMux
	public *http.ServeMux // routes served without the token (HandlePublic)
	srv    *http.Server
	ln     net.Listener
}

// ErrNoToken is returned when a TCP admin listener has no token.
var ErrNoToken = errors.New("admin: a token is required on a TCP listener (or listen on unix:PATH)")

// New returns a server that will require token. An empty token is allowed
// only for a Unix socket (checked by Listen).
func New(token string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{token: token, log: log, mux: http.NewServeMux(), public: http.NewServeMux()}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return s
}

// Handle registers a route (Go 1.22 pattern syntax, e.g. "GET /v1/stats").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandlePublic registers a route served without the token. Only for
// what shows nothing of the proxy's state: a static page whose script
// then calls the authenticated routes with the token the user gives it.
func (s *Server) HandlePublic(pattern string, h http.Handler) { s.public.Handle(pattern, h) }

// HandleFunc registers a route handled by f.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, f)
}

// ServeHTTP authenticates, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.public.Handler(r); pattern != "" {
		h.ServeHTTP(w, r)
		return
	}
	if s.token != "" {
		auth := r.Header.Get("Authorization")
		const prefix = "Bearer "
		if !strings.HasPrefix(auth, prefix) || subtle.ConstantTimeCompare([]byte(auth[len(prefix):]), []byte(s.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
			WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Listen binds addr: "host:port" or "unix:/path".
func (s *Server) Listen(addr string) error {
	var ln net.Listener
	var err error
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		os.Remove(path)
		ln, err = net.Listen("unix", path)
	} else {
		if s.token == "" {
			return ErrNoToken
		}
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves on the listener opened by Listen until Shutdown, at most
// MaxConns connections at a time.
func (s *Server) Serve() error {
	s.log.Info("admin API listening", "address", s.ln.Addr().String())
	err := s.srv.Serve(newLimitListener(s.ln, MaxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// WriteJSON writes v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxBody bounds a request body of the runtime API.
const maxBody = 1 << 20

// ReadJSON decodes the request body into v, refusing unknown fields and
// trailing data. On failure it answers 400 and returns false.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}
