package listen

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/session"
	"github.com/strata-proxy/strata/core/transport"
)

// FrontendTLS builds the server-side TLS configuration of a frontend.
// Session tickets are on, with keys that crypto/tls rotates (a new one
// every day, each accepted for a week).
func FrontendTLS(cfg *config.Config, fc *config.Frontend) (*tls.Config, error) {
	t := fc.TLS
	certs, err := loadCertSet(cfg, t.Certificates)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:                  t.MinVersion,
		GetCertificate:              certs.get,
		DynamicRecordSizingDisabled: true,
	}
	c.NextProtos = slices.Clone(t.ALPN) // in http mode, config allows only h2 and http/1.1
	switch t.ClientAuth.Mode {
	case "optional":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if c.ClientAuth != tls.NoClientCert {
		pool, err := transport.LoadCertPool(cfg.Resolve(t.ClientAuth.CA))
		if err != nil {
			return nil, fmt.Errorf("client_auth.ca: %w", err)
		}
		c.ClientCAs = pool
	}
	return c, nil
}

// certSet chooses a frontend's certificate by the client's server name:
// an exact name first, then a wildcard one, then the first certificate.
type certSet struct {
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // "example.com" for *.example.com
	first *tls.Certificate
}

func loadCertSet(cfg *config.Config, list []config.CertKey) (*certSet, error) {
	s := &certSet{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for i, ck := range list {
		c, err := transport.LoadCertificate(cfg.Resolve(ck.Cert), cfg.Resolve(ck.Key))
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		cert := &c
		if s.first == nil {
			s.first = cert
		}
		names := c.Leaf.DNSNames
		if len(names) == 0 && c.Leaf.Subject.CommonName != "" {
			names = []string{c.Leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			m, key := s.exact, n
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				m, key = s.wild, rest
			}
			if _, dup := m[key]; !dup { // the first certificate listed wins
				m[key] = cert
			}
		}
	}
	return s, nil
}

// get is tls.Config.GetCertificate.
func (s *certSet) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c := s.exact[name]; c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := s.wild[name[i+1:]]; c != nil {
				return c, nil
			}
		}
	}
	return s.first, nil
}

// ServerTLS builds the client-side TLS configuration of connections to a
// server. Sessions are resumed from a per-server cache.
func ServerTLS(cfg *config.Config, sc *config.Server) (*tls.Config, error) {
	t := sc.TLS
	c := &tls.Config{
		ServerName:                  t.SNI,
		InsecureSkipVerify:          t.Verify == "none",
		ClientSessionCache:          tls.NewLRUClientSessionCache(64),
		DynamicRecordSizingDisabled: true,
		MinVersion:                  tls.VersionTLS12,
	}
	if c.ServerName == "" {
		// The address host: a name is sent as SNI and verified; an IP
		// address is verified against the certificate's IP addresses.
		if host, _, err := net.SplitHostPort(sc.Address); err == nil {
			c.ServerName = host
		}
	}
	if t.CA != "" {
		pool, err := transport.LoadCertPool(cfg.Resolve(t.CA))
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := transport.LoadCertificate(cfg.Resolve(t.Cert), cfg.Resolve(t.Key))
		if err != nil {
			return nil, fmt.Errorf("cert: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// RecordTLS fills t from a completed handshake.
func RecordTLS(t *session.TLS, c *tls.Conn) {
	cs := c.ConnectionState()
	t.Version = cs.Version
	t.CipherSuite = cs.CipherSuite
	t.SNI = cs.ServerName
	t.ALPN = cs.NegotiatedProtocol
	t.Resumed = cs.DidResume
	if len(cs.PeerCertificates) > 0 {
		t.ClientCert = true
		t.ClientDN = OnelineDN(cs.PeerCertificates[0].Subject)
	}
}

// dnShortNames are OpenSSL's short names of distinguished name attributes.
var dnShortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.17":                   "postalCode",
	"2.5.4.42":                   "GN",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// OnelineDN writes a name in OpenSSL's one-line form, attributes in the
// certificate's order: "/C=FR/O=Example/CN=client" (HAProxy's ssl_c_s_dn).
func OnelineDN(n pkix.Name) string {
	var b strings.Builder
	for _, atv := range n.Names {
		b.WriteByte('/')
		b.WriteString(oidName(atv.Type))
		b.WriteByte('=')
		fmt.Fprint(&b, atv.Value)
	}
	return b.String()
}

func oidName(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if n, ok := dnShortNames[s]; ok {
		return n
	}
	return s
}
