package session

import "testing"

// TestTermination_HAProxyStates checks every cause and phase a stream of
// strata can end with against the termination state HAProxy logs for the
// same event (HAProxy 2.6 configuration manual, 8.5 "Session state at
// disconnection"). The events are those the proxy records (core/proxy);
// a new cause or phase must be added here with HAProxy's letters.
func TestTermination_HAProxyStates(t *testing.T) {
	tests := []struct {
		event string
		cause Cause
		phase Phase
		state string // HAProxy's first two letters
	}{
		{"normal end", CauseNone, PhaseDone, "--"},

		// The client.
		{"client closed before a full request", CauseClientAbort, PhaseRequest, "CR"},
		{"client closed while an interim (1xx) response was relayed", CauseClientAbort, PhaseHeaders, "CH"},
		{"client closed during data", CauseClientAbort, PhaseData, "CD"},
		{"client reset its HTTP/2 stream, at any point after the request", CauseClientAbort, PhaseData, "CD"},
		{"client closed while the proxy sent its own reply", CauseClientAbort, PhaseLast, "CL"},
		{"http-request timeout before a full request", CauseClientTimeout, PhaseRequest, "cR"},
		{"client timeout waiting for the request body (POST)", CauseClientTimeout, PhaseHeaders, "cH"},
		{"client timeout or zero window during data", CauseClientTimeout, PhaseData, "cD"},
		{"client timeout while the proxy sent its own reply", CauseClientTimeout, PhaseLast, "cL"},
		{"invalid request", CauseBadRequest, PhaseRequest, "PR"},
		{"invalid chunked request body", CauseBadRequest, PhaseData, "PD"},

		// The proxy.
		{"deny or reject rule", CauseDenied, PhaseRequest, "PR"},
		{"http-response deny", CauseDenied, PhaseHeaders, "PH"},
		{"return rule", CauseLocal, PhaseRequest, "LR"},
		{"redirect rule", CauseLocal, PhaseRequest, "LR"},
		{"an HTTP service answered (HAProxy: stats, use-service)", CauseLocal, PhaseRequest, "LR"},
		{"request rewrite failed (500)", CauseRewrite, PhaseRequest, "PR"},
		{"response rewrite failed (500)", CauseRewrite, PhaseHeaders, "PH"},
		{"no backend chosen, or no server running", CauseNoServer, PhaseConnect, "SC"},
		{"queue full", CauseNoServer, PhaseQueue, "SQ"},
		{"killed in the queue", CauseKilled, PhaseQueue, "KQ"},
		{"killed while connecting", CauseKilled, PhaseConnect, "KC"},
		{"killed waiting for the response", CauseKilled, PhaseHeaders, "KH"},
		{"killed during data", CauseKilled, PhaseData, "KD"},
		{"plugin failed on the request", CausePlugin, PhaseRequest, "IR"},
		{"plugin failed on the response", CausePlugin, PhaseHeaders, "IH"},
		{"plugin failed during data", CausePlugin, PhaseData, "ID"},
		{"internal error", CauseInternal, PhaseRequest, "IR"},

		// The server.
		{"queue timeout", CauseServerTimeout, PhaseQueue, "sQ"},
		{"connection refused", CauseConnectFailed, PhaseConnect, "SC"},
		{"server closed on the request", CauseServerAbort, PhaseConnect, "SC"},
		{"server closed before its response head", CauseServerAbort, PhaseHeaders, "SH"},
		{"server closed during data", CauseServerAbort, PhaseData, "SD"},
		{"server timeout before its response head", CauseServerTimeout, PhaseHeaders, "sH"},
		{"server timeout during data", CauseServerTimeout, PhaseData, "sD"},
		{"invalid response head", CauseBadResponse, PhaseHeaders, "PH"},
		{"invalid chunked response body", CauseBadResponse, PhaseData, "PD"},
	}
	for _, tt := range tests {
		var term Termination
		term.Set(tt.cause, tt.phase)
		if tt.cause == CauseNone {
			term.Phase = tt.phase
		}
		if st := term.State(); string(st[:]) != tt.state {
			t.Errorf("%s (%v, %v): state %q, HAProxy logs %q", tt.event, tt.cause, tt.phase, st[:], tt.state)
		}
	}
}

// TestTermination_CauseNames: every cause has a name and a letter of
// HAProxy's first-character set, and no two causes share a name.
func TestTermination_CauseNames(t *testing.T) {
	const letters = "CSPLRIDUKcs-"
	seen := map[string]Cause{}
	for c := Cause(0); c < numCauses; c++ {
		name := c.String()
		if name == "" || name == "unknown" {
			t.Errorf("cause %d has no name", c)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("causes %d and %d are both called %q", prev, c, name)
		}
		seen[name] = c
		found := false
		for i := 0; i < len(letters); i++ {
			found = found || letters[i] == c.Code()
		}
		if !found {
			t.Errorf("cause %q has letter %q, not one of HAProxy's %q", name, c.Code(), letters)
		}
	}
	if CauseLocal.String() != "local" || CauseLocal.Code() != 'L' {
		t.Errorf("CauseLocal is %q %q", CauseLocal.String(), CauseLocal.Code())
	}
}
