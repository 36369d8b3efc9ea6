package fleet_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// BenchmarkFleet_SharedTable measures what sharing a table costs a strata
// process: its CPU per request with the table shared through Redis against
// the same table unshared, and the Redis commands the instance sends per
// second, over 1 and 1,000 distinct keys. The client sends keep-alive
// requests on 8 connections, the key in a header.
//
//	go test -run '^$' -bench BenchmarkFleet_SharedTable -benchtime 20000x ./core/fleet/
func BenchmarkFleet_SharedTable(b *testing.B) {
	for _, keys := range []int{1, 1000} {
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("keys=%d/unshared", keys)
			if shared {
				name = fmt.Sprintf("keys=%d/shared", keys)
			}
			b.Run(name, func(b *testing.B) { benchFleet(b, keys, shared) })
		}
	}
}

func benchFleet(b *testing.B, keys int, shared bool) {
	r := startRedis(b)
	up := testsupport.StartUpstream(b, upstreamBin).Addr
	share := ""
	if shared {
		share = `
    shared:
      redis: { address: "` + r.addr + `" }
      sync_interval: 100ms`
	}
	yaml := `
global:
  admin: { listen: "{{admin}}", token: ` + fleetToken + ` }
  access_log: { output: none }
stick_tables:
  per_key:
    type: string
    size: 10k
    expire: 1m
    store: [http_req_cnt, "http_req_rate(10s)"]` + share + `
frontends:
  web:
    bind: ["{{web}}"]
    timeouts: { client: 30s, http_keep_alive: 30s }
    http_request: ["track-sc0 req.hdr(x-key) table per_key"]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "` + up + `" } }
`
	s := startInstance(b, yaml)
	const conns = 8
	var wg sync.WaitGroup
	per := b.N / conns
	cpu0 := procCPU(b, s.cmd.Process.Pid)
	cmds0 := r.commands(b)
	start := time.Now()
	b.ResetTimer()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.web)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := range per {
				k := (c*per + i) % keys
				fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: bench\r\nX-Key: k%d\r\n\r\n", k)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	n := per * conns
	cpu := procCPU(b, s.cmd.Process.Pid) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "strata-cpu-µs/req")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	if shared {
		b.ReportMetric(float64(r.commands(b)-cmds0)/elapsed.Seconds(), "redis-cmds/s")
	}
}

// procCPU returns the user and system CPU time process pid used so far.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// commands returns the commands Redis has processed (INFO stats).
func (r *redisServer) commands(b *testing.B) int64 {
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "INFO stats\r\n")
	br := bufio.NewReader(c)
	head, _ := br.ReadString('\n') // $<len>
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	body := make([]byte, n)
	io.ReadFull(br, body)
	for _, l := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			x, _ := strconv.ParseInt(v, 10, 64)
			return x
		}
	}
	b.Fatal("no total_commands_processed in INFO stats")
	return 0
}
