package fleet_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// End-to-end tests of shared stick tables: real strata processes, a real
// upstream process and a real redis-server (standalone, or a 3-node
// cluster), started by the tests on 127.0.0.1.

var strataBin, upstreamBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-fleet-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct {
		dst  *string
		name string
		pkg  string
	}{
		{&strataBin, "strata", "github.com/strata-proxy/strata/cmd/strata"},
		{&upstreamBin, "upstream", "github.com/strata-proxy/strata/cmd/upstream"},
	} {
		if *b.dst, err = testsupport.BuildBinary(dir, b.name, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, "building", b.pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServer is a redis-server process.
type redisServer struct {
	addr string
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	port := freePort(t)
	r := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: t.TempDir()}
	// No persistence: a restart loses everything, the hardest case.
	r.args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no"}, extra...)
	if slices.Contains(extra, "--cluster-enabled") {
		r.args = append(r.args, "--cluster-config-file", filepath.Join(r.dir, "nodes.conf"))
	}
	r.start(t, bin)
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) start(t testing.TB, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, r.args...)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(syscall.SIGCONT) // in case a test paused it
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// restart stops the server and starts it again, empty, on the same port.
func (r *redisServer) restart(t testing.TB) {
	t.Helper()
	r.kill()
	bin, _ := exec.LookPath("redis-server")
	r.start(t, bin)
}

// strataInstance is a `strata run` process of the fleet. Every instance
// runs with a pid file, so that `strata reload` and a binary upgrade can
// reach it.
type strataInstance struct {
	web, admin string
	cfg        string // the configuration file, which a test may rewrite
	pidfile    string
	cmd        *exec.Cmd
	exited     <-chan struct{} // closed once cmd has exited
	stderr     *testsupport.SyncBuffer
}

const fleetToken = "fleet-token"

func startInstance(t testing.TB, yaml string) *strataInstance {
	t.Helper()
	dir := t.TempDir()
	s := &strataInstance{
		web:     "127.0.0.1:" + strconv.Itoa(freePort(t)),
		admin:   "127.0.0.1:" + strconv.Itoa(freePort(t)),
		cfg:     filepath.Join(dir, "strata.yaml"),
		pidfile: filepath.Join(dir, "strata.pid"),
	}
	s.writeConfig(t, yaml)
	s.spawn(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := s.api("GET", "/v1/tables"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", s.web); err == nil {
				c.Close()
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("strata did not start:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeConfig writes the instance's configuration file from yaml, whose
// {{web}} and {{admin}} are the instance's addresses.
func (s *strataInstance) writeConfig(t testing.TB, yaml string) {
	t.Helper()
	yaml = strings.NewReplacer("{{web}}", s.web, "{{admin}}", s.admin).Replace(yaml)
	if err := os.WriteFile(s.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// spawn starts `strata run` with the instance's configuration and pid file
// (and extra flags), and stops it at the end of the test.
func (s *strataInstance) spawn(t testing.TB, extra ...string) {
	t.Helper()
	s.stderr = &testsupport.SyncBuffer{}
	s.cmd = exec.Command(strataBin, append([]string{"run", "-c", s.cfg, "--pidfile", s.pidfile}, extra...)...)
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := s.cmd, s.stderr
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.exited = done
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("strata %s (pid %d) said:\n%s", s.web, cmd.Process.Pid, stderr.String())
		}
	})
}

func (s *strataInstance) api(method, path string) (*http.Response, error) {
	req, _ := http.NewRequest(method, "http://"+s.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	return http.DefaultClient.Do(req)
}

// metrics returns the instance's GET /metrics.
func (s *strataInstance) metrics(t *testing.T) string {
	t.Helper()
	resp, err := s.api("GET", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tableState is what GET /v1/tables/per_ip says of the table and of the
// key 127.0.0.1.
type tableState struct {
	Shared struct {
		Degraded bool   `json:"degraded"`
		Syncs    uint64 `json:"syncs"`
	} `json:"shared"`
	Entries []struct {
		Data map[string]int64 `json:"data"`
	} `json:"entries"`
}

func (s *strataInstance) table(t *testing.T) tableState {
	t.Helper()
	resp, err := s.api("GET", "/v1/tables/per_ip?key=127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ts tableState
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		t.Fatal(err)
	}
	return ts
}

// value returns data type name of 127.0.0.1 (0 when absent).
func (ts tableState) value(name string) int64 {
	if len(ts.Entries) == 0 {
		return 0
	}
	return ts.Entries[0].Data[name]
}

// waitValue waits until the instance reads want for data type name of
// 127.0.0.1, failing with the last value it read.
func (s *strataInstance) waitValue(t *testing.T, name string, want int64) {
	t.Helper()
	var last int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		if last = s.table(t).value(name); last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s reads %s=%d, want %d", s.web, name, last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const syncInterval = 50 * time.Millisecond

func fleetYAML(redis, upstream, rules string) string {
	return `
global:
  admin: { listen: "{{admin}}", token: ` + fleetToken + ` }
  access_log: { output: none }
stick_tables:
  per_ip:
    type: ip
    size: 10k
    expire: 1m
    store: [conn_cur, http_req_cnt, "http_req_rate(10s)", gpc0]
    shared:
      redis: ` + redis + `
      sync_interval: ` + syncInterval.String() + `
frontends:
  web:
    bind: ["{{web}}"]
    timeouts: { client: 30s, http_keep_alive: 30s }
` + rules + `
    default_backend: app
backends:
  app:
    servers: { s1: { address: "` + upstream + `" } }
`
}

// startFleet starts n instances sharing per_ip through redis (YAML of the
// redis mapping).
func startFleet(t *testing.T, n int, redis, rules string) []*strataInstance {
	t.Helper()
	up := testsupport.StartUpstream(t, upstreamBin)
	var fleet []*strataInstance
	for range n {
		fleet = append(fleet, startInstance(t, fleetYAML(redis, up.Addr, rules)))
	}
	return fleet
}

// sendRoundRobin sends n GET requests, one at a time, each on a new
// connection, to the instances in turn. It returns how many got 200 and
// the time each was sent.
func sendRoundRobin(t *testing.T, fleet []*strataInstance, n int, pace time.Duration) (ok int, sent []time.Time) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for i := range n {
		sent = append(sent, time.Now())
		resp, err := cl.Get("http://" + fleet[i%len(fleet)].web + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		time.Sleep(pace)
	}
	return ok, sent
}

// mostInWindow is the largest number of times in sent within one window w.
func mostInWindow(sent []time.Time, w time.Duration) int {
	most, j := 0, 0
	for i := range sent {
		for sent[i].Sub(sent[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

const rateRules = `    http_request:
      - "track-sc0 src table per_ip"
      - "deny status 429 if { sc0_http_req_rate gt 100 }"`

// checkFleetLimit: a limit of 100 requests per 10 s per source, enforced by
// three instances that a client reaches in turn, lets through no fewer
// than 100 and no more than 100 plus what the fleet could take in before
// the instances heard of each other's counts: the instances times the
// requests sent while a count travels, which is one interval to push and
// one to pull, plus as much again for a sync goroutine that a loaded
// machine schedules late (a count of requests, not a time, is asserted).
func checkFleetLimit(t *testing.T, fleet []*strataInstance) {
	t.Helper()
	ok, sent := sendRoundRobin(t, fleet, 300, 2*time.Millisecond)
	slack := len(fleet) * mostInWindow(sent, 4*syncInterval)
	t.Logf("%d of 300 let through by %d instances (limit 100, slack %d)", ok, len(fleet), slack)
	if ok < 100 || ok > 100+slack {
		t.Fatalf("%d requests let through, want 100 to %d", ok, 100+slack)
	}
	// Unshared, each instance would have let 100 through: 300.
	if ok >= 300 {
		t.Fatal("the limit was not enforced fleet-wide")
	}
}

// checkConnCurAtRest: connections held open on every instance are counted
// fleet-wide exactly, and once closed conn_cur comes back to 0 everywhere.
func checkConnCurAtRest(t *testing.T, fleet []*strataInstance) {
	t.Helper()
	var conns []net.Conn
	for _, s := range fleet {
		conns = append(conns, holdConns(t, s, 3)...)
	}
	want := int64(len(conns))
	for _, s := range fleet {
		testsupport.WaitFor(t, 10*time.Second, fmt.Sprintf("conn_cur %d on %s", want, s.web), func() bool {
			return s.table(t).value("conn_cur") == want
		})
	}
	for _, c := range conns {
		c.Close()
	}
	for _, s := range fleet {
		testsupport.WaitFor(t, 10*time.Second, "conn_cur 0 on "+s.web, func() bool {
			return s.table(t).value("conn_cur") == 0
		})
	}
}

// holdConns opens n connections to s, each after one keep-alive request
// (so that it is tracked and kept), and returns them open. The test
// closes them; they are closed at its end in any case.
func holdConns(t *testing.T, s *strataInstance, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", s.web)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conns = append(conns, c)
	}
	return conns
}

const connRules = `    tcp_request_connection: ["track-sc0 src table per_ip"]`

func TestFleet_RateLimitAcrossInstances(t *testing.T) {
	r := startRedis(t)
	fleet := startFleet(t, 3, `{ address: "`+r.addr+`" }`, rateRules)
	checkFleetLimit(t, fleet)
}

func TestFleet_ConnCurExactAtRest(t *testing.T) {
	r := startRedis(t)
	fleet := startFleet(t, 3, `{ address: "`+r.addr+`" }`, connRules)
	checkConnCurAtRest(t, fleet)
}

// TestFleet_InstanceStopTakesItsShareOut: connections held by an instance
// that stops leave the fleet's conn_cur.
func TestFleet_InstanceStopTakesItsShareOut(t *testing.T) {
	r := startRedis(t)
	fleet := startFleet(t, 2, `{ address: "`+r.addr+`" }`, connRules)
	for range 2 { // held open until the test ends
		c, err := net.Dial("tcp", fleet[1].web)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	testsupport.WaitFor(t, 10*time.Second, "conn_cur 2 seen by the other instance", func() bool {
		return fleet[0].table(t).value("conn_cur") == 2
	})
	fleet[1].cmd.Process.Kill() // dies: its heartbeat goes stale
	testsupport.WaitFor(t, 20*time.Second, "the dead instance's conn_cur to leave the fleet", func() bool {
		return fleet[0].table(t).value("conn_cur") == 0
	})
}

// TestFleet_RedisRestartLosesNothing: Redis is paused (SIGSTOP) while
// traffic flows, then resumed, which runs the writes queued meanwhile, then
// restarted empty: every request is answered, the tables say they are
// degraded while Redis is away, and each time it is back the fleet's
// request count is exactly the number of requests sent: nothing lost, and
// nothing counted twice by a push repeated after a lost reply.
func TestFleet_RedisRestartLosesNothing(t *testing.T) {
	r := startRedis(t)
	fleet := startFleet(t, 3, `{ address: "`+r.addr+`" }`, `    http_request: ["track-sc0 src table per_ip"]`)
	total := 0
	send := func(n int) {
		ok, _ := sendRoundRobin(t, fleet, n, time.Millisecond)
		if ok != n {
			t.Fatalf("%d of %d requests answered 200", ok, n)
		}
		total += n
	}
	send(60)

	// A partition: Redis stops answering.
	r.cmd.Process.Signal(syscall.SIGSTOP)
	send(60)
	for _, s := range fleet {
		testsupport.WaitFor(t, 15*time.Second, "the table degraded on "+s.web, func() bool { return s.table(t).Shared.Degraded })
	}
	if m := fleet[0].metrics(t); !strings.Contains(m, `strata_stick_table_shared_degraded{table="per_ip"} 1`) {
		t.Errorf("/metrics does not say the table is degraded:\n%s", m)
	}
	send(30)

	// Redis resumes and runs the pushes it had queued, whose replies the
	// instances gave up on.
	r.cmd.Process.Signal(syscall.SIGCONT)
	for _, s := range fleet {
		testsupport.WaitFor(t, 15*time.Second, "the table back in sync on "+s.web, func() bool { return !s.table(t).Shared.Degraded })
	}
	for _, s := range fleet {
		s.waitValue(t, "http_req_cnt", int64(total))
	}

	// Redis comes back empty: its process restarted without persistence.
	r.restart(t)
	send(30)
	for _, s := range fleet {
		s.waitValue(t, "http_req_cnt", int64(total))
	}
}

// TestFleet_Cluster runs the rate limit and conn_cur checks against a
// 3-node Redis cluster.
func TestFleet_Cluster(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed (apt-get install redis-tools)")
	}
	var nodes []*redisServer
	var addrs []string
	for range 3 {
		n := startRedis(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr)
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node agrees the cluster is up.
	for _, n := range nodes {
		testsupport.WaitFor(t, 20*time.Second, "cluster_state:ok on "+n.addr, func() bool {
			out, _ := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(n.port), "cluster", "info").Output()
			return strings.Contains(string(out), "cluster_state:ok")
		})
	}
	redis := `{ addresses: ["` + strings.Join(addrs, `", "`) + `"] }`
	t.Run("rate", func(t *testing.T) {
		checkFleetLimit(t, startFleet(t, 3, redis, rateRules))
	})
	t.Run("conn_cur", func(t *testing.T) {
		checkConnCurAtRest(t, startFleet(t, 3, redis, connRules))
	})
}
