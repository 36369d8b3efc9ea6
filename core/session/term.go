package session

// Cause is why a stream or session ended. The set is closed: every stream
// ends with exactly one, printed in the access log and counted in stats.
// Code is HAProxy's first termination-state letter, so operators can read
// strata's logs with the habits they have.
type Cause uint8

const (
	CauseNone          Cause = iota // ended normally
	CauseClientAbort                // client closed or reset the connection
	CauseClientTimeout              // client too slow (http_request, client timeouts)
	CauseBadRequest                 // client sent an invalid request (400 family)
	CauseServerAbort                // server closed or reset the connection
	CauseServerTimeout              // server too slow (server timeout): 504
	CauseConnectFailed              // no server could be connected: 503
	CauseNoServer                   // no server available in the backend: 503
	CauseBadResponse                // server sent an invalid response: 502
	CauseDenied                     // a rule denied or rejected the request (HAProxy's P)
	CauseLocal                      // the proxy answered by itself: return, redirect, HTTP services (HAProxy's L)
	CauseRewrite                    // a rule's edit would make an invalid head: 500 (HAProxy's P)
	CausePlugin                     // a plugin trapped, timed out or failed
	CauseInternal                   // a bug or resource failure inside strata
	CauseKilled                     // stopped by an operator or the end of the grace period
	numCauses
)

var causeInfo = [numCauses]struct {
	name string
	code byte
}{
	CauseNone:          {"none", '-'},
	CauseClientAbort:   {"client_abort", 'C'},
	CauseClientTimeout: {"client_timeout", 'c'},
	CauseBadRequest:    {"bad_request", 'P'},
	CauseServerAbort:   {"server_abort", 'S'},
	CauseServerTimeout: {"server_timeout", 's'},
	CauseConnectFailed: {"connect_failed", 'S'},
	CauseNoServer:      {"no_server", 'S'},
	CauseBadResponse:   {"bad_response", 'P'},
	CauseDenied:        {"denied", 'P'},
	CauseLocal:         {"local", 'L'},
	CauseRewrite:       {"rewrite_failed", 'P'},
	CausePlugin:        {"plugin", 'I'},
	CauseInternal:      {"internal", 'I'},
	CauseKilled:        {"killed", 'K'},
}

// NumCauses is the number of causes, for arrays indexed by Cause.
const NumCauses = int(numCauses)

func (c Cause) String() string {
	if c < numCauses {
		return causeInfo[c].name
	}
	return "unknown"
}

// Code is the HAProxy-style letter of c.
func (c Cause) Code() byte {
	if c < numCauses {
		return causeInfo[c].code
	}
	return '?'
}

// Phase is where a stream was when it ended.
type Phase uint8

const (
	PhaseNone    Phase = iota // never started (e.g. closed idle between requests)
	PhaseRequest              // waiting for or reading the request head
	PhaseQueue                // waiting in a queue for a server slot
	PhaseConnect              // connecting to a server
	PhaseHeaders              // waiting for the response head
	PhaseData                 // transferring data (bodies, tunnel)
	PhaseLast                 // sending the last bytes to the client
	PhaseDone                 // finished
	numPhases
)

var phaseInfo = [numPhases]struct {
	name string
	code byte
}{
	PhaseNone:    {"none", '-'},
	PhaseRequest: {"request", 'R'},
	PhaseQueue:   {"queue", 'Q'},
	PhaseConnect: {"connect", 'C'},
	PhaseHeaders: {"headers", 'H'},
	PhaseData:    {"data", 'D'},
	PhaseLast:    {"last", 'L'},
	PhaseDone:    {"done", '-'},
}

func (p Phase) String() string {
	if p < numPhases {
		return phaseInfo[p].name
	}
	return "unknown"
}

// Code is the HAProxy-style letter of p.
func (p Phase) Code() byte {
	if p < numPhases {
		return phaseInfo[p].code
	}
	return '?'
}

// Termination is how a stream ended: its cause and the phase it was in.
type Termination struct {
	Cause Cause
	Phase Phase
}

// Set records the end of a stream once: the first cause wins, because later
// errors are usually consequences of the first.
func (t *Termination) Set(c Cause, p Phase) {
	if t.Cause == CauseNone {
		t.Cause, t.Phase = c, p
	}
}

// State returns the two-letter HAProxy-style termination state ("--", "sH").
func (t Termination) State() [2]byte { return [2]byte{t.Cause.Code(), t.Phase.Code()} }
