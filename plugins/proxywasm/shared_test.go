package proxywasm

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// pathsQueueLen is the number of items in the test filters' queue "paths"
// (0 before it is registered).
func pathsQueueLen() int {
	queues.mu.Lock()
	id := queues.byName[queueKey([]byte(vmID), []byte("paths"))]
	queues.mu.Unlock()
	return queueLen(id)
}

// enqueuePath runs a request through the "shared" filter, which enqueues
// its path on the queue "paths".
func enqueuePath(t *testing.T, f *Filter, path string) {
	t.Helper()
	_, sf := open(t, f, request(path))
	sf.RequestHeaders(true)
	sf.Done()
}

// A plugin that closes (a reload) lets go of the queues its root contexts
// registered: the registry holds none of its instances any more. What is
// enqueued meanwhile stays queued and reaches the next registrant.
func TestSharedQueue_ClosedOwnerReleased(t *testing.T) {
	old := newFilter(t, "queue", Config{}, nil)
	if n := queueOwnersOf(old); n != 1 {
		t.Fatalf("the registering filter owns %d queues, want 1", n)
	}
	old.Plugin().Close(context.Background())
	if n := queueOwnersOf(old); n != 0 {
		t.Fatalf("the closed filter still owns %d queues", n)
	}

	f := newFilter(t, "shared", Config{}, nil)
	before := pathsQueueLen()
	enqueuePath(t, f, "/after-close")
	if n := pathsQueueLen(); n != before+1 {
		t.Fatalf("queue holds %d items after an enqueue without an owner, want %d", n, before+1)
	}
	next := newFilter(t, "queue", Config{}, nil)
	if n := queueOwnersOf(next); n != 1 {
		t.Fatalf("the new filter owns %d queues, want 1", n)
	}
	enqueuePath(t, f, "/to-next") // tells the new owner, which drains both
	eventually(t, "the items reach the new owner", func() bool {
		s := string(sharedValue("seen"))
		return strings.Contains(s, "/after-close,") && strings.Contains(s, "/to-next,")
	})
}

// A burst of enqueues while the owner is busy (its lock held, as during a
// long callback) starts at most one goroutine to tell it, not one per
// enqueue; once the owner is free, every item reaches it.
func TestSharedQueue_NotifyCoalesces(t *testing.T) {
	q := newFilter(t, "queue", Config{}, nil)
	f := newFilter(t, "shared", Config{}, nil)
	q.mu.Lock()
	owner := q.vms[0]
	q.mu.Unlock()

	const burst = 200
	owner.mu.Lock()
	before := runtime.NumGoroutine()
	for i := range burst {
		enqueuePath(t, f, fmt.Sprintf("/burst-%d", i))
	}
	after := runtime.NumGoroutine()
	owner.mu.Unlock()
	// One notifier, plus slack for the runtime's and the host's own.
	if after-before > 3 {
		t.Errorf("%d enqueues grew the goroutines from %d to %d", burst, before, after)
	}
	eventually(t, "every item of the burst reaches the owner", func() bool {
		s := string(sharedValue("seen"))
		for i := range burst {
			if !strings.Contains(s, fmt.Sprintf("/burst-%d,", i)) {
				return false
			}
		}
		return true
	})
}
