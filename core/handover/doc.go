// Package handover is what a running strata process gives the process
// that replaces it in a binary upgrade, and how it travels: duplicates of
// the listening sockets and a dump of the stick tables, sent as messages
// over a Unix socket with the descriptors attached (SCM_RIGHTS).
//
// The old process sends every listening socket (Listener) and its tables
// (Dump). The new one passes the sockets to the proxy's Inherit before it
// starts, which keeps them in Sockets until its listeners take them,
// restores the tables into its generation (Restore) before that
// generation serves, then tells the old one to drain. Both processes hold
// the same kernel sockets meanwhile, so connections that arrive during the
// upgrade wait in the listen queue and none is refused. The conversation
// itself (which message when) is cmd/strata's (upgrade.go); reloads within
// one process are core/proxy's (reload.go) and core/generation's.
//
// Layer: process lifecycle, beside L4. It knows sockets, files and the
// stick-table engine (core/track), nothing of connections or streams.
//
// Goroutines: none of its own. WriteMessage and ReadMessage block on the
// Unix socket of the goroutine that calls them; Sockets is safe for
// concurrent use; Dump reads tables while the proxy serves (the tables
// lock per entry); Restore must run before the generation it fills
// serves.
package handover
