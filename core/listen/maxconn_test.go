package listen

import (
	"testing"

	"github.com/strata-proxy/strata/core/admin"
)

// TestDerivedMaxConn: global.maxconn left out is derived from the
// open-file limit, two descriptors a connection after the admin API's and
// the process's own, within [1, 100000].
func TestDerivedMaxConn(t *testing.T) {
	tests := []struct {
		name   string
		nofile uint64
		want   int
	}{
		{name: "unknown", nofile: 0, want: 100000},
		{name: "tiny", nofile: 100, want: 1},
		{name: "1024", nofile: 1024, want: (1024 - admin.MaxConns - fdReserve) / 2},
		{name: "20000", nofile: 20000, want: (20000 - admin.MaxConns - fdReserve) / 2},
		{name: "capped", nofile: 1 << 20, want: 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DerivedMaxConn(tt.nofile); got != tt.want {
				t.Fatalf("DerivedMaxConn(%d) = %d, want %d", tt.nofile, got, tt.want)
			}
		})
	}
}

// TestSlots_TakeAtLimit: a limit admits that many holders and no more; a
// release makes room again; limit 0 admits everyone and still counts.
func TestSlots_TakeAtLimit(t *testing.T) {
	var s Slots
	for i := range 3 {
		if !s.Take(3) {
			t.Fatalf("take %d of 3 refused", i+1)
		}
	}
	if s.Take(3) {
		t.Fatal("a fourth slot of 3 was taken")
	}
	s.Cur.Add(-1)
	if !s.Take(3) {
		t.Fatal("no slot after a release")
	}
	if !s.Take(0) || s.Cur.Load() != 4 {
		t.Fatalf("limit 0: count %d, want 4", s.Cur.Load())
	}
}

// TestGate_OpenWakesArmed: Open wakes a loop armed before it, and a loop
// that arms afterwards waits for the next Open.
func TestGate_OpenWakesArmed(t *testing.T) {
	var g Gate
	g.Open() // no waiter: nothing to wake
	wake := g.Arm()
	select {
	case <-wake:
		t.Fatal("woken before Open")
	default:
	}
	g.Open()
	<-wake // closed: does not block
	g.Disarm()
	next := g.Arm()
	defer g.Disarm()
	select {
	case <-next:
		t.Fatal("a new wait was woken by the earlier Open")
	default:
	}
}
