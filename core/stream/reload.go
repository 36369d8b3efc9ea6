package stream

import (
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/track"
)

// moveTo moves a connection between two streams to g, the current
// generation, when nothing its session set up stands in the way (see the
// top of this file). Only the connection's goroutine calls it.
func (cc *Conn) moveTo(g *generation.Generation) {
	old := cc.gen
	var fe *generation.Frontend
	for _, f := range g.Frontends {
		if f.Name == cc.fe.Name {
			fe = f
			break
		}
	}
	if fe == nil || fe.HTTP != cc.fe.HTTP {
		return
	}
	l4 := g.Life.L4.Frontend(fe)
	if (cc.l4 != nil && cc.l4.TLS != nil) != (l4 != nil && l4.TLS != nil) ||
		(cc.l4 != nil && cc.l4.AcceptProxy) != (l4 != nil && l4.AcceptProxy) {
		return
	}
	oe, ne := old.StickEngine(), g.StickEngine()
	sl := track.SessionSlots(&cc.sess)
	keepSlots := false
	if sl != nil && sl.Tracked() > 0 {
		if !ne.Active() || ne.Slots() != sl.Len() {
			return
		}
		for i := range sl.Len() {
			if t, _, ok := sl.Entry(i); ok && ne.Table(t.Name()) != t {
				return
			}
		}
		keepSlots = true
	}
	if !g.Acquire() {
		return
	}
	if !keepSlots {
		if sl != nil {
			oe.EndSession(&cc.sess)
		}
		if ne.Active() {
			ne.StartSession(&cc.sess)
		}
	}
	cc.fe.Cur.Add(-1)
	cc.fe.Stats.CurSessions.Add(-1)
	fe.Cur.Add(1)
	fe.Stats.CurSessions.Add(1)
	cc.gen, cc.fe, cc.l4 = g, fe, l4
	cc.stopL4.Store(l4)
	cc.sess.Frontend = fe.Name
	old.Release()
}
