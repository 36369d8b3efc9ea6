package backend

// Inherit gives s, a server of b, the run-time state of from, the server
// of the same name in the backend of the previous configuration generation
// (a reload): what checks say (health and the check bookkeeping) always;
// the operator state when keepState, the weight when keepWeight (the
// caller passes true when the runtime API changed them, so that a reload
// does not undo an operator's choice). A weight b's algorithm cannot take
// is left as configured. It must be called before b serves or starts its
// checks.
func (b *Backend) Inherit(s, from *Server, keepState, keepWeight bool) {
	fb := from.be
	fb.mu.Lock()
	health := from.Health()
	check := from.check
	state := from.State()
	weight := from.Weight()
	fb.mu.Unlock()
	obs := from.obsFails.Load()

	b.mu.Lock()
	s.health.Store(int32(health))
	s.check = check
	s.obsFails.Store(obs)
	if keepState {
		s.state.Store(int32(state))
	}
	if keepWeight && (!b.StaticWeights() || weight == 0 || weight == s.InitialWeight) && weight >= 0 && weight <= 256 {
		s.weight.Store(int32(weight))
	}
	b.changedLocked()
	b.mu.Unlock()
}
