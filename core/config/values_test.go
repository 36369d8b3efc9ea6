package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"go duration", "5s", 5 * time.Second, true},
		{"compound", "1m30s", 90 * time.Second, true},
		{"milliseconds", "500ms", 500 * time.Millisecond, true},
		{"bare integer is milliseconds", "5000", 5 * time.Second, true},
		{"zero", "0", 0, true},
		{"days", "2d", 48 * time.Hour, true},
		{"spaces trimmed", " 1h ", time.Hour, true},
		{"negative", "-1s", 0, false},
		{"words", "5 seconds", 0, false},
		{"empty", "", 0, false},
		{"overflowing milliseconds", "99999999999999999", 0, false},
		{"float without unit", "1.5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseDuration(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"plain", "16384", 16384, true},
		{"k", "16k", 16 << 10, true},
		{"K", "200K", 200 << 10, true},
		{"MiB", "32MiB", 32 << 20, true},
		{"MB is binary too", "32MB", 32 << 20, true},
		{"g", "1g", 1 << 30, true},
		{"space before suffix", "4 KiB", 4 << 10, true},
		{"unknown suffix", "1x", 0, false},
		{"negative", "-1", 0, false},
		{"no digits", "k", 0, false},
		{"overflow", "99999999999g", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseSize(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseSize(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"bind", "mode", "timeouts", "http_request", "default_backend", "use_backend"}
	tests := []struct {
		name, word, want string
	}{
		{"missing letter", "timeout", "timeouts"},
		{"HAProxy dash", "http-request", "http_request"},
		{"no separator", "defaultbackend", "default_backend"},
		{"case", "BIND", "bind"},
		{"transposition", "mdoe", "mode"},
		{"too far", "servers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.word, keys); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestLoad_YAMLFeatures(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config, err error)
	}{
		{"merge keys and x- anchors", `
x-server: &server { weight: 10, maxconn: 5 }
frontends: { web: { bind: ":80", default_backend: app } }
backends:
  app:
    servers:
      s1: { <<: *server, address: "10.0.0.1:80", weight: 20 }
      s2: { <<: *server, address: "10.0.0.2:80" }
`, func(t *testing.T, c *Config, err error) {
			if err != nil {
				t.Fatal(err)
			}
			s := c.Backends[0].Servers
			if s[0].Weight != 20 || s[0].MaxConn != 5 || s[1].Weight != 10 || s[1].Name != "s2" {
				t.Errorf("servers = %+v %+v", s[0], s[1])
			}
		}},
		{"alias of a list", `
x-binds: &binds [":80", ":81"]
frontends: { web: { bind: *binds, default_backend: app } }
backends: { app: {} }
`, func(t *testing.T, c *Config, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Frontends[0].Bind) != 2 {
				t.Errorf("bind = %v", c.Frontends[0].Bind)
			}
		}},
		{"alias loop", "a: &a [*a]\n", func(t *testing.T, c *Config, err error) {
			if err == nil || !strings.Contains(err.Error(), "alias refers to a value that contains it") {
				t.Errorf("err = %v", err)
			}
		}},
		{"merge loop", "a: &a { <<: *a }\n", func(t *testing.T, c *Config, err error) {
			if err == nil || !strings.Contains(err.Error(), "alias refers to a value that contains it") {
				t.Errorf("err = %v", err)
			}
		}},
		{"alias bomb", billionLaughs(12), func(t *testing.T, c *Config, err error) {
			if err == nil || !strings.Contains(err.Error(), "values once aliases are expanded") {
				t.Errorf("err = %v", err)
			}
		}},
		{"empty document", "", func(t *testing.T, c *Config, err error) {
			if err == nil || err.Error() != `frontends: at least one frontend is required; add one, e.g. frontends: { web: { bind: [":8080"], default_backend: app } }` {
				t.Errorf("err = %v", err)
			}
		}},
		{"scalars keep their text", `
global: { admin: { listen: "unix:/run/s.sock", token: 0x1F } }
frontends: { web: { bind: ":80", default_backend: "1.10" } }
backends: { "1.10": {} }
`, func(t *testing.T, c *Config, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Global.Admin.Token != "0x1F" || c.Frontends[0].DefaultBackend != "1.10" {
				t.Errorf("token %q, default_backend %q", c.Global.Admin.Token, c.Frontends[0].DefaultBackend)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(Sources{YAML: []byte(tt.yaml)})
			if (c == nil) == (err == nil) {
				t.Fatalf("Load returned config %v and error %v", c != nil, err)
			}
			tt.check(t, c, err)
		})
	}
}

// billionLaughs returns a document whose aliases expand to 10^n values.
func billionLaughs(n int) string {
	var b strings.Builder
	b.WriteString("x-l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= n; i++ {
		b.WriteString("x-l" + strconv.Itoa(i) + ": &l" + strconv.Itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}
