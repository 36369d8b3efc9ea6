package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// h2loadClean is h2load 1.52 over TLS with h2 negotiated (-D 2), progress
// lines cut.
const h2loadClean = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Warm-up started for thread #0.
progress: 100% of clients started
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.01s, 28689.50 req/s, 953.32KB/s
requests: 57379 total, 57479 started, 57379 done, 57379 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 57379 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 1.86MB (1952406) total, 225.03KB (230426) headers (space savings 95.82%), 672.41KB (688548) data
                     min         max         mean         sd        +/- sd
time for request:      108us     27.60ms      2.77ms      2.11ms    81.27%
time for connect:     4.24ms     26.99ms     16.50ms      9.14ms    60.00%
time to 1st byte:    21.85ms     36.56ms     28.92ms      5.18ms    60.00%
req/s           :    2776.47     2954.12     2867.25       51.87    80.00%
`

// h2loadRefused is the same run against a server that shares none of the
// ALPN protocols asked for and ends every handshake: nothing is counted.
const h2loadRefused = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.01s, 0.00 req/s, 0B/s
requests: 0 total, 0 started, 0 done, 0 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 0B (0) total, 0B (0) headers (space savings 0.00%), 0B (0) data
`

// h2loadErrored is a run (-n 1000) where no connection could be made.
const h2loadErrored = `starting benchmark...
spawning thread #0: 10 total client(s). 1000 total requests

finished in 1.99ms, 0.00 req/s, 0B/s
requests: 1000 total, 0 started, 0 done, 0 succeeded, 1000 failed, 1000 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
`

// h2loadHTTP1 is a run where the server chose http/1.1 (h2load offered it).
const h2loadHTTP1 = `TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Application protocol: http/1.1

finished in 8.26ms, 1210.07 req/s, 152.44KB/s
requests: 10 total, 10 started, 10 done, 10 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 7 2xx, 0 3xx, 1 4xx, 2 5xx
`

// h2loadNoALPN is a run where the handshake completed without ALPN.
const h2loadNoALPN = `TLS Protocol: TLSv1.3
Cipher: TLS_AES_256_GCM_SHA384
No protocol negotiated. Fallback behaviour may be activated

finished in 1.00s, 0.00 req/s, 0B/s
requests: 100 total, 0 started, 0 done, 0 succeeded, 100 failed, 100 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
`

func TestParseH2Load(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    h2loadOutput
		wantErr string
		// check is what h2loadOutput.check("h2") says: "" for nil,
		// "protocol" for errProtocol, else a substring of another error.
		check string
	}{
		{
			name: "clean h2 run",
			out:  h2loadClean,
			want: h2loadOutput{
				loadResult: loadResult{Requests: 57379, Elapsed: 2010 * time.Millisecond, RPS: 28689.50,
					Protocol: "h2", TLS: "TLSv1.3 TLS_AES_128_GCM_SHA256"},
				Total: 57379, Succeeded: 57379,
			},
		},
		{
			name: "handshake refused",
			out:  h2loadRefused,
			want: h2loadOutput{
				loadResult: loadResult{Elapsed: 2010 * time.Millisecond},
			},
			check: "protocol",
		},
		{
			name: "connections failed",
			out:  h2loadErrored,
			want: h2loadOutput{
				loadResult: loadResult{Elapsed: 1990 * time.Microsecond},
				Total:      1000, Failed: 1000,
			},
			check: "1000 of 1000 requests failed",
		},
		{
			name: "http/1.1 chosen, non-2xx counted",
			out:  h2loadHTTP1,
			want: h2loadOutput{
				loadResult: loadResult{Requests: 10, Elapsed: 8260 * time.Microsecond, RPS: 1210.07, Non2xx: 3,
					Protocol: "http/1.1", TLS: "TLSv1.3 TLS_AES_128_GCM_SHA256"},
				Total: 10, Succeeded: 10,
			},
			check: "protocol",
		},
		{
			name: "no ALPN",
			out:  h2loadNoALPN,
			want: h2loadOutput{
				loadResult: loadResult{Elapsed: time.Second, TLS: "TLSv1.3 TLS_AES_256_GCM_SHA384"},
				Total:      100, Failed: 100, NoProtocol: true,
			},
			check: "protocol",
		},
		{
			name:    "usage error",
			out:     "h2load: no URI or input file given\n",
			wantErr: "no request count",
		},
		{
			name:    "malformed requests line",
			out:     "finished in 1.00s, 1.00 req/s, 0B/s\nrequests: 1 total, x succeeded\n",
			wantErr: "h2load requests",
		},
		{
			name:    "finished without req/s",
			out:     "finished in 1.00s, 1.00 rps\n",
			wantErr: "no req/s",
		},
		{
			name:    "unknown duration unit",
			out:     "finished in 1.00ns, 1.00 req/s, 0B/s\n",
			wantErr: "unknown unit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseH2Load(tt.out)
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
			err = got.check("h2")
			switch {
			case tt.check == "" && err != nil:
				t.Errorf("check: %v, want nil", err)
			case tt.check == "protocol" && !errors.Is(err, errProtocol):
				t.Errorf("check: %v, want errProtocol", err)
			case tt.check != "" && tt.check != "protocol" && (err == nil || errors.Is(err, errProtocol) || !strings.Contains(err.Error(), tt.check)):
				t.Errorf("check: %v, want an error containing %q", err, tt.check)
			}
		})
	}
}

