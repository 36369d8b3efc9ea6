package testsupport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Certificates for TLS tests are made here, ECDSA P-256, into a test's
// temporary directory: a CA per test, and the server and client
// certificates it issues.

// CA is a certificate authority made for one test.
type CA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	File string // its certificate, PEM
	Pool *x509.CertPool
}

var serial atomic.Int64

// NewCA makes a CA called name whose certificate is written to
// dir/name.pem.
func NewCA(tb testing.TB, dir, name string) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"strata tests"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{dir: dir, cert: cert, key: key, File: filepath.Join(dir, name+".pem"), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	WritePEM(tb, ca.File, "CERTIFICATE", der)
	return ca
}

// NewCAs makes a CA (as NewCA) for each name, in one temporary directory
// of the test.
func NewCAs(tb testing.TB, names ...string) []*CA {
	tb.Helper()
	dir := tb.TempDir()
	cas := make([]*CA, len(names))
	for i, n := range names {
		cas[i] = NewCA(tb, dir, n)
	}
	return cas
}

// Leaf is an issued certificate: its files and its crypto/tls form.
type Leaf struct {
	Cert, Key string
	TLS       tls.Certificate
}

// Issue makes a certificate for subject, written to dir/file.pem and
// dir/file.key: a server certificate for names (DNS names or IP
// addresses), or a client certificate when client is set.
func (ca *CA) Issue(tb testing.TB, file string, subject pkix.Name, client bool, names ...string) Leaf {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	l := Leaf{Cert: filepath.Join(ca.dir, file+".pem"), Key: filepath.Join(ca.dir, file+".key")}
	WritePEM(tb, l.Cert, "CERTIFICATE", der)
	WritePEM(tb, l.Key, "EC PRIVATE KEY", kb)
	l.TLS, err = tls.LoadX509KeyPair(l.Cert, l.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// WritePEM writes der as one PEM block of type typ.
func WritePEM(tb testing.TB, file, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// CN is a subject with only a common name.
func CN(name string) pkix.Name { return pkix.Name{CommonName: name} }

// NewSite makes a CA in a temporary directory of the test and a server
// certificate it issues for names (the first is the common name): what a
// test of a TLS frontend needs.
func NewSite(tb testing.TB, names ...string) (*CA, Leaf) {
	tb.Helper()
	ca := NewCA(tb, tb.TempDir(), "ca")
	return ca, ca.Issue(tb, "site", CN(names[0]), false, names...)
}
