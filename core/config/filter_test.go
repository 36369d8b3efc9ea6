package config

import (
	"slices"
	"testing"
)

const filtersYAML = `
frontends:
  web:
    bind: ":8080"
    default_backend: app
    filters:
      - { plugin: waf, config: { mode: block, rules: [1, 2] }, max_body: 64k, backends: [auth] }
      - auth
backends:
  app:
    servers: { s1: { address: "10.0.0.1:80" } }
    filters: [{ plugin: waf, config: "raw text" }]
  auth: { servers: { s1: { address: "10.0.0.2:80" } } }
plugins:
  waf: { file: waf.wasm, vm_config: { shared: true } }
  auth: { file: auth.wasm, vm_config: "plain" }
`

func TestLoad_Filters(t *testing.T) {
	c := mustLoad(t, Sources{YAML: []byte(filtersYAML)})
	fe := c.Frontends[0].Filters
	if len(fe) != 2 {
		t.Fatalf("frontend filters = %+v, want 2", fe)
	}
	if fe[0].Plugin != "waf" || string(fe[0].Config) != `{"mode":"block","rules":["1","2"]}` ||
		fe[0].MaxBody != 64<<10 || !slices.Equal(fe[0].Backends, []string{"auth"}) || fe[0].Path != "frontends.web.filters[0]" {
		t.Errorf("filters[0] = %+v", fe[0])
	}
	if fe[1].Plugin != "auth" || fe[1].Config != nil || fe[1].MaxBody != DefaultFilterMaxBody || fe[1].Path != "frontends.web.filters[1]" {
		t.Errorf("filters[1] = %+v", fe[1])
	}
	be := c.Backends[0].Filters
	if len(be) != 1 || be[0].Plugin != "waf" || string(be[0].Config) != "raw text" || be[0].Path != "backends.app.filters[0]" {
		t.Errorf("backend filters = %+v", be)
	}
	if got := string(c.Plugin("waf").VMConfig); got != `{"shared":"true"}` {
		t.Errorf("waf vm_config = %q", got)
	}
	if got := string(c.Plugin("auth").VMConfig); got != "plain" {
		t.Errorf("auth vm_config = %q", got)
	}
}

func TestLoad_FilterErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{name: "unknown plugin",
			yaml: `
frontends:
  web: { bind: ":8080", default_backend: app, filters: [{ plugin: wav }] }
backends:
  app: { servers: { s1: { address: "10.0.0.1:80" } } }
plugins:
  waf: { file: waf.wasm }
`,
			want: []string{`frontends.web.filters[0].plugin: no plugin named "wav"; did you mean "waf"?`}},
		{name: "unknown backend",
			yaml: `
frontends:
  web: { bind: ":8080", default_backend: app }
backends:
  app: { servers: { s1: { address: "10.0.0.1:80" } }, filters: [{ plugin: waf, backends: [app, nowhere] }] }
plugins:
  waf: { file: waf.wasm }
`,
			want: []string{`backends.app.filters[0].backends[1]: no backend named "nowhere"; name one of: app`}},
		{name: "plugin missing and bad max_body",
			yaml: `
frontends:
  web: { bind: ":8080", default_backend: app, filters: [{ max_body: lots }] }
backends:
  app: { servers: { s1: { address: "10.0.0.1:80" } } }
`,
			want: []string{
				`frontends.web.filters[0].plugin: required; name an entry of plugins, e.g. plugin: waf`,
				`frontends.web.filters[0].max_body: invalid size "lots"; write a whole number with an optional suffix k, m or g (powers of 1024), e.g. 16k or 32MiB`,
			}},
		{name: "tcp mode",
			yaml: `
frontends:
  web: { bind: ":8080", mode: tcp, default_backend: app, filters: [waf] }
backends:
  app: { mode: tcp, servers: { s1: { address: "10.0.0.1:80" } } }
plugins:
  waf: { file: waf.wasm }
`,
			want: []string{`frontends.web.filters: filters run on HTTP streams only; remove filters, or set mode: http`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{YAML: []byte(tt.yaml)})
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("errors:\n%v\nwant among them: %s", got, w)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("errors: %d, want %d:\n%v", len(got), len(tt.want), got)
			}
		})
	}
}
