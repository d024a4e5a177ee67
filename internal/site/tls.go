package site

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/osgs/osgs/internal/envfile"
)

// RenewBefore is how long before expiry a certificate counts as due.
const RenewBefore = 30 * 24 * time.Hour

// SelfSignedValidity is the lifetime of certificates made by SelfSigned.
const SelfSignedValidity = 365 * 24 * time.Hour

// SelfSigned makes a self-signed ECDSA P-256 certificate for domain, valid
// from now for a year, with SANs for the domain, localhost, 127.0.0.1, ::1
// and "nginx" (the front door's name on each web service's network).
func SelfSigned(domain string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	names := []string{domain, "localhost", "nginx"}
	if domain == "localhost" {
		names = names[1:]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: domain, Organization: []string{"osgs self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can pin it as its own root
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(domain); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	return issue(tmpl, tmpl, key, key)
}

// Cert is the site's certificate as stored under config/tls.
type Cert struct {
	Leaf    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// SelfSigned reports whether the certificate signed itself.
func (c *Cert) SelfSigned() bool {
	return c.Leaf.CheckSignatureFrom(c.Leaf) == nil
}

// Due reports whether the certificate expires within RenewBefore of now.
func (c *Cert) Due(now time.Time) bool { return now.Add(RenewBefore).After(c.Leaf.NotAfter) }

// LoadCert reads the site's certificate and key; os.ErrNotExist when none is stored.
func LoadCert(root string) (*Cert, error) {
	certPEM, err := os.ReadFile(CertPath(root))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(KeyPath(root))
	if err != nil {
		return nil, err
	}
	leaf, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CertPath(root), err)
	}
	return &Cert{Leaf: leaf, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCert returns the first certificate of a PEM chain.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	return x509.ParseCertificate(block.Bytes)
}

// StoreCert writes a certificate chain and key atomically, mode 0600.
func StoreCert(root string, certPEM, keyPEM []byte) error {
	if _, err := ParseCert(certPEM); err != nil {
		return fmt.Errorf("refusing to store certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(CertPath(root)), 0o700); err != nil {
		return err
	}
	if err := envfile.WriteFileAtomic(KeyPath(root), keyPEM, 0o600); err != nil {
		return err
	}
	return envfile.WriteFileAtomic(CertPath(root), certPEM, 0o600)
}

// EnsureCert returns the stored certificate, making a self-signed one for
// domain first when none is stored. made reports that it did.
func EnsureCert(root, domain string, now time.Time) (c *Cert, made bool, err error) {
	c, err = LoadCert(root)
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	certPEM, keyPEM, err := SelfSigned(domain, now)
	if err != nil {
		return nil, false, err
	}
	if err := StoreCert(root, certPEM, keyPEM); err != nil {
		return nil, false, err
	}
	c, err = LoadCert(root)
	return c, true, err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
