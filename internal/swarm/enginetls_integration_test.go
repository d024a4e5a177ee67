package swarm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/testenv"
)

// TestEngineTLS: an engine reached over tcp:// carries join tokens,
// secrets, dumps and the site's key. Without client certificates the
// address is refused before anything is sent; with them the engine's
// certificate is verified (a dockerd with --tlsverify in a test node's
// namespace), and another CA, or a key others can read, is refused.
func TestEngineTLS(t *testing.T) {
	s := testenv.StartSwarm(t, 1)
	s.HostLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := "tcp://" + s.Nodes[0].Addr + ":" + testenv.EngineTLSPort

	_, err := Dial(ctx, addr, "")
	var plain *PlainTCPError
	if !errors.As(err, &plain) || !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "ssh://") {
		t.Fatalf("tcp:// without certificates: %v", err)
	}
	c, err := Dial(ctx, addr, s.CertPath)
	if err != nil {
		t.Fatalf("tcp:// with TLS: %v", err)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	c.Close()
	if err != nil || info.Info.Name != s.Nodes[0].Name {
		t.Fatalf("info over TLS: %+v %v", info.Info.Name, err)
	}

	// Certificates of another CA: the engine's certificate is not trusted.
	other := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		b, _ := os.ReadFile(filepath.Join(s.CertPath, f))
		os.WriteFile(filepath.Join(other, f), b, 0o600)
	}
	os.WriteFile(filepath.Join(other, "ca.pem"), otherCA(t), 0o644)
	if c, err := Dial(ctx, addr, other); err == nil {
		c.Close()
		t.Fatal("an engine whose certificate another CA signed was trusted")
	}
	// A private key others can read is refused.
	loose := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		b, _ := os.ReadFile(filepath.Join(s.CertPath, f))
		os.WriteFile(filepath.Join(loose, f), b, 0o644)
	}
	if _, err := Dial(ctx, addr, loose); !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("a readable key: %v", err)
	}
}

// otherCA is a self-signed CA certificate of no test engine.
func otherCA(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
