package config

import (
	"crypto/tls"
	"path/filepath"
	"strings"

	"github.com/strata-proxy/strata/core/transport"
)

// FrontendTLS is `frontends.NAME.tls`: TLS on every bind of the frontend.
type FrontendTLS struct {
	Path string // "frontends.NAME.tls"
	// Certificates are the certificates served (`certificates`), at least
	// one. The client's server name (SNI) chooses: a certificate with that
	// exact name, else one with a matching wildcard name (*.example.com),
	// else the first. Each is written { cert: FILE, key: FILE }, or as one
	// FILE holding both; PEM, the chain leaf first, relative to the
	// configuration's directory.
	Certificates []CertKey
	// ALPN lists the application protocols offered by ALPN, by preference
	// (`alpn`); default http/1.1 in http mode, none in tcp mode. In http
	// mode only h2 and http/1.1 are accepted; a client that chooses h2
	// speaks HTTP/2 (tuned by the frontend's h2 settings). In tcp mode the
	// list is advertised as written, for the servers behind.
	ALPN []string
	// MinVersion is the lowest protocol version accepted, as a crypto/tls
	// constant (`min_version`: "1.0", "1.1", "1.2" or "1.3"); default 1.2.
	MinVersion uint16
	// ClientAuth is `client_auth`: whether clients are asked for a
	// certificate.
	ClientAuth ClientAuth
}

// CertKey is a certificate chain file and its private key file (the same
// file when one holds both).
type CertKey struct {
	Cert string
	Key  string
}

// ClientAuth is `frontends.NAME.tls.client_auth`.
type ClientAuth struct {
	// Mode is "none" (default: no certificate is asked for), "optional"
	// (asked for; one that is given must verify) or "required" (one must
	// be given and verify). A certificate that fails verification ends
	// the handshake.
	Mode string
	// CA is the PEM bundle of the authorities client certificates must
	// chain to; required unless mode is none.
	CA string
}

// tlsVersions maps min_version values to crypto/tls constants.
var tlsVersions = map[string]uint16{
	"1.0": tls.VersionTLS10,
	"1.1": tls.VersionTLS11,
	"1.2": tls.VersionTLS12,
	"1.3": tls.VersionTLS13,
}

// httpALPN are the protocols an http-mode frontend may offer.
var httpALPN = []string{"h2", "http/1.1"}

const certFix = "give { cert: FILE, key: FILE } with a PEM certificate chain (leaf first) and its private key, or one FILE holding both"

func (d *decoder) frontendTLS(o *object, mode Mode) *FrontendTLS {
	v, p := o.get("tls")
	var m map[string]any
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		m = x
	default:
		d.errorf(p, "write { certificates: [{ cert: FILE, key: FILE }] }", "expected a mapping, got %s", describe(v))
		return nil
	}
	c := d.object(p, m)
	t := &FrontendTLS{Path: p}
	cv, cp := c.get("certificates")
	var certPaths []string
	t.Certificates, certPaths = d.certificates(cp, cv)

	av, ap := c.get("alpn")
	_, alpnList := av.([]any)
	for i, proto := range d.list(ap, av) {
		pp := ap
		if alpnList {
			pp = indexPath(ap, i)
		}
		if !validALPN(proto) {
			d.errorf(pp, "write a protocol name of 1 to 255 visible characters, e.g. http/1.1", "invalid protocol %s", quote(proto))
			continue
		}
		if mode == ModeHTTP && !contains(httpALPN, proto) {
			d.errorf(pp, didYouMean(proto, httpALPN)+" (an http frontend speaks HTTP)", "protocol %s is not served in http mode", quote(proto))
			continue
		}
		t.ALPN = append(t.ALPN, proto)
	}
	if av == nil && mode == ModeHTTP {
		t.ALPN = []string{DefaultTLSALPN}
	}

	t.MinVersion = tlsVersions[DefaultTLSMinVersion]
	if s, vp, ok := c.scalar("min_version"); ok {
		// HAProxy writes TLSv1.2; strata 1.2. Both are read.
		ver := strings.TrimSpace(strings.ToLower(s))
		ver = strings.TrimPrefix(strings.TrimPrefix(ver, "tls"), "v")
		if n, ok := tlsVersions[ver]; ok {
			t.MinVersion = n
		} else {
			d.errorf(vp, "use one of: 1.0, 1.1, 1.2, 1.3", "invalid TLS version %s", quote(s))
		}
	}

	ca := c.sub("client_auth")
	t.ClientAuth.Mode = ca.oneOf("mode", DefaultClientAuthMode, "none", "optional", "required")
	t.ClientAuth.CA = ca.str("ca", "")
	ca.done()
	c.done()

	if t.ClientAuth.Mode != "none" && t.ClientAuth.CA == "" && !ca.bad {
		d.errorf(joinPath(ca.path, "ca"), "give the PEM bundle of the authorities client certificates must chain to", "required when mode is %s", t.ClientAuth.Mode)
	}
	if t.ClientAuth.Mode == "none" && t.ClientAuth.CA != "" {
		d.errorf(joinPath(ca.path, "mode"), "set mode: optional or required, or remove ca (mode none asks clients for no certificate)", "required with ca")
	}

	// The files are read now, so that `strata check` finds a missing or
	// mismatched certificate before a reload does.
	for i, ck := range t.Certificates {
		if _, err := transport.LoadCertificate(d.resolve(ck.Cert), d.resolve(ck.Key)); err != nil {
			d.errorf(certPaths[i], certFix, "%s", d.relative(err.Error()))
		}
	}
	if t.ClientAuth.CA != "" {
		if _, err := transport.LoadCertPool(d.resolve(t.ClientAuth.CA)); err != nil {
			d.errorf(joinPath(ca.path, "ca"), "give a PEM file of CA certificates", "%s", d.relative(err.Error()))
		}
	}
	return t
}

