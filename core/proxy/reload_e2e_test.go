package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/generation"

	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/internal/testsupport"
)

// reloadConfig is a configuration whose responses carry x-gen: gen, whose
// http-request rules count requests per client address, and which has one
// frontend per extra bind given.
func reloadConfig(gen string, vars map[string]string, extra string) *config.Config {
	y := `
global:
  access_log: { output: none }
stick_tables:
  per_ip: { type: ip, size: 100, expire: 10m, store: [http_req_cnt, conn_cur] }
frontends:
  web:
    bind: ["127.0.0.1:0"]
    mode: http
    timeouts: { client: 10s, http_request: 5s, http_keep_alive: 10s }
    http_request: ["track-sc0 src table per_ip"]
    http_response: ["set-header x-gen ` + gen + `"]
    default_backend: app
` + extra + `
backends:
  app:
    mode: http
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}", weight: 10 }
      s3: { address: "{{s3}}" }
`
	for k, v := range vars {
		y = strings.ReplaceAll(y, "{{"+k+"}}", v)
	}
	cfg, err := config.Load(config.Sources{YAML: []byte(y)})
	if err != nil {
		panic(err)
	}
	return cfg
}

// startReloadProxy starts a proxy on generation 1 of reloadConfig (no
// extra frontend), closed when the test ends; it returns the generation
// too, for tests that watch it being replaced.
func startReloadProxy(t *testing.T, vars map[string]string) (*Proxy, *generation.Generation) {
	t.Helper()
	g1, err := generation.Build(reloadConfig("1", vars, ""), generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(g1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, g1
}

// genClient is a keep-alive client that reads x-gen.
type genClient struct {
	c  net.Conn
	br *bufio.Reader
}

func genDial(t testing.TB, addr string) *genClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &genClient{c: c, br: bufio.NewReader(c)}
}

// get sends GET / and returns the x-gen of the answer.
func (cl *genClient) get(t testing.TB) string {
	t.Helper()
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(cl.c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp.Header.Get("x-gen")
}

func reqCount(t testing.TB, g *generation.Generation) int64 {
	t.Helper()
	tb := g.StickEngine().Table("per_ip")
	e, ok := tb.Lookup(stick.KeyFromIP(netip.MustParseAddr("127.0.0.1")), time.Now())
	if !ok {
		return 0
	}
	v, _ := e.Get(stick.DataHTTPReqCnt, 0, time.Now())
	return v
}

// TestProxy_Reload: a reload keeps the listening socket, moves a keep-alive
// connection to the new configuration at its next request, keeps the
// stick table and its counters, and closes the old generation once its
// last connection has moved.
func TestProxy_Reload(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p, g1 := startReloadProxy(t, vars)
	addr := p.Addrs("web")[0]
	ka := genDial(t, addr)
	for range 3 {
		if got := ka.get(t); got != "1" {
			t.Fatalf("x-gen %q before the reload", got)
		}
	}
	tbl := g1.StickEngine().Table("per_ip")

	g2, err := p.Reload(reloadConfig("2", vars, ""), generation.BuildOptions{})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if p.Addrs("web")[0] != addr {
		t.Fatalf("the listener changed: %s, then %s", addr, p.Addrs("web")[0])
	}
	if g2.Number() != g1.Number()+1 {
		t.Fatalf("generation numbers %d then %d", g1.Number(), g2.Number())
	}
	if got := ka.get(t); got != "2" {
		t.Fatalf("keep-alive connection after the reload: x-gen %q, want 2", got)
	}
	if got := genDial(t, addr).get(t); got != "2" {
		t.Fatalf("new connection after the reload: x-gen %q, want 2", got)
	}
	if g2.StickEngine().Table("per_ip") != tbl {
		t.Fatal("the unchanged stick table was replaced")
	}
	if n := reqCount(t, g2); n != 5 {
		t.Fatalf("http_req_cnt %d after 5 requests across the reload", n)
	}
	testsupport.WaitFor(t, 5*time.Second, "the old generation closed", func() bool { return g1.Life.Refs.Load() == 0 })
	if st := p.ReloadStatus(); st.Reloads != 1 || st.Generation != g2.Number() || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestProxy_ReloadFailures: a configuration with errors, or one whose bind
// fails, changes nothing; the error says why and the status records it.
func TestProxy_ReloadFailures(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	p, g1 := startReloadProxy(t, vars)
	addr := p.Addrs("web")[0]
	ka := genDial(t, addr)
	ka.get(t)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		cfg  func() *config.Config
		want []string
	}{
		{"rule errors", func() *config.Config {
			c := reloadConfig("2", vars, "")
			c.Frontends[0].HTTPRequest.List = append(c.Frontends[0].HTTPRequest.List, "frobnicate", "deny if { nosuchfetch }")
			return c
		}, []string{"http_request[1]", "http_request[2]"}},
		{"bind in use", func() *config.Config {
			return reloadConfig("2", vars, "  other:\n    bind: [\""+busy.Addr().String()+"\"]\n    mode: http\n    default_backend: app\n")
		}, []string{"bind " + busy.Addr().String()}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Reload(tt.cfg(), generation.BuildOptions{})
			if err == nil {
				t.Fatal("the reload succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if p.Generation() != g1 {
				t.Fatal("the generation changed")
			}
			if got := ka.get(t); got != "1" {
				t.Fatalf("x-gen %q after a failed reload", got)
			}
			if got := genDial(t, addr).get(t); got != "1" {
				t.Fatalf("new connection: x-gen %q after a failed reload", got)
			}
			if st := p.ReloadStatus(); st.Failures != int64(i+1) || !strings.Contains(st.LastError, tt.want[0]) {
				t.Fatalf("status %+v", st)
			}
		})
	}
	var ce *config.Errors
	if _, err := p.Reload(tests[0].cfg(), generation.BuildOptions{}); !errors.As(err, &ce) || len(ce.List) != 2 {
		t.Fatalf("want every configuration error listed, got %v", err)
	}
}

// TestProxy_ReloadListenersAndServers: added binds open, removed ones
// close while their connections carry on with the old generation (closed
// when the last one ends); servers keep their health and the operator's
// state and weight.
func TestProxy_ReloadListenersAndServers(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2", "s3"})
	old := reloadConfig("1", vars, "  gone:\n    bind: [\"127.0.0.1:0\"]\n    mode: http\n    default_backend: app\n    http_response: [\"set-header x-gen gone1\"]\n")
	old.Backends[0].Servers[2].Disabled = true
	g1, err := generation.Build(old, generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(g1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	goneAddr := p.Addrs("gone")[0]
	stay := genDial(t, goneAddr)
	if got := stay.get(t); got != "gone1" {
		t.Fatalf("x-gen %q", got)
	}
	be := g1.Backend("app")
	be.SetState(be.Server("s1"), backend.StateDrain) // operator's choices
	if err := be.SetWeight(be.Server("s2"), 3); err != nil {
		t.Fatal(err)
	}
	// s3 starts in maint (disabled), and the new configuration enables it.

	next := reloadConfig("2", vars, "  added:\n    bind: [\"127.0.0.1:0\"]\n    mode: http\n    default_backend: app\n")
	g2, err := p.Reload(next, generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Addrs("added")) != 1 {
		t.Fatal("the new bind is not listening")
	}
	if got := genDial(t, p.Addrs("added")[0]).get(t); got != "" {
		t.Fatalf("new frontend: x-gen %q", got)
	}
	testsupport.WaitFor(t, 5*time.Second, "the removed bind refuses connections", func() bool {
		c, err := net.DialTimeout("tcp", goneAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// The connection of the removed frontend stays on its generation.
	if got := stay.get(t); got != "gone1" {
		t.Fatalf("connection of a removed frontend: x-gen %q", got)
	}
	if g1.Life.Refs.Load() != 1 || g1.Connections() != 1 {
		t.Fatalf("old generation references %d", g1.Life.Refs.Load())
	}
	b2 := g2.Backend("app")
	for _, tt := range []struct {
		srv    string
		state  backend.State
		weight int
	}{
		{"s1", backend.StateDrain, 1},
		{"s2", backend.StateReady, 3},
		{"s3", backend.StateReady, 1},
	} {
		s := b2.Server(tt.srv)
		if s.State() != tt.state || s.Weight() != tt.weight {
			t.Errorf("%s: state %v weight %d, want %v %d", tt.srv, s.State(), s.Weight(), tt.state, tt.weight)
		}
	}
	stay.c.Close()
	testsupport.WaitFor(t, 5*time.Second, "the old generation closed with its last connection", func() bool { return g1.Life.Refs.Load() == 0 })
}

// TestProxy_ReloadHealthCarries: a server that checks found down is still
// down in the new generation, before any check of its own has run.
func TestProxy_ReloadHealthCarries(t *testing.T) {
	_, vars := startUpstreams(t, []string{"s1", "s2"})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	vars["s3"] = dead.Addr().String()
	dead.Close()
	cfg := func() *config.Config {
		c := reloadConfig("1", vars, "")
		c.Backends[0].Observe, c.Backends[0].ErrorLimit = "layer4", 3 // passive checks
		return c
	}
	g1, err := generation.Build(cfg(), generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(g1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s3 := g1.Backend("app").Server("s3")
	for range 3 {
		g1.Backend("app").ObserveConnect(s3, false)
	}
	if s3.Health() != backend.HealthDown {
		t.Fatalf("passive checks did not mark the server down (%v)", s3.Health())
	}
	g2, err := p.Reload(cfg(), generation.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := g2.Backend("app").Server("s3").Health(); h != backend.HealthDown {
		t.Fatalf("s3 health %v after the reload", h)
	}
	if h := g2.Backend("app").Server("s1").Health(); h != backend.HealthUp {
		t.Fatalf("s1 health %v after the reload", h)
	}
}
