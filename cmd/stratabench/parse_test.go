package main

import (
	"strings"
	"testing"
	"time"
)

const wrkClean = `Running 10s test @ http://127.0.0.1:8080/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   586.59us  136.97us   3.44ms   76.40%
    Req/Sec    84.39k     2.93k   89.24k    78.00%
  Latency Distribution
     50%  571.00us
     75%  638.00us
     90%  715.00us
     99%    1.06ms
  839756 requests in 10.00s, 71.28MB read
Requests/sec:  83974.62
Transfer/sec:      7.13MB
`

const wrkErrors = `Running 1s test @ http://127.0.0.1:33777/status/503
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.58ms   21.40ms 150.43ms   87.22%
    Req/Sec    14.49k    14.26k   40.17k    80.00%
  Latency Distribution
     50%    1.14ms
     75%    5.10ms
     90%   42.83ms
     99%    2.01s
  14672 requests in 1.05s, 1.43MB read
  Socket errors: connect 2, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 14672
Requests/sec:  14032.31
Transfer/sec:      1.36MB
`

func TestParseWRK(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    loadResult
		wantErr string
	}{
		{
			name: "clean run",
			out:  wrkClean,
			want: loadResult{Requests: 839756, Elapsed: 10 * time.Second, RPS: 83974.62,
				P50: 571 * time.Microsecond, P99: 1060 * time.Microsecond},
		},
		{
			name: "errors and non-2xx",
			out:  wrkErrors,
			want: loadResult{Requests: 14672, Elapsed: 1050 * time.Millisecond, RPS: 14032.31,
				P50: 1140 * time.Microsecond, P99: 2010 * time.Millisecond, Non2xx: 14672, SocketErrors: 12},
		},
		{
			name: "without latency distribution",
			out:  "  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n",
			want: loadResult{Requests: 10, Elapsed: time.Second, RPS: 10},
		},
		{
			name:    "connection refused",
			out:     "unable to connect to 127.0.0.1:1 Connection refused\n",
			wantErr: "no request count",
		},
		{
			name:    "malformed socket errors",
			out:     "  1 requests in 1.00s, 1KB read\n  Socket errors: connect x\nRequests/sec: 1.0\n",
			wantErr: "socket errors",
		},
		{
			name:    "unknown latency unit",
			out:     "  Latency Distribution\n     50%  3.00ns\n",
			wantErr: "unknown unit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWRK(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWRKDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{name: "microseconds", in: "571.00us", want: 571 * time.Microsecond, ok: true},
		{name: "milliseconds", in: "1.06ms", want: 1060 * time.Microsecond, ok: true},
		{name: "seconds", in: "10.00s", want: 10 * time.Second, ok: true},
		{name: "minutes", in: "1.50m", want: 90 * time.Second, ok: true},
		{name: "hours", in: "1h", want: time.Hour, ok: true},
		{name: "no unit", in: "12", ok: false},
		{name: "no number", in: "ms", ok: false},
		{name: "bad unit", in: "1.0ns", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWRKDuration(tt.in)
			if (err == nil) != tt.ok || tt.ok && got != tt.want {
				t.Errorf("parseWRKDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name         string
		line         string
		utime, stime uint64
		ok           bool
	}{
		{
			name:  "plain",
			line:  "22429 (haproxy) S 22369 22369 4667 0 -1 4194304 98 0 0 0 1234 567 0 0 20 0 1 0 134084 3133440 412 18446744073709551615\n",
			utime: 1234, stime: 567, ok: true,
		},
		{
			name:  "command with spaces and parentheses",
			line:  "77 (we (ird) name) R 1 77 77 0 -1 4194304 0 0 0 0 42 7 0 0 20 0 4 0 1 1 1 1",
			utime: 42, stime: 7, ok: true,
		},
		{name: "no command", line: "77 R 1 2 3", ok: false},
		{name: "truncated", line: "77 (x) R 1 77 77 0 -1 4194304 0 0 0 0 42", ok: false},
		{name: "not a number", line: "77 (x) R 1 77 77 0 -1 4194304 0 0 0 0 4x 7 0", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s, err := parseStat(tt.line)
			if (err == nil) != tt.ok || tt.ok && (u != tt.utime || s != tt.stime) {
				t.Errorf("parseStat = %d, %d, %v; want %d, %d, ok %v", u, s, err, tt.utime, tt.stime, tt.ok)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   int64
		ok     bool
	}{
		{name: "present", status: "Name:\thaproxy\nVmPeak:\t  20000 kB\nVmRSS:\t    2160 kB\nThreads:\t1\n", want: 2160, ok: true},
		{name: "absent (kernel thread)", status: "Name:\tkthreadd\nThreads:\t1\n", ok: false},
		{name: "unexpected unit", status: "VmRSS:\t 2 MB\n", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(tt.status)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseSystemBusy(t *testing.T) {
	tests := []struct {
		name        string
		stat        string
		busy, total uint64
		ok          bool
	}{
		{
			name: "processes only, guest times not counted twice",
			stat: "cpu  100 5 50 1000 20 3 2 1 40 0\ncpu0 50 2 25 500 10 1 1 0 20 0\nintr 1\n",
			busy: 100 + 5 + 50, total: 100 + 5 + 50 + 1000 + 20 + 3 + 2 + 1, ok: true,
		},
		{name: "no cpu line", stat: "intr 1\n", ok: false},
		{name: "not a number", stat: "cpu  1 x 3 4 5\n", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, total, err := parseSystemBusy(tt.stat)
			if (err == nil) != tt.ok || busy != tt.busy || total != tt.total {
				t.Errorf("parseSystemBusy = %d, %d, %v; want %d, %d, ok %v", busy, total, err, tt.busy, tt.total, tt.ok)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "empty", in: nil, want: 0},
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 84213.6: "84,214", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigs(t *testing.T) {
	p := configParams{listen: "127.0.0.1:8080", servers: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, maxconn: 9000}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			p := p
			p.servers = p.servers[:sc.servers]
			s, h := sc.strataConfig(p), sc.haproxyConfig(p)
			for _, want := range []string{`bind: ["127.0.0.1:8080"]`, `s1: { address: "127.0.0.1:9001" }`, "access_log: { output: none }"} {
				if !strings.Contains(s, want) {
					t.Errorf("strata configuration lacks %q:\n%s", want, s)
				}
			}
			for _, want := range []string{"nbthread 1", "bind 127.0.0.1:8080", "server s1 127.0.0.1:9001", "option http-keep-alive"} {
				if !strings.Contains(h, want) {
					t.Errorf("HAProxy configuration lacks %q:\n%s", want, h)
				}
			}
			if strings.Contains(h, "\n    log ") {
				t.Error("HAProxy configuration logs")
			}
			if sc.scheme == "https" {
				for _, want := range []string{"    tls:\n      certificates: [{ cert: ", certFile + `", key: `, keyFile + `" }]`, "      alpn: ["} {
					if !strings.Contains(s, want) {
						t.Errorf("strata configuration lacks %q:\n%s", want, s)
					}
				}
				if want := "bind 127.0.0.1:8080 ssl crt " + combinedFile + " alpn "; !strings.Contains(h, want) || !strings.Contains(h, "ssl-default-bind-ciphersuites ") {
					t.Errorf("HAProxy configuration lacks %q:\n%s", want, h)
				}
			}
		})
	}
}

func TestReport_Table(t *testing.T) {
	h := &figures{RPS: 80000, CPUPerReq: 10, P50: 500, P99: 1200, ProxyCPU: 0.95, LoadCPU: 0.9}
	s := &figures{RPS: 40000, CPUPerReq: 20, P50: 1000, P99: 2400, ProxyCPU: 1, LoadCPU: 0.5}
	r := &report{
		Settings: settings{Idle: 2000},
		Scenarios: []*scenarioResult{
			{
				Name: "plain",
				Proxies: []*proxyResult{
					{Proxy: "strata", Status: statusOK, Median: s, Idle: &idleResult{Conns: 2000, RSSBefore: 10000, RSSAfter: 16000, KiBPerConn: 3, FDsPerConn: 1}},
					{Proxy: "haproxy", Status: statusOK, Median: h, Errors: []string{"run 2: 3 non-2xx"}},
				},
				Ratio: ratioOf(s, h),
			},
			{
				Name: "leastconn2",
				Proxies: []*proxyResult{
					{Proxy: "strata", Status: statusSkipped, Reason: "needs the backends feature"},
					{Proxy: "haproxy", Status: statusFailed, Reason: "haproxy exited"},
				},
			},
		},
	}
	out := r.table()
	for _, want := range []string{
		"plain        strata              40,000       20.00",
		"plain        strata/haproxy        0.50        2.00",
		"! run 2: 3 non-2xx",
		"leastconn2   strata          skipped: needs the backends feature",
		"leastconn2   haproxy         failed: haproxy exited",
		"plain        strata               3.00      1.00  10,000 → 16,000 KiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
