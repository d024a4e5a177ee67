package site

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEnsureDatabaseTLS: the authority is made once and kept; the server
// certificate carries the names, verifies against the authority by each
// name, and is made anew when due or when a name is added; the files are
// mode 0600.
func TestEnsureDatabaseTLS(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	names := []string{"postgis", "localhost", "127.0.0.1"}
	first, err := EnsureDatabaseTLS(root, names, now)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(d *DatabaseTLS, name string) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(d.CA)
		leaf, err := ParseCert(d.Cert)
		if err != nil {
			return err
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	for _, n := range names {
		if err := verify(first, n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if verify(first, "evil.example") == nil {
		t.Error("verifies for a name it does not carry")
	}
	for _, f := range databaseFiles(root) {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", filepath.Base(f), st.Mode(), err)
		}
	}
	same, _ := EnsureDatabaseTLS(root, names, now.Add(24*time.Hour))
	if string(same.Cert) != string(first.Cert) || string(same.CA) != string(first.CA) {
		t.Error("an unchanged certificate was made anew")
	}
	more, _ := EnsureDatabaseTLS(root, append(names, "maps.example.org"), now)
	if string(more.Cert) == string(first.Cert) || string(more.CA) != string(first.CA) || verify(more, "maps.example.org") != nil {
		t.Error("a new name did not give a new certificate from the same authority")
	}
	due, _ := EnsureDatabaseTLS(root, names, now.Add(DatabaseCertValidity-RenewBefore+time.Hour))
	if string(due.Cert) == string(more.Cert) || string(due.CA) != string(first.CA) {
		t.Error("a due certificate was not renewed by the same authority")
	}
	if err := os.WriteFile(databaseFiles(root)[1], []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureDatabaseTLS(root, names, now); err == nil {
		t.Error("a corrupt authority key was accepted")
	}
}