// certificates decodes `certificates`: a list of { cert, key } mappings or
// file names. It returns the path of each certificate beside it.
func (d *decoder) certificates(path string, v any) (out []CertKey, paths []string) {
	var items []any
	switch x := v.(type) {
	case nil:
		d.errorf(path, "list at least one, e.g. certificates: [{ cert: certs/site.pem, key: certs/site.key }]", "required")
		return nil, nil
	case []any:
		items = x
	case map[string]any:
		items = []any{x}
	default:
		for _, s := range d.list(path, v) {
			items = append(items, s)
		}
	}
	_, isList := v.([]any)
	for i, e := range items {
		ep := path
		if isList || len(items) > 1 {
			ep = indexPath(path, i)
		}
		switch x := e.(type) {
		case map[string]any:
			eo := d.object(ep, x)
			ck := CertKey{Cert: eo.str("cert", ""), Key: eo.str("key", "")}
			eo.done()
			if ck.Cert == "" {
				d.errorf(joinPath(ep, "cert"), "give the PEM certificate chain file", "required")
			}
			if ck.Key == "" {
				d.errorf(joinPath(ep, "key"), "give the PEM private key file", "required")
			}
			if ck.Cert != "" && ck.Key != "" {
				out = append(out, ck)
				paths = append(paths, ep)
			}
		default:
			s, ok := d.scalar(ep, e)
			if !ok {
				continue
			}
			if s = strings.TrimSpace(s); s == "" {
				d.errorf(ep, certFix, "empty value")
				continue
			}
			out = append(out, CertKey{Cert: s, Key: s})
			paths = append(paths, ep)
		}
	}
	if len(items) == 0 {
		d.errorf(path, "list at least one, e.g. certificates: [{ cert: certs/site.pem, key: certs/site.key }]", "required")
	}
	return out, paths
}

// checkServerTLSFiles reads the files a server's tls names.
func (d *decoder) checkServerTLSFiles(path string, t *ServerTLS) {
	if t.CA != "" {
		if _, err := transport.LoadCertPool(d.resolve(t.CA)); err != nil {
			d.errorf(joinPath(path, "ca"), "give a PEM file of CA certificates", "%s", d.relative(err.Error()))
		}
	}
	if t.Cert != "" && t.Key != "" {
		if _, err := transport.LoadCertificate(d.resolve(t.Cert), d.resolve(t.Key)); err != nil {
			d.errorf(joinPath(path, "cert"), certFix, "%s", d.relative(err.Error()))
		}
	}
}

// resolve joins a relative file name to the configuration's directory, as
// Config.Resolve does.
func (d *decoder) resolve(name string) string {
	if name == "" || d.dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(d.dir, name)
}

// relative shortens file names in a message back to what the
// configuration wrote.
func (d *decoder) relative(msg string) string {
	if d.dir == "" {
		return msg
	}
	return strings.ReplaceAll(msg, d.dir+string(filepath.Separator), "")
}

// validALPN reports whether s may be sent as an ALPN protocol name.
func validALPN(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ',' {
			return false
		}
	}
	return true
}
