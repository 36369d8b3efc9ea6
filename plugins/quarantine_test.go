package plugins

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Concurrent calls from many sources admitting, failing and succeeding:
// under -race, the held counter always matches the sources that are held,
// and the table stays within its bound.
func TestQuarantine_Hammer(t *testing.T) {
	q := &quarantine{cfg: Quarantine{Failures: 3, Window: time.Second, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Sources: 3, Ratio: 0.5}}
	var ended sync.Mutex
	n := uint64(0)
	next := func() uint64 { ended.Lock(); defer ended.Unlock(); n++; return n }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				src := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 7)})
				if !q.admit(time.Now(), src) {
					continue
				}
				if (i+g)%3 == 0 {
					q.failure(time.Now(), src, next())
				} else {
					next()
					q.success(src)
				}
			}
		}()
	}
	wg.Wait()
	q.mu.RLock()
	defer q.mu.RUnlock()
	held := 0
	for _, s := range q.sources {
		if s.until != 0 {
			held++
		}
	}
	if int(q.held.Load()) != held || len(q.sources) > maxSources {
		t.Errorf("held counter %d, sources held %d, table %d", q.held.Load(), held, len(q.sources))
	}
}
