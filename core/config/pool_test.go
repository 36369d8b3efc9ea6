package config

import (
	"strings"
	"testing"
)

// TestLoad_PoolMaxConn: pool_max_conn defaults to 1024, a backend's value
// is its servers' default (HAProxy's default-server pool-max-conn), a
// server's own value overrides it, 0 keeps no idle connection, and a
// negative bound is refused at its path.
func TestLoad_PoolMaxConn(t *testing.T) {
	c, err := Load(Sources{YAML: []byte(`
frontends:
  web: { bind: ["127.0.0.1:8080"], default_backend: a }
backends:
  a:
    servers:
      s1: { address: "127.0.0.1:9001" }
  b:
    pool_max_conn: 8
    servers:
      s1: { address: "127.0.0.1:9001" }
      s2: { address: "127.0.0.1:9002", pool_max_conn: 0 }
      s3: { address: "127.0.0.1:9003", pool_max_conn: 100 }
`)})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Backend("a"), c.Backend("b")
	if a.PoolMaxConn != DefaultPoolMaxConn || a.Servers[0].PoolMaxConn != DefaultPoolMaxConn {
		t.Errorf("defaults: backend %d, server %d; want %d", a.PoolMaxConn, a.Servers[0].PoolMaxConn, DefaultPoolMaxConn)
	}
	want := []int{8, 0, 100}
	for i, s := range b.Servers {
		if s.PoolMaxConn != want[i] {
			t.Errorf("b.%s: pool_max_conn %d, want %d", s.Name, s.PoolMaxConn, want[i])
		}
	}

	lines := errorLines(t, Sources{YAML: []byte(`
frontends:
  web: { bind: ["127.0.0.1:8080"], default_backend: a }
backends:
  a:
    pool_max_conn: -1
    servers:
      s1: { address: "127.0.0.1:9001", pool_max_conn: many }
`)})
	got := strings.Join(lines, "\n")
	for _, path := range []string{"backends.a.pool_max_conn:", "backends.a.servers.s1.pool_max_conn:"} {
		if !strings.Contains(got, path) {
			t.Errorf("errors %q: none at %s", got, path)
		}
	}
}
