package backend

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// httpStub answers every connection with status line st (or nothing when
// st is empty) and closes.
func httpStub(t *testing.T, st string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				if st == "" {
					time.Sleep(500 * time.Millisecond)
					return
				}
				c.Write([]byte(st + "\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	return ln.Addr().String()
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunCheck(t *testing.T) {
	tcp := &CheckSpec{Type: "tcp", Timeout: time.Second}
	httpc := &CheckSpec{Type: "http", Path: "/health", Timeout: 200 * time.Millisecond}
	expect204 := &CheckSpec{Type: "http", Timeout: time.Second, Expect: []StatusRange{{204, 204}}}
	tests := []struct {
		name   string
		addr   string
		spec   *CheckSpec
		ok     bool
		status string
		code   int
	}{
		{name: "tcp up", addr: httpStub(t, "HTTP/1.1 200 OK"), spec: tcp, ok: true, status: "L4OK"},
		{name: "tcp refused", addr: closedAddr(t), spec: tcp, status: "L4CON"},
		{name: "http 200", addr: httpStub(t, "HTTP/1.1 200 OK"), spec: httpc, ok: true, status: "L7OK", code: 200},
		{name: "http 503", addr: httpStub(t, "HTTP/1.1 503 Service Unavailable"), spec: httpc, status: "L7STS", code: 503},
		{name: "http garbage", addr: httpStub(t, "SSH-2.0-OpenSSH"), spec: httpc, status: "L7RSP"},
		{name: "http silent", addr: httpStub(t, ""), spec: httpc, status: "L7TOUT"},
		{name: "http expect 204 got 200", addr: httpStub(t, "HTTP/1.1 200 OK"), spec: expect204, status: "L7STS", code: 200},
		{name: "http expect 204", addr: httpStub(t, "HTTP/1.0 204 No Content"), spec: expect204, ok: true, status: "L7OK", code: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(context.Background(), tt.addr, tt.spec, nil)
			if r.OK != tt.ok || r.Status != tt.status || r.Code != tt.code {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestBackend_RiseFall(t *testing.T) {
	spec := &CheckSpec{Type: "tcp", Rise: 2, Fall: 3}
	b, _ := New(Spec{Name: "app", Check: spec, Servers: []ServerSpec{{Name: "s1", Weight: 1}}})
	s := b.Servers[0]
	fail := CheckResult{Status: "L4CON"}
	ok := CheckResult{OK: true, Status: "L4OK"}
	steps := []struct {
		r      CheckResult
		health Health
		status string
	}{
		{fail, HealthUp, "UP 1/3"},
		{fail, HealthUp, "UP 2/3"},
		{ok, HealthUp, "UP"}, // a success resets the count
		{fail, HealthUp, "UP 1/3"},
		{fail, HealthUp, "UP 2/3"},
		{fail, HealthDown, "DOWN"},
		{ok, HealthDown, "DOWN 1/2"},
		{fail, HealthDown, "DOWN"},
		{ok, HealthDown, "DOWN 1/2"},
		{ok, HealthUp, "UP"},
	}
	for i, st := range steps {
		b.applyCheck(s, spec, st.r)
		if s.Health() != st.health || s.Status() != st.status {
			t.Fatalf("step %d: health %v status %q, want %v %q", i, s.Health(), s.Status(), st.health, st.status)
		}
	}
	if info := s.CheckInfo(); info.Downs != 1 || !info.Enabled || info.Last.Status != "L4OK" {
		t.Fatalf("info %+v", info)
	}
	// Operator states show over health, and health goes on underneath.
	b.SetState(s, StateMaint)
	for range 3 {
		b.applyCheck(s, spec, fail)
	}
	if s.Status() != "MAINT" || s.Health() != HealthDown {
		t.Fatalf("maint: %q %v", s.Status(), s.Health())
	}
}

func TestBackend_ChecksRun(t *testing.T) {
	addr := httpStub(t, "HTTP/1.1 200 OK")
	spec := &CheckSpec{Type: "tcp", Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}
	b, _ := New(Spec{Name: "app", Check: spec, Servers: []ServerSpec{
		{Name: "up", Addr: addr, Weight: 1},
		{Name: "down", Addr: closedAddr(t), Weight: 1},
	}})
	b.Start()
	defer b.Close()
	for i := 0; b.Server("down").Health() != HealthDown || b.Server("up").CheckInfo().Last.Status != "L4OK"; i++ {
		if i > 500 {
			t.Fatalf("checks did not run: %q %q", b.Server("down").Status(), b.Server("up").Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c := counts(pickSeq(t, b, &Key{}, 4)); c["up"] != 4 {
		t.Fatalf("down server chosen: %v", c)
	}
	b.Close()
	b.Close() // idempotent
}

func TestBackend_PassiveChecks(t *testing.T) {
	tests := []struct {
		name    string
		observe Observe
		feed    func(b *Backend, s *Server)
		down    bool
	}{
		{name: "layer4 connect errors", observe: ObserveLayer4, down: true,
			feed: func(b *Backend, s *Server) { b.ObserveConnect(s, false) }},
		{name: "layer4 ignores 5xx", observe: ObserveLayer4,
			feed: func(b *Backend, s *Server) { b.ObserveResponse(s, 500) }},
		{name: "layer7 5xx", observe: ObserveLayer7, down: true,
			feed: func(b *Backend, s *Server) { b.ObserveResponse(s, 503) }},
		{name: "layer7 invalid responses", observe: ObserveLayer7, down: true,
			feed: func(b *Backend, s *Server) { b.ObserveResponseError(s) }},
		{name: "layer7 counts connect errors", observe: ObserveLayer7, down: true,
			feed: func(b *Backend, s *Server) { b.ObserveConnect(s, false) }},
		{name: "layer7 501 and 505 are fine", observe: ObserveLayer7,
			feed: func(b *Backend, s *Server) { b.ObserveResponse(s, 501); b.ObserveResponse(s, 505) }},
		{name: "off", observe: ObserveNone,
			feed: func(b *Backend, s *Server) { b.ObserveConnect(s, false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := New(Spec{Name: "app", Observe: tt.observe, ErrorLimit: 3, Servers: []ServerSpec{{Name: "s1", Weight: 1}}})
			s := b.Servers[0]
			tt.feed(b, s)
			tt.feed(b, s)
			if s.Health() != HealthUp {
				t.Fatal("down before error_limit")
			}
			tt.feed(b, s)
			if got := s.Health() == HealthDown; got != tt.down {
				t.Fatalf("down = %v", got)
			}
			if tt.down && !strings.Contains(s.CheckInfo().Observed, "3 consecutive") {
				t.Fatalf("observed %q", s.CheckInfo().Observed)
			}
		})
	}
	t.Run("success resets the count", func(t *testing.T) {
		b, _ := New(Spec{Name: "app", Observe: ObserveLayer7, ErrorLimit: 3, Servers: []ServerSpec{{Name: "s1", Weight: 1}}})
		s := b.Servers[0]
		for range 10 {
			b.ObserveResponse(s, 500)
			b.ObserveResponse(s, 500)
			b.ObserveResponse(s, 200)
		}
		if s.Health() != HealthUp {
			t.Fatal("non-consecutive errors took the server down")
		}
	})
}

// Without active checks, a server that passive checks took down is probed
// with TCP checks until it is back.
func TestBackend_PassiveRecoveryProbe(t *testing.T) {
	saved := defaultCheck
	defaultCheck.Interval, defaultCheck.Timeout = 20*time.Millisecond, time.Second
	defer func() { defaultCheck = saved }()
	addr := httpStub(t, "HTTP/1.1 200 OK")
	b, _ := New(Spec{Name: "app", Observe: ObserveLayer4, ErrorLimit: 1, Servers: []ServerSpec{{Name: "s1", Addr: addr, Weight: 1}}})
	b.Start()
	defer b.Close()
	s := b.Servers[0]
	time.Sleep(100 * time.Millisecond)
	if n := s.CheckInfo().Last.Status; n != "" {
		t.Fatalf("probed while up: %q", n)
	}
	b.ObserveConnect(s, false)
	if s.Health() != HealthDown {
		t.Fatal("not down after error_limit")
	}
	for i := 0; s.Health() != HealthUp; i++ {
		if i > 500 {
			t.Fatalf("not back up: %q", s.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if info := s.CheckInfo(); info.Observed != "" || info.Last.Status != "L4OK" {
		t.Fatalf("after recovery: %+v", info)
	}
}
