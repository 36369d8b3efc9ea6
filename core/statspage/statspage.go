// Package statspage is strata's stats page: one self-contained HTML file
// (style and script inline, nothing fetched from elsewhere) in the spirit
// of HAProxy's, showing frontends, backends and servers with their state,
// health, last check, sessions, rates, bytes, errors and queues, and
// refreshing itself.
//
// The page holds no data: its script reads the runtime API's GET
// /v1/stats (on the admin listener, with the bearer token the operator
// types in or passes as #token=… in the address, kept in the tab's
// sessionStorage) or, served by a frontend's stats service, the same
// path with the query "json". Only the admin page has the server buttons
// (ready, drain, maint), which call PUT /v1/backends/{b}/servers/{s}.
package statspage

import (
	"bytes"
	_ "embed"
)

//go:embed stats.html
var page []byte

// Mode says where the page is served.
type Mode int

const (
	// Admin: on the admin listener, data from /v1/stats, server buttons.
	Admin Mode = iota
	// ReadOnly: served by a frontend (the stats service), data from the
	// page's own path with "?json", no buttons.
	ReadOnly
)

var pages = [...][]byte{
	Admin:    page,
	ReadOnly: bytes.Replace(page, []byte(`data-mode="admin"`), []byte(`data-mode="readonly"`), 1),
}

// HTML returns the page for mode. The caller must not modify it.
func HTML(mode Mode) []byte { return pages[mode] }
