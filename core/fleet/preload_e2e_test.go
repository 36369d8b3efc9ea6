package fleet_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// TestFleet_NewInstanceEnforcesFromItsFirstRequest: an instance that joins
// a fleet whose count for a client is already past the limit denies that
// client's very first request to it: it read the fleet's values before it
// started serving, not at the first sync after the key's first request.
func TestFleet_NewInstanceEnforcesFromItsFirstRequest(t *testing.T) {
	r := startRedis(t)
	redis := `{ address: "` + r.addr + `" }`
	rules := `    http_request:
      - "track-sc0 src table per_ip"
      - "deny status 429 if { sc0_http_req_cnt gt 40 }"`
	first := startFleet(t, 1, redis, rules)
	ok, _ := sendRoundRobin(t, first, 50, 0)
	if ok != 40 {
		t.Fatalf("%d of 50 let through by one instance, want 40", ok)
	}
	// Wait until the count was pushed (two syncs after the requests), then
	// start a second instance.
	synced := first[0].table(t).Shared.Syncs
	testsupport.WaitFor(t, 10*time.Second, "two syncs", func() bool { return first[0].table(t).Shared.Syncs >= synced+2 })
	second := startFleet(t, 1, redis, rules)
	resp, err := http.Get("http://" + second[0].web + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the new instance's first request got %d, want 429", resp.StatusCode)
	}
}
