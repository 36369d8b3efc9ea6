package testsupport

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds and fails the test, saying what it
// waited for, once limit has passed: a bound only a hang reaches, not a
// timing threshold.
func WaitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v, still waiting for: %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
