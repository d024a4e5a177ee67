package site

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSelfSigned(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	root := t.TempDir()
	c, made, err := EnsureCert(root, "maps.example.org", now)
	if err != nil || !made {
		t.Fatalf("EnsureCert: %v made=%v", err, made)
	}
	for _, h := range []string{"maps.example.org", "localhost", "127.0.0.1", "nginx"} {
		if err := c.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if got := c.Leaf.NotAfter.Sub(now); got != SelfSignedValidity {
		t.Errorf("valid for %v", got)
	}
	if !c.SelfSigned() {
		t.Error("not self-signed")
	}
	for _, p := range []string{CertPath(root), KeyPath(root)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, err, fi.Mode())
		}
	}
	again, made, err := EnsureCert(root, "other.example.org", now)
	if err != nil || made || again.Leaf.SerialNumber.Cmp(c.Leaf.SerialNumber) != 0 {
		t.Fatalf("EnsureCert replaced a stored certificate: %v %v", err, made)
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := SelfSigned("localhost", now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ParseCert(certPEM)
	c := &Cert{Leaf: leaf, CertPEM: certPEM, KeyPEM: keyPEM}
	for _, tc := range []struct {
		at  time.Time
		due bool
	}{
		{now, false},
		{leaf.NotAfter.Add(-31 * 24 * time.Hour), false},
		{leaf.NotAfter.Add(-29 * 24 * time.Hour), true},
		{leaf.NotAfter.Add(time.Hour), true},
	} {
		if got := c.Due(tc.at); got != tc.due {
			t.Errorf("Due(%v) = %v", tc.at, got)
		}
	}
}

func TestStoreCertRefusesGarbage(t *testing.T) {
	root := t.TempDir()
	if err := StoreCert(root, []byte("not a certificate"), []byte("k")); err == nil {
		t.Fatal("stored garbage")
	}
	if _, err := os.Stat(KeyPath(root)); err == nil {
		t.Fatal("a key was written for a refused certificate")
	}
}

func TestHtpasswd(t *testing.T) {
	root := t.TempDir()
	h, err := LoadHtpasswd(root)
	if err != nil || len(h.Users()) != 0 {
		t.Fatalf("empty htpasswd: %v %v", err, h.Users())
	}
	if err := h.Set("ana", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if err := h.Set("bo", "another secret"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a:b", "with space", strings.Repeat("x", 65)} {
		if err := h.Set(bad, "long enough"); err == nil {
			t.Errorf("user %q accepted", bad)
		}
	}
	if err := h.Set("cy", "short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if err := h.Store(root); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(HtpasswdPath(root))
	if strings.Contains(string(data), "correct horse") || !strings.HasPrefix(string(data), "ana:$2y$12$") {
		t.Fatalf("file: %s", data)
	}
	if fi, _ := os.Stat(HtpasswdPath(root)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	h2, err := LoadHtpasswd(root)
	if err != nil {
		t.Fatal(err)
	}
	if !h2.Check("ana", "correct horse") || h2.Check("ana", "another secret") || h2.Check("nobody", "x") {
		t.Fatal("Check disagrees with Set")
	}
	if !h2.Delete("ana") || h2.Delete("ana") {
		t.Fatal("Delete")
	}
	if got := h2.Users(); len(got) != 1 || got[0] != "bo" {
		t.Fatalf("users %v", got)
	}
	if _, err := ParseHtpasswd([]byte("ana:$2y$x\nbroken line\n")); err == nil || strings.Contains(err.Error(), "$2y") {
		t.Fatalf("malformed htpasswd: %v", err)
	}
}

func TestReadPassword(t *testing.T) {
	for in, want := range map[string]string{"pw one\n": "pw one", "pw two\r\nrest": "pw two", "last": "last"} {
		if got, err := ReadPassword(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ReadPassword(strings.NewReader("\n")); err == nil {
		t.Error("empty password accepted")
	}
}
