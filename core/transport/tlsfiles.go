package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MaxTLSFileSize bounds the size of a certificate, key or CA file.
const MaxTLSFileSize = 1 << 20

// readTLSFile reads a regular file of at most MaxTLSFileSize bytes (never a
// device or a pipe that would not end).
func readTLSFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: file not found", name)
		}
		return nil, fmt.Errorf("%s: %w", name, pathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if fi.Size() > MaxTLSFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxTLSFileSize)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, pathErr(err))
	}
	return b, nil
}

// pathErr drops the operation and file name of a *fs.PathError, which the
// caller names itself.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadCertificate reads a PEM certificate chain (leaf first) and its PEM
// private key; certFile and keyFile may name the same file holding both.
// The leaf is parsed (Certificate.Leaf).
func LoadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	cb, err := readTLSFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb := cb
	if keyFile != certFile {
		if kb, err = readTLSFile(keyFile); err != nil {
			return tls.Certificate{}, err
		}
	}
	c, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("%s: %w", certFile, err)
		}
	}
	return c, nil
}

// LoadCertPool reads a PEM bundle of CA certificates. A file holding no
// certificate, or a block that does not parse, is an error.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := readTLSFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in the file", file)
	}
	return pool, nil
}
