package plugins

import "errors"

// Load errors: the module or its configuration is refused. They are wrapped
// with the plugin's name and the details (what is missing, what lacks a
// grant), and never affect plugins already loaded.
var (
	// ErrRefused: the module does not satisfy the ABI or its grants.
	ErrRefused = errors.New("module refused")
	// ErrConfig: the plugin's configuration is invalid.
	ErrConfig = errors.New("invalid plugin configuration")
	// ErrRegistration: the plugin registered something invalid, or
	// something that clashes with a registration already present.
	ErrRegistration = errors.New("invalid registration")
)

// Call errors: one call failed. They take down at most the stream that made
// the call (per on_error); the process and other streams go on.
var (
	// ErrTrap: the guest trapped or exited; its instance was discarded.
	ErrTrap = errors.New("plugin trapped")
	// ErrTimeout: the call ran past call_timeout; its instance was discarded.
	ErrTimeout = errors.New("plugin call timed out")
	// ErrMemory: the instance reached memory_limit; it was discarded.
	ErrMemory = errors.New("plugin out of memory")
	// ErrGuest: the guest returned an error status; the instance is kept.
	ErrGuest = errors.New("plugin returned an error")
	// ErrBusy: every instance stayed busy for instance_wait.
	ErrBusy = errors.New("plugin instances busy")
	// ErrQuarantined: the plugin is quarantined; it was not called.
	ErrQuarantined = errors.New("plugin quarantined")
	// ErrClosed: the plugin was closed (a reload replaced it).
	ErrClosed = errors.New("plugin closed")
)
