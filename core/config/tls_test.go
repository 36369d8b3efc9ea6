package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// writeCert writes a certificate for name and its key as DIR/name.pem and
// DIR/name.key, issued by a test CA whose certificate is DIR/name-ca.pem.
func writeCert(t *testing.T, dir, name string) {
	t.Helper()
	testsupport.NewCA(t, dir, name+"-ca").Issue(t, name, testsupport.CN(name), false, name)
}

func TestLoad_TLS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	os.Mkdir(certs, 0o755)
	writeCert(t, certs, "a.test")
	writeCert(t, certs, "b.test")
	writeCert(t, certs, "ca")
	// One file holding a certificate and its key.
	cb, _ := os.ReadFile(filepath.Join(certs, "b.test.pem"))
	kb, _ := os.ReadFile(filepath.Join(certs, "b.test.key"))
	os.WriteFile(filepath.Join(certs, "both.pem"), append(cb, kb...), 0o600)
	file := filepath.Join(dir, "strata.yaml")
	os.WriteFile(file, []byte(`
frontends:
  web:
    bind: ["127.0.0.1:8443"]
    accept_proxy: true
    tls:
      certificates: [{ cert: certs/a.test.pem, key: certs/a.test.key }, certs/both.pem]
      alpn: [h2, http/1.1]
      min_version: TLSv1.3
      client_auth: { ca: certs/ca.pem, mode: optional }
    tcp_request_session: ["reject if { ssl_fc_sni -m end .blocked.test }"]
    default_backend: app
  raw:
    bind: ["127.0.0.1:8444"]
    mode: tcp
    tls: { certificates: [{ cert: certs/a.test.pem, key: certs/a.test.key }] }
    default_backend: tcp
  plain:
    bind: ["127.0.0.1:8080"]
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "127.0.0.1:8443", tls: { verify: required, ca: certs/ca.pem, sni: app.internal, cert: certs/a.test.pem, key: certs/a.test.key }, send_proxy: v2 }
  tcp:
    mode: tcp
    servers:
      s1: { address: "127.0.0.1:9000", send_proxy: v1 }
`), 0o644)
	c := mustLoad(t, Sources{Files: []string{file}})
	web := c.Frontend("web")
	want := &FrontendTLS{
		Path: "frontends.web.tls",
		Certificates: []CertKey{
			{Cert: "certs/a.test.pem", Key: "certs/a.test.key"},
			{Cert: "certs/both.pem", Key: "certs/both.pem"},
		},
		ALPN:       []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS13,
		ClientAuth: ClientAuth{Mode: "optional", CA: "certs/ca.pem"},
	}
	if !web.AcceptProxy || !reflect.DeepEqual(web.TLS, want) {
		t.Errorf("web: accept_proxy %v, tls %+v\nwant %+v", web.AcceptProxy, web.TLS, want)
	}
	raw := c.Frontend("raw").TLS
	if raw.ALPN != nil || raw.MinVersion != tls.VersionTLS12 || raw.ClientAuth.Mode != "none" {
		t.Errorf("tcp frontend defaults: %+v", raw)
	}
	if p := c.Frontend("plain"); p.TLS != nil || p.AcceptProxy {
		t.Errorf("plain frontend: %+v %v", p.TLS, p.AcceptProxy)
	}
	s := c.Backend("app").Servers[0]
	if s.SendProxy != "v2" || s.TLS == nil || s.TLS.SNI != "app.internal" || s.TLS.Verify != "required" {
		t.Errorf("server: %+v %+v", s, s.TLS)
	}
}

func TestLoad_TLSDefaultALPN(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a.test")
	cb, _ := os.ReadFile(filepath.Join(dir, "a.test.pem"))
	kb, _ := os.ReadFile(filepath.Join(dir, "a.test.key"))
	os.WriteFile(filepath.Join(dir, "a.test.pem"), append(cb, kb...), 0o600)
	c := mustLoad(t, Sources{YAML: []byte(`
frontends:
  web:
    bind: ["127.0.0.1:8443"]
    tls: { certificates: "` + filepath.Join(dir, "a.test.pem") + `,` + filepath.Join(dir, "a.test.pem") + `" }
    default_backend: app
backends:
  app: { servers: { s1: { address: "127.0.0.1:80" } } }
`)})
	tl := c.Frontend("web").TLS
	if !reflect.DeepEqual(tl.ALPN, []string{"http/1.1"}) {
		t.Errorf("ALPN %v, want the http default", tl.ALPN)
	}
	if len(tl.Certificates) != 2 {
		t.Errorf("a comma-separated string gives %d certificates", len(tl.Certificates))
	}
}

func TestLoad_TLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a.test")
	writeCert(t, dir, "b.test")
	os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("not pem\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	tests := []struct {
		name, tls, want string
	}{
		{name: "key of another certificate", tls: `{ certificates: [{ cert: a.test.pem, key: b.test.key }] }`,
			want: "frontends.web.tls.certificates[0]: a.test.pem: tls: private key does not match public key"},
		{name: "missing key file", tls: `{ certificates: [{ cert: a.test.pem, key: nope.key }] }`,
			want: "frontends.web.tls.certificates[0]: nope.key: file not found"},
		{name: "ca without certificates", tls: `{ certificates: [{ cert: a.test.pem, key: a.test.key }], client_auth: { mode: required, ca: empty.pem } }`,
			want: "frontends.web.tls.client_auth.ca: empty.pem: no PEM certificate in the file"},
		{name: "a directory", tls: `{ certificates: [sub] }`,
			want: "frontends.web.tls.certificates[0]: sub: not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, "strata.yaml")
			os.WriteFile(file, []byte(`
frontends:
  web: { bind: ["127.0.0.1:8443"], default_backend: app, tls: `+tt.tls+` }
backends:
  app: { servers: { s1: { address: "127.0.0.1:80" } } }
`), 0o644)
			_, err := Load(Sources{Files: []string{file}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
