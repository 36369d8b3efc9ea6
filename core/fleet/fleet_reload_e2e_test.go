package fleet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// End-to-end tests of a shared table through a configuration reload and a
// binary upgrade of one instance, while a client sends requests to every
// instance in turn: the fleet neither counts a request twice nor loses one,
// and conn_cur comes back to exactly 0 at rest.

// traffic sends GET requests, one at a time, each on a new connection, to
// the instances of a fleet in turn, from its own goroutine, until stopped
// (at most maxTrafficRequests).
type traffic struct {
	ok    atomic.Int64 // requests answered 200
	err   error        // the first failure, which ends the traffic; read after done
	stopc chan struct{}
	done  chan struct{}
}

const maxTrafficRequests = 5000

func startTraffic(t *testing.T, fleet []*strataInstance) *traffic {
	tr := &traffic{stopc: make(chan struct{}), done: make(chan struct{})}
	addrs := make([]string, len(fleet))
	for i, s := range fleet {
		addrs[i] = s.web // an upgraded instance keeps its address
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	go func() {
		defer close(tr.done)
		for i := range maxTrafficRequests {
			select {
			case <-tr.stopc:
				return
			default:
			}
			resp, err := cl.Get("http://" + addrs[i%len(addrs)] + "/")
			if err != nil {
				tr.err = fmt.Errorf("request %d to %s: %w", i, addrs[i%len(addrs)], err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				tr.err = fmt.Errorf("request %d to %s: status %d", i, addrs[i%len(addrs)], resp.StatusCode)
				return
			}
			tr.ok.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { tr.halt() })
	return tr
}

// halt stops the traffic and waits for its last request.
func (tr *traffic) halt() {
	select {
	case <-tr.stopc:
	default:
		close(tr.stopc)
	}
	<-tr.done
}

// more waits until n more requests were answered, so that the fleet is
// known to be serving at this point of the test.
func (tr *traffic) more(t *testing.T, n int64) {
	t.Helper()
	want := tr.ok.Load() + n
	testsupport.WaitFor(t, 20*time.Second, fmt.Sprintf("%d more requests answered", n), func() bool {
		select {
		case <-tr.done:
			t.Fatalf("the traffic stopped: %v (%d answered)", tr.err, tr.ok.Load())
		default:
		}
		return tr.ok.Load() >= want
	})
}

// stop ends the traffic and returns how many requests were answered, all
// of them with 200.
func (tr *traffic) stop(t *testing.T) int64 {
	t.Helper()
	tr.halt()
	if tr.err != nil {
		t.Fatalf("%v (%d answered before)", tr.err, tr.ok.Load())
	}
	return tr.ok.Load()
}

// waitStartCount waits until every instance, tracking its connections,
// reads the requests the fleet counted at start: startInstance's probe of each instance's address, a
// connection closed before its first request, counts as one request (as in
// HAProxy). It returns that count.
func waitStartCount(t *testing.T, fleet []*strataInstance) int64 {
	t.Helper()
	n := int64(len(fleet))
	for _, s := range fleet {
		s.waitValue(t, "http_req_cnt", n)
	}
	return n
}

// reloadWithSIGHUP reloads s as `strata reload --pidfile` does: SIGHUP,
// then the outcome from the status file.
func (s *strataInstance) reloadWithSIGHUP(t *testing.T) {
	t.Helper()
	out, err := exec.Command(strataBin, "reload", "--pidfile", s.pidfile, "--timeout", "20s").CombinedOutput()
	if err != nil {
		t.Fatalf("strata reload: %v\n%s", err, out)
	}
	t.Logf("strata reload: %s", strings.TrimSpace(string(out)))
}

// reloadWithCtl reloads s with `strata ctl reload` (POST /v1/reload).
func (s *strataInstance) reloadWithCtl(t *testing.T) {
	t.Helper()
	out, err := exec.Command(strataBin, "ctl", "--admin", s.admin, "--token", fleetToken, "reload").CombinedOutput()
	if err != nil {
		t.Fatalf("strata ctl reload: %v\n%s", err, out)
	}
	t.Logf("strata ctl reload: %s", strings.TrimSpace(string(out)))
}

// upgrade replaces s's process by a new one (strata run --upgrade-from),
// which takes its sockets, and waits until the pid file names the new
// process. The old process drains on: s keeps it, the result is the new.
func (s *strataInstance) upgrade(t *testing.T) *strataInstance {
	t.Helper()
	next := &strataInstance{web: s.web, admin: s.admin, cfg: s.cfg, pidfile: s.pidfile}
	next.spawn(t, "--upgrade-from", s.pidfile)
	want := strconv.Itoa(next.cmd.Process.Pid)
	testsupport.WaitFor(t, 20*time.Second, "the new process to take over", func() bool {
		select {
		case <-next.exited:
			t.Fatalf("the new process exited:\n%s", next.stderr.String())
		default:
		}
		b, _ := os.ReadFile(s.pidfile)
		return strings.TrimSpace(string(b)) == want
	})
	return next
}

// fleetMembers returns the instances Redis lists for per_ip: the members
// of the heartbeat set and the fields of the conn_cur hashes.
func fleetMembers(t *testing.T, addr string) (heartbeats, connCur []string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	heartbeats, err := rdb.ZRange(ctx, "strata:i:per_ip", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "strata:t:per_ip:*:conn_cur").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		fields, err := rdb.HKeys(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		connCur = append(connCur, fields...)
	}
	return heartbeats, connCur
}

// ofPid keeps the instance names of process pid (host:pid:random).
func ofPid(names []string, pid int) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(n, ":"+strconv.Itoa(pid)+":") {
			out = append(out, n)
		}
	}
	return out
}

// TestFleet_ReloadKeepsSharedTable: three instances, a client sending
// requests to each in turn, connections held open on two of them; each
// instance reloads its configuration while the traffic flows — one by
// SIGHUP (strata reload), unchanged; one by strata ctl reload with a new
// response header rule; one by POST /v1/reload, unchanged. Afterwards
// every instance reads the fleet's http_req_cnt as exactly the requests
// sent, conn_cur as exactly the connections held, and 0 once they close.
func TestFleet_ReloadKeepsSharedTable(t *testing.T) {
	r := startRedis(t)
	redisYAML := `{ address: "` + r.addr + `" }`
	up := testsupport.StartUpstream(t, upstreamBin)
	var fleet []*strataInstance
	for range 3 {
		fleet = append(fleet, startInstance(t, fleetYAML(redisYAML, up.Addr, connRules)))
	}
	start := waitStartCount(t, fleet)
	held := append(holdConns(t, fleet[0], 2), holdConns(t, fleet[2], 1)...)
	tr := startTraffic(t, fleet)
	tr.more(t, 30)

	fleet[0].reloadWithSIGHUP(t)
	tr.more(t, 30)

	withHeader := connRules + "\n    http_response: [\"set-header x-fleet-config 2\"]"
	fleet[1].writeConfig(t, fleetYAML(redisYAML, up.Addr, withHeader))
	fleet[1].reloadWithCtl(t)
	tr.more(t, 30)

	resp, err := fleet[2].api("POST", "/v1/reload")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/reload: %d", resp.StatusCode)
	}
	tr.more(t, 30)
	sent := tr.stop(t)

	// The changed configuration serves: the reload did happen.
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err = cl.Get("http://" + fleet[1].web + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("x-fleet-config"); got != "2" {
		t.Fatalf("x-fleet-config: %q after the reload, want 2", got)
	}
	sent++

	// Every request counted once: those of the start, of the traffic, the
	// one just sent, and the one of each held connection.
	want := start + sent + int64(len(held))
	t.Logf("%d requests sent, %d connections held", want, len(held))
	for _, s := range fleet {
		s.waitValue(t, "http_req_cnt", want)
		s.waitValue(t, "conn_cur", int64(len(held)))
	}
	// One member per instance: a reload did not make another.
	heartbeats, _ := fleetMembers(t, r.addr)
	if len(heartbeats) != len(fleet) {
		t.Fatalf("the fleet lists %d instances, want %d: %q", len(heartbeats), len(fleet), heartbeats)
	}
	for _, c := range held {
		c.Close()
	}
	for _, s := range fleet {
		s.waitValue(t, "conn_cur", 0)
		s.waitValue(t, "http_req_cnt", want)
		if ts := s.table(t); ts.Shared.Degraded {
			t.Fatalf("%s: the table is degraded", s.web)
		}
	}
}

// TestFleet_UpgradeKeepsSharedTable: three instances, a client sending
// requests to each in turn; one instance is replaced by a new process
// (binary upgrade) while two connections stay open on the old one.
// Afterwards every instance, the new process included, reads the fleet's
// http_req_cnt as exactly the requests sent, and conn_cur as the
// connections the old process still holds; once they close, the old
// process exits and has taken its heartbeat and conn_cur field out of
// Redis itself (not left for its heartbeat to go stale), and conn_cur is 0
// everywhere.
func TestFleet_UpgradeKeepsSharedTable(t *testing.T) {
	r := startRedis(t)
	// A grace long enough that the old process does not close the held
	// (idle) connections itself during the test.
	yaml := strings.Replace(fleetYAML(`{ address: "`+r.addr+`" }`, testsupport.StartUpstream(t, upstreamBin).Addr, connRules),
		"  access_log: { output: none }", "  access_log: { output: none }\n  grace: 60s", 1)
	var fleet []*strataInstance
	for range 3 {
		fleet = append(fleet, startInstance(t, yaml))
	}
	old := fleet[1]
	oldPid := old.cmd.Process.Pid
	start := waitStartCount(t, fleet)
	held := holdConns(t, old, 2)
	tr := startTraffic(t, fleet)
	tr.more(t, 30)

	next := old.upgrade(t)
	tr.more(t, 60)
	sent := tr.stop(t)

	want := start + sent + int64(len(held))
	t.Logf("%d requests sent, %d connections held on the old process", want, len(held))
	serving := []*strataInstance{fleet[0], next, fleet[2]}
	for _, s := range serving {
		s.waitValue(t, "http_req_cnt", want)
		s.waitValue(t, "conn_cur", int64(len(held)))
	}
	select {
	case <-old.exited:
		t.Fatal("the old process exited while it held connections")
	default:
	}
	heartbeats, connCur := fleetMembers(t, r.addr)
	if len(ofPid(heartbeats, oldPid)) != 1 || len(ofPid(connCur, oldPid)) != 1 {
		t.Fatalf("the old process (pid %d) should still be in the fleet: heartbeats %q, conn_cur fields %q", oldPid, heartbeats, connCur)
	}

	for _, c := range held {
		c.Close()
	}
	select {
	case <-old.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old process did not exit once its connections closed")
	}
	// Looked at right after the exit: only the old process's own leaving
	// can have removed it this soon.
	heartbeats, connCur = fleetMembers(t, r.addr)
	if n, m := ofPid(heartbeats, oldPid), ofPid(connCur, oldPid); len(n)+len(m) != 0 {
		t.Fatalf("the old process (pid %d) left itself in Redis: heartbeats %q, conn_cur fields %q", oldPid, n, m)
	}
	if len(heartbeats) != len(serving) {
		t.Fatalf("the fleet lists %d instances, want %d: %q", len(heartbeats), len(serving), heartbeats)
	}
	for _, s := range serving {
		s.waitValue(t, "conn_cur", 0)
		s.waitValue(t, "http_req_cnt", want)
	}
}

// TestFleet_UpgradeKeepsLimit: a limit on the fleet's request count per
// source holds exactly through the binary upgrade of one instance: the new
// process enforces with the fleet's count, neither starting from nothing
// (it would let more through) nor from a copy of the fleet's count on top
// of it (fewer). A cumulative count, rather than a rate, makes the number
// let through exact.
func TestFleet_UpgradeKeepsLimit(t *testing.T) {
	r := startRedis(t)
	const limit = 100
	rules := `    http_request:
      - "track-sc0 src table per_ip"
      - "deny status 429 if { sc0_http_req_cnt gt ` + strconv.Itoa(limit) + ` }"`
	fleet := startFleet(t, 3, `{ address: "`+r.addr+`" }`, rules)
	// Tracked from http_request on: startInstance's probes, which send no
	// request, are not counted.
	if ok, _ := sendRoundRobin(t, fleet, 80, time.Millisecond); ok != 80 {
		t.Fatalf("%d of the first 80 requests let through, want all", ok)
	}
	old := fleet[1]
	next := old.upgrade(t)
	select {
	case <-old.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old process did not exit")
	}
	const counted = 80
	next.waitValue(t, "http_req_cnt", counted)
	// Only the new process is sent requests now: each is counted, then
	// let through while the fleet's count is within the limit.
	ok, _ := sendRoundRobin(t, []*strataInstance{next}, 40, time.Millisecond)
	if want := limit - int(counted); ok != want {
		t.Fatalf("the new process let %d of 40 requests through, want %d (the fleet had counted %d, limit %d)", ok, want, counted, limit)
	}
	for _, s := range []*strataInstance{fleet[0], next, fleet[2]} {
		s.waitValue(t, "http_req_cnt", counted+40)
	}
}
