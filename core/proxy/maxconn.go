package proxy

import (
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/listen"
)

// Connection limits (global.maxconn, frontends.*.maxconn): the accept loop
// side. An accept loop calls accept only while the process and its
// frontend are below their limits (waitSlots) and otherwise waits on the
// process's gate; the counters, the gate and the derived limit are
// core/listen's (maxconn.go), whose comment says how the limits behave.

// applyMaxConn sets the process limit from g: global.maxconn, or the
// derived value when it is not set. A lower limit closes nothing; the
// accept loops wait until the count falls below it.
func (p *Proxy) applyMaxConn(g *generation.Generation) {
	nofile := listen.FileLimit()
	n, how := g.Config.Global.MaxConn, "global.maxconn"
	if n == 0 {
		n, how = listen.DerivedMaxConn(nofile), "derived from the open-file limit"
	} else if need := listen.DescriptorsNeeded(n); nofile > 0 && need > nofile {
		// HAProxy warns likewise: past the descriptor limit, accept fails
		// with EMFILE instead of waiting at maxconn.
		p.Log.Warn("global.maxconn is above what the open-file limit allows",
			"maxconn", n, "open_file_limit", nofile, "descriptors_needed", need)
	}
	if old := p.maxConn.Swap(int64(n)); old != int64(n) {
		p.Log.Info("maxconn", "value", n, "source", how, "open_file_limit", nofile)
	}
	p.gate.Open()
}

// waitSlots waits while l may not accept, or, with fe, while a
// connection of fe already accepted may not take its slots; it returns
// false when l is closed meanwhile.
//
// An accept loop waits for room (fe nil) before it calls accept, then
// takes the slots (fe set), which succeeds at once unless loops of other
// listeners filled the limit while this one was blocked in accept: room
// is looked at, not reserved, because a loop that reserved a slot would
// hold it while accept blocks, and every idle listener would lower the
// limit by one. So a listener holds at most one accepted connection
// unserved, and the connections served never exceed the limits.
func (p *Proxy) waitSlots(l *listener, fe *generation.Frontend) bool {
	stopped := false // a stop is counted once, however long it lasts
	for {
		if p.trySlots(l, fe, &stopped) {
			return true
		}
		wake := p.gate.Arm()
		ok := p.trySlots(l, fe, &stopped) // again: a slot may have been freed before arm
		if !ok {
			select {
			case <-wake:
			case <-l.done:
			}
		}
		p.gate.Disarm()
		if ok {
			return true
		}
		select {
		case <-l.done:
			return false
		default:
		}
	}
}

func (p *Proxy) trySlots(l *listener, fe *generation.Frontend, stopped *bool) bool {
	var full *listen.Slots
	if fe == nil {
		full = p.fullSlots(l.bind.Load().fe)
	} else {
		full = p.takeSlots(fe)
	}
	if full == nil {
		return true
	}
	if !*stopped {
		*stopped = true
		full.Reached.Add(1)
	}
	return false
}

// fullSlots returns the slots (the process's or fe's) whose limit is
// reached, or nil when a connection of fe may be accepted.
func (p *Proxy) fullSlots(fe *generation.Frontend) *listen.Slots {
	if p.Slots.Cur.Load() >= p.maxConn.Load() {
		return &p.Slots
	}
	if fe.MaxConn > 0 && fe.Slots.Cur.Load() >= int64(fe.MaxConn) {
		return fe.Slots
	}
	return nil
}

// takeSlots takes a slot of the process and one of fe for a connection of
// fe, or returns the slots whose limit is reached.
func (p *Proxy) takeSlots(fe *generation.Frontend) *listen.Slots {
	if !p.Slots.Take(p.maxConn.Load()) {
		return &p.Slots
	}
	if !fe.Slots.Take(int64(fe.MaxConn)) {
		p.Slots.Cur.Add(-1)
		p.gate.Open() // another frontend's loop may use it
		return fe.Slots
	}
	return nil
}

// releaseSlots gives back the slots of a connection that ends.
func (p *Proxy) releaseSlots(fs *listen.Slots) {
	fs.Cur.Add(-1)
	p.Slots.Cur.Add(-1)
	p.gate.Open() // an accept loop stopped at a limit resumes
}

// inheritSlots hands the connection slots of prev's frontends to g's of the
// same name.
func inheritSlots(prev, g *generation.Generation) {
	for _, fe := range g.Frontends {
		for _, of := range prev.Frontends {
			if of.Name == fe.Name {
				fe.Slots = of.Slots
				break
			}
		}
	}
}
