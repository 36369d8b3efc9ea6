package sample

import "sync"

// Vars holds the variables of one scope (sess or txn). The zero value is
// empty and ready to use. It is not safe for concurrent use: a session's or
// stream's variables are touched only by the goroutine that drives it.
type Vars struct {
	m map[string]Value
}

// Get returns the variable called name.
func (v *Vars) Get(name string) (Value, bool) {
	val, ok := v.m[name]
	return val, ok
}

// Set stores a copy of val under name.
func (v *Vars) Set(name string, val Value) {
	if v.m == nil {
		v.m = make(map[string]Value, 4)
	}
	if old, ok := v.m[name]; ok && old.Bytes != nil && val.Bytes != nil && cap(old.Bytes) >= len(val.Bytes) {
		// Reuse the old storage: set-var on every request must not allocate.
		old.Bytes = append(old.Bytes[:0], val.Bytes...)
		val.Bytes = old.Bytes
		v.m[name] = val
		return
	}
	v.m[name] = val.Clone()
}

// Unset removes the variable called name.
func (v *Vars) Unset(name string) { delete(v.m, name) }

// Reset removes every variable, keeping the storage for reuse.
func (v *Vars) Reset() { clear(v.m) }

// Len returns the number of variables set.
func (v *Vars) Len() int { return len(v.m) }

// SharedVars holds the proc scope: variables shared by every stream of the
// process. It is safe for concurrent use.
type SharedVars struct {
	mu sync.RWMutex
	v  Vars
}

// Get returns a copy of the variable called name.
func (s *SharedVars) Get(name string) (Value, bool) {
	s.mu.RLock()
	val, ok := s.v.Get(name)
	s.mu.RUnlock()
	if ok {
		val = val.Clone()
	}
	return val, ok
}

// Set stores a copy of val under name.
func (s *SharedVars) Set(name string, val Value) {
	s.mu.Lock()
	s.v.Set(name, val)
	s.mu.Unlock()
}

// Unset removes the variable called name.
func (s *SharedVars) Unset(name string) {
	s.mu.Lock()
	s.v.Unset(name)
	s.mu.Unlock()
}