func TestH2LoadLatencies(t *testing.T) {
	var many strings.Builder
	for i := 1; i <= 200; i++ {
		// Out of order, as several clients write them.
		fmt.Fprintf(&many, "1795830030028322\t200\t%d\n", (i*37)%200+1)
	}
	tests := []struct {
		name     string
		log      string
		p50, p99 time.Duration
		wantErr  string
	}{
		{name: "one request", log: "1795830030028322\t200\t11881\n", p50: 11881 * time.Microsecond, p99: 11881 * time.Microsecond},
		{name: "200 requests, 1 to 200 µs", log: many.String(), p50: 100 * time.Microsecond, p99: 198 * time.Microsecond},
		{name: "blank lines skipped", log: "\n1\t200\t5\n\n", p50: 5 * time.Microsecond, p99: 5 * time.Microsecond},
		{name: "empty", log: "", wantErr: "no request"},
		{name: "two fields", log: "1\t200\n", wantErr: "2 fields"},
		{name: "not a number", log: "1\t200\t5x\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p50, p99, err := h2loadLatencies(strings.NewReader(tt.log))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p50 != tt.p50 || p99 != tt.p99 {
				t.Errorf("p50 %v, p99 %v; want %v, %v", p50, p99, tt.p50, tt.p99)
			}
		})
	}
}

func TestProbeALPN(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name  string
		start func(s *httptest.Server)
		want  string // "" for nil, "protocol" for errProtocol, else another error
	}{
		{name: "h2 served", start: func(s *httptest.Server) { s.EnableHTTP2 = true; s.StartTLS() }},
		{
			// What strata does until HTTP/2 lands: h2 is not advertised
			// and crypto/tls refuses the handshake.
			name: "http/1.1 only",
			start: func(s *httptest.Server) {
				s.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
				s.StartTLS()
			},
			want: "protocol",
		},
		{name: "no TLS", start: func(s *httptest.Server) { s.Start() }, want: "handshake fails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewUnstartedServer(h)
			s.Config.ErrorLog = log.New(io.Discard, "", 0)
			tt.start(s)
			defer s.Close()
			url := strings.Replace(s.URL, "http://", "https://", 1) + "/"
			err := probeALPN(context.Background(), url, "h2")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("probeALPN: %v, want nil", err)
			case tt.want == "protocol" && !errors.Is(err, errProtocol):
				t.Errorf("probeALPN: %v, want errProtocol", err)
			case tt.want != "" && tt.want != "protocol" && (err == nil || errors.Is(err, errProtocol) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("probeALPN: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
