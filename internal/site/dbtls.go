package site

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/osgs/osgs/internal/envfile"
)

// The database's TLS files under config/: a certificate authority of the
// site's own and the PostGIS server certificate it signs. Services that
// log in to PostGIS trust the authority and check the server's name
// (sslmode=verify-full), so a container that takes over the name
// "postgis" on a network cannot collect their passwords.
const (
	dbCAFile   = "postgis-tls/ca.crt"
	dbCAKey    = "postgis-tls/ca.key"
	dbCertFile = "postgis-tls/server.crt"
	dbKeyFile  = "postgis-tls/server.key"
)

// DatabaseCAValidity and DatabaseCertValidity are the lifetimes of the
// authority and of the server certificates it signs; a server certificate
// is made anew RenewBefore its end, and whenever the names it must carry
// change.
const (
	DatabaseCAValidity   = 20 * 365 * 24 * time.Hour
	DatabaseCertValidity = 397 * 24 * time.Hour
)

// DatabaseCAPath is the authority clients trust: psql "sslmode=verify-full
// sslrootcert=config/postgis-tls/ca.crt host=localhost ...".
func DatabaseCAPath(root string) string { return filepath.Join(root, ConfigDir, dbCAFile) }

func databaseFiles(root string) []string {
	var out []string
	for _, f := range []string{dbCAFile, dbCAKey, dbCertFile, dbKeyFile} {
		out = append(out, filepath.Join(root, ConfigDir, f))
	}
	return out
}

// DatabaseTLS is PEM: the authority's certificate, and the server's
// certificate and key.
type DatabaseTLS struct {
	CA, Cert, Key []byte
}

// EnsureDatabaseTLS returns the database's TLS files, making the authority
// on first use and the server certificate when it is missing, due, not
// signed by the authority or without one of names (DNS names or IP
// addresses).
func EnsureDatabaseTLS(root string, names []string, now time.Time) (*DatabaseTLS, error) {
	ca, caKey, err := ensureDatabaseCA(root, now)
	if err != nil {
		return nil, err
	}
	p := databaseFiles(root)
	certPEM, errC := os.ReadFile(p[2])
	keyPEM, errK := os.ReadFile(p[3])
	switch {
	case errC == nil && errK == nil:
		if leaf, err := ParseCert(certPEM); err == nil && serverCertFits(leaf, ca, names, now) {
			return &DatabaseTLS{CA: pemCert(ca.Raw), Cert: certPEM, Key: keyPEM}, nil
		}
	case errC != nil && !errors.Is(errC, os.ErrNotExist):
		return nil, errC
	case errK != nil && !errors.Is(errK, os.ErrNotExist):
		return nil, errK
	}
	certPEM, keyPEM, err = signServerCert(ca, caKey, names, now)
	if err != nil {
		return nil, err
	}
	if err := envfile.WriteFileAtomic(p[3], keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := envfile.WriteFileAtomic(p[2], certPEM, 0o600); err != nil {
		return nil, err
	}
	return &DatabaseTLS{CA: pemCert(ca.Raw), Cert: certPEM, Key: keyPEM}, nil
}

// serverCertFits: signed by ca, not due, and carrying every name.
func serverCertFits(leaf, ca *x509.Certificate, names []string, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil || now.Add(RenewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	return true
}

func ensureDatabaseCA(root string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	p := databaseFiles(root)
	certPEM, err := os.ReadFile(p[0])
	if err == nil {
		keyPEM, err := os.ReadFile(p[1])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p[1], err)
		}
		return parsePair(certPEM, keyPEM, p[0])
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: "osgs PostGIS authority", Organization: []string{"osgs"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(DatabaseCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cpem, kpem, err := issue(tmpl, tmpl, key, key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p[0]), 0o700); err != nil {
		return nil, nil, err
	}
	if err := envfile.WriteFileAtomic(p[1], kpem, 0o600); err != nil {
		return nil, nil, err
	}
	if err := envfile.WriteFileAtomic(p[0], cpem, 0o600); err != nil {
		return nil, nil, err
	}
	ca, err := ParseCert(cpem)
	return ca, key, err
}

func signServerCert(ca *x509.Certificate, caKey crypto.Signer, names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"osgs"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(DatabaseCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return issue(tmpl, ca, key, caKey)
}

func parsePair(certPEM, keyPEM []byte, what string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: its key holds no PEM block", what)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: its key: %w", what, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%s: the key does not match the certificate", what)
	}
	return cert, key, nil
}

// issue signs tmpl for key with parent's signer (tmpl and key themselves
// for a self-signed certificate), and returns the certificate and key as PEM.
func issue(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (certPEM, keyPEM []byte, err error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return pemCert(der), keyPEM, nil
}

// encodeKey is key as an "EC PRIVATE KEY" PEM block.
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
